"""Fixtures for the demo shop: a fresh shop app, served over a real socket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.demo.shop import create_shop_app
from tests.demo.server import ServedApp


@pytest.fixture
def shop_server() -> Iterator[ServedApp]:
    with ServedApp(create_shop_app()) as served:
        yield served
