"""`python -m app.schema_dump`: print the app's OpenAPI document (REST and socket types) as JSON.

The frontend's generated types come from its output, checked in as
`frontend/src/client/openapi.json`; `scripts/test` fails when it is stale.
"""

from __future__ import annotations

import json
import sys

from app.core.config import Settings
from app.main import create_app


def main() -> None:
    app = create_app(Settings(database_url=None), "postgresql://unused/never-connected")
    sys.stdout.write(json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
