"""The demo shop API: seed, real state changes, idempotency, errors, and its OpenAPI document."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from app.demo.shop import create_shop_app
from graphs.agents import DEFAULT_AGENTS_PATH
from tests.demo.server import ServedApp


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_shop_app()) as c:
        yield c


def test_seed_matches_demo_md(client: TestClient) -> None:
    orders = client.app.state.shop.orders
    assert sorted(orders) == [str(n) for n in range(1001, 1051)]
    assert orders["1042"]["status"] == "shipped"
    assert orders["1033"]["status"] == "processing"
    assert orders["1017"]["status"] == "delivered" and orders["1017"]["total"] > 100
    assert "cancelled" not in Counter(o["status"] for o in orders.values())
    assert all(o["customer_id"] in client.app.state.shop.customers for o in orders.values())


def test_each_instance_is_seeded_afresh_and_deterministically(client: TestClient) -> None:
    client.post("/orders/1042/cancel")
    other = create_shop_app().state.shop
    assert other.orders["1042"]["status"] == "shipped"
    assert other.orders == create_shop_app().state.shop.orders


def test_get_order_and_unknown_order(client: TestClient) -> None:
    assert client.get("/orders/1042").json()["status"] == "shipped"
    response = client.get("/orders/1099")
    assert response.status_code == 404 and response.json() == {"detail": "order 1099 not found"}


def test_anonymous_demo_users_see_every_order_and_shop_customers_only_their_own(client: TestClient) -> None:
    for user in ("anyone", "cust_03", "random-user-42"):  # 1042 belongs to cust_03
        assert client.get("/orders/1042", headers={"X-Customer-Id": user}).status_code == 200
    # issue 19: another customer's order is "not found", for reads and writes alike
    foreign = client.get("/orders/1042", headers={"X-Customer-Id": "cust_01"})
    assert foreign.status_code == 404 and foreign.json() == {"detail": "order 1042 not found"}
    cancel = client.post("/orders/1042/cancel", headers={"X-Customer-Id": "cust_01", "Idempotency-Key": "f1"})
    assert cancel.status_code == 404
    refund = client.post("/refunds", json={"order_id": "1042"}, headers={"X-Customer-Id": "cust_01"})
    assert refund.status_code == 404
    assert client.get("/orders/1042").json()["status"] == "shipped"


def test_cancel_changes_state_once_per_idempotency_key(client: TestClient) -> None:
    shop = client.app.state.shop
    first = client.post("/orders/1042/cancel", headers={"Idempotency-Key": "k1", "X-Customer-Id": "u9"})
    again = client.post("/orders/1042/cancel", headers={"Idempotency-Key": "k1", "X-Customer-Id": "u9"})

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert shop.orders["1042"]["status"] == "cancelled"
    assert shop.writes == [{**shop.writes[0], "operation": "cancel_order", "key": "k1", "customer_id": "u9", "target": "1042"}]
    assert client.get("/orders/1042").json()["status"] == "cancelled"

    other_key = client.post("/orders/1042/cancel", headers={"Idempotency-Key": "k2"})
    assert other_key.status_code == 409 and other_key.json()["detail"] == "order 1042 is already cancelled"
    assert len(shop.writes) == 1


def test_a_reused_key_for_another_request_is_refused(client: TestClient) -> None:
    client.post("/orders/1042/cancel", headers={"Idempotency-Key": "k"})
    response = client.post("/orders/1033/cancel", headers={"Idempotency-Key": "k"})
    assert response.status_code == 422 and "different request" in response.json()["detail"]
    assert client.app.state.shop.orders["1033"]["status"] == "processing"


def test_delivered_orders_cannot_be_cancelled(client: TestClient) -> None:
    response = client.post("/orders/1017/cancel")
    assert response.status_code == 409 and "delivered" in response.json()["detail"]


def test_shipping_address_put_and_patch(client: TestClient) -> None:
    assert client.put("/orders/1033/shipping-address", json={"address": "5 Main St"}).json()["shipping_address"] == "5 Main St"
    assert client.patch("/orders/1033/shipping-address", json={"address": "6 Main St"}).json()["shipping_address"] == "6 Main St"
    shipped = client.put("/orders/1042/shipping-address", json={"address": "5 Main St"})
    assert shipped.status_code == 409 and "can no longer be changed" in shipped.json()["detail"]
    invalid = client.put("/orders/1033/shipping-address", json={"address": ""})
    assert invalid.status_code == 422 and invalid.json()["detail"].startswith("invalid request: address")
    assert client.put("/orders/1099/shipping-address", json={"address": "5 Main St"}).status_code == 404


def test_refunds(client: TestClient) -> None:
    full = client.post("/refunds", json={"order_id": "1017"}, headers={"Idempotency-Key": "r1"})
    assert full.status_code == 201 and full.json()["amount"] == 129.9
    replay = client.post("/refunds", json={"order_id": "1017"}, headers={"Idempotency-Key": "r1"})
    assert replay.status_code == 201 and replay.json() == full.json()
    assert client.post("/refunds", json={"order_id": "1017"}).status_code == 409  # nothing left
    assert client.get("/refunds", params={"order_id": "1017"}).json()["refunds"] == [full.json()]
    assert client.post("/refunds", json={"order_id": "1005", "amount": 500}).status_code == 409
    assert client.post("/refunds", json={"order_id": "1099"}).status_code == 404
    assert client.post("/refunds", json={"order_id": "1033"}).status_code == 409  # processing: not yet


def test_help_center_search(client: TestClient) -> None:
    results = client.get("/help-center/search", params={"query": "return policy"}).json()["results"]
    assert results[0]["title"] == "Return policy" and "30 days" in results[0]["body"]
    assert client.get("/help-center/search", params={"query": "zzz"}).json()["results"] == []
    assert client.get("/help-center/search").status_code == 422


def test_customers(client: TestClient) -> None:
    customer = client.get("/customers/cust_03").json()
    assert customer["name"] == "Chloe Martin" and "1042" in customer["order_ids"]
    assert client.get("/customers/nobody").status_code == 404


def test_the_openapi_document_describes_the_app() -> None:
    document = yaml.safe_load((DEFAULT_AGENTS_PATH.parent / "demo_shop.yaml").read_text())
    served = create_shop_app().openapi()

    def operations(doc: dict) -> set[tuple[str, str, str]]:
        return {
            (method.upper(), path, op["operationId"])
            for path, item in doc["paths"].items()
            for method, op in item.items()
            if isinstance(op, dict) and "operationId" in op
        }

    assert operations(document) <= operations(served)
    assert {"get_order_status", "cancel_order", "update_shipping_address", "create_refund", "search_help_center"} <= {
        op for _, _, op in operations(document)
    }


def test_served_over_a_real_socket() -> None:
    with ServedApp(create_shop_app()) as served:
        response = httpx.post(f"{served.url}/orders/1042/cancel", headers={"Idempotency-Key": "x"})
        assert response.status_code == 200
        assert served.app.state.shop.orders["1042"]["status"] == "cancelled"
