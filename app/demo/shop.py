"""The demo shop API: a small, real HTTP service that the demo agents act on.

`create_shop_app()` returns a FastAPI app implementing `openapi_specs/demo_shop.yaml`;
the server mounts it at `/demo-shop` in demo mode. Each app instance owns a
`ShopState` seeded afresh (see `app/demo/seed.py`), kept in memory, and changed for
real by the write endpoints. Every POST/PUT/PATCH honours `Idempotency-Key`: a
repeated key returns the stored response without applying the change again, so an
agent's action happens exactly once even when a tool call is retried or resumed.

The `X-Customer-Id` header (the run's user, set by the tool layer, never by the
model) is recorded with every write. When it names one of the shop's customers
(`cust_01`..`cust_10`), that customer sees and changes only their own orders:
another customer's order answers 404 "not found", like an order that does not
exist. Any other identity (the demo's anonymous users) sees every order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from app.demo.seed import seed_articles, seed_customers, seed_orders

__all__ = ["ShopState", "create_shop_app"]

_CANCELLABLE = {"pending", "processing", "on_hold", "shipped", "out_for_delivery"}
_ADDRESS_CHANGEABLE = {"pending", "processing", "on_hold"}
_REFUNDABLE = {"shipped", "out_for_delivery", "delivered", "returned", "cancelled"}


@dataclass
class ShopState:
    """Everything the shop knows; one per app instance, seeded afresh."""

    orders: dict[str, dict[str, Any]] = field(default_factory=seed_orders)
    customers: dict[str, dict[str, Any]] = field(default_factory=seed_customers)
    articles: list[dict[str, Any]] = field(default_factory=seed_articles)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    idempotency: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Idempotency-Key -> {"fingerprint", "status", "body"} of the first response."""
    writes: list[dict[str, Any]] = field(default_factory=list)
    """Every change actually applied: {"operation", "key", "customer_id", "target", "at"}."""

    def writes_for(self, operation: str, target: str | None = None) -> list[dict[str, Any]]:
        return [w for w in self.writes if w["operation"] == operation and target in (None, w["target"])]


class _ShopError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class CancelRequest(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


class AddressChange(BaseModel):
    address: str = Field(min_length=3, max_length=200)


class RefundRequest(BaseModel):
    order_id: str = Field(pattern=r"^[0-9]{1,10}$")
    amount: float | None = Field(default=None, gt=0)
    reason: str | None = Field(default=None, max_length=500)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def create_shop_app() -> FastAPI:
    """A fresh demo shop (its own seeded state in `app.state.shop`), ready to mount."""
    app = FastAPI(
        title="Demo Shop API",
        version="1.0.0",
        description="The demo shop the support agents act on; see openapi_specs/demo_shop.yaml.",
    )
    shop = ShopState()
    app.state.shop = shop

    @app.exception_handler(_ShopError)
    async def _shop_error(_: Request, exc: _ShopError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return JSONResponse({"detail": "invalid request: " + "; ".join(parts)}, status_code=422)

    def order_or_404(order_id: str, customer_id: str | None = None) -> dict[str, Any]:
        order = shop.orders.get(order_id)
        if order is None or (customer_id in shop.customers and order["customer_id"] != customer_id):
            raise _ShopError(404, f"order {order_id} not found")
        return order

    def once(
        request: Request,
        key: str | None,
        payload: dict[str, Any],
        apply: Callable[[], tuple[int, dict[str, Any], str]],
        customer_id: str | None,
        operation: str,
    ) -> JSONResponse:
        """Apply a change at most once per Idempotency-Key; replay the stored answer otherwise.

        `apply` returns (status, body, target) and may raise `_ShopError`; error answers are
        stored too, so a retried request gets the same answer. It runs without an `await`,
        so two requests with one key cannot interleave.
        """
        fingerprint = json.dumps([request.method, request.url.path, payload], sort_keys=True)
        if key is not None and key in shop.idempotency:
            stored = shop.idempotency[key]
            if stored["fingerprint"] != fingerprint:
                return JSONResponse(
                    {"detail": f"Idempotency-Key {key!r} was already used for a different request"},
                    status_code=422,
                )
            return JSONResponse(stored["body"], status_code=stored["status"], headers={"Idempotent-Replayed": "true"})
        try:
            status, body, target = apply()
            shop.writes.append(
                {"operation": operation, "key": key, "customer_id": customer_id, "target": target, "at": _now()}
            )
        except _ShopError as exc:
            status, body = exc.status, {"detail": exc.detail}
        if key is not None:
            shop.idempotency[key] = {"fingerprint": fingerprint, "status": status, "body": body}
        return JSONResponse(body, status_code=status)

    @app.get("/orders/{order_id}", operation_id="get_order_status", tags=["orders"])
    async def get_order(order_id: str, x_customer_id: str | None = Header(default=None)) -> dict[str, Any]:
        return order_or_404(order_id, x_customer_id)

    @app.post("/orders/{order_id}/cancel", operation_id="cancel_order", tags=["orders"])
    async def cancel_order(
        order_id: str,
        request: Request,
        body: CancelRequest | None = None,
        x_customer_id: str | None = Header(default=None),
        idempotency_key: str | None = Header(default=None),
    ) -> JSONResponse:
        payload = (body or CancelRequest()).model_dump()

        def apply() -> tuple[int, dict[str, Any], str]:
            order = order_or_404(order_id, x_customer_id)
            if order["status"] == "cancelled":
                raise _ShopError(409, f"order {order_id} is already cancelled")
            if order["status"] not in _CANCELLABLE:
                raise _ShopError(409, f"order {order_id} is {order['status']} and can no longer be cancelled")
            order["status"] = "cancelled"
            order["cancel_reason"] = payload["reason"]
            return 200, dict(order), order_id

        return once(request, idempotency_key, payload, apply, x_customer_id, "cancel_order")

    async def change_address(
        order_id: str,
        body: AddressChange,
        request: Request,
        x_customer_id: str | None = Header(default=None),
        idempotency_key: str | None = Header(default=None),
    ) -> JSONResponse:
        payload = body.model_dump()

        def apply() -> tuple[int, dict[str, Any], str]:
            order = order_or_404(order_id, x_customer_id)
            if order["status"] not in _ADDRESS_CHANGEABLE:
                raise _ShopError(
                    409, f"order {order_id} is {order['status']}; its shipping address can no longer be changed"
                )
            order["shipping_address"] = payload["address"]
            return 200, dict(order), order_id

        return once(request, idempotency_key, payload, apply, x_customer_id, "update_shipping_address")

    app.put("/orders/{order_id}/shipping-address", operation_id="update_shipping_address", tags=["orders"])(
        change_address
    )
    app.patch("/orders/{order_id}/shipping-address", operation_id="patch_shipping_address", tags=["orders"])(
        change_address
    )

    @app.post("/refunds", operation_id="create_refund", tags=["refunds"], status_code=201)
    async def create_refund(
        body: RefundRequest,
        request: Request,
        x_customer_id: str | None = Header(default=None),
        idempotency_key: str | None = Header(default=None),
    ) -> JSONResponse:
        payload = body.model_dump()

        def apply() -> tuple[int, dict[str, Any], str]:
            order = order_or_404(payload["order_id"], x_customer_id)
            if order["status"] not in _REFUNDABLE:
                raise _ShopError(409, f"order {order['order_id']} is {order['status']} and cannot be refunded yet")
            left = round(order["total"] - order["refunded_amount"], 2)
            amount = round(payload["amount"] if payload["amount"] is not None else left, 2)
            if left <= 0:
                raise _ShopError(409, f"order {order['order_id']} has already been refunded in full")
            if amount > left:
                raise _ShopError(
                    409, f"a refund of {amount} is more than the {left} {order['currency']} left on order {order['order_id']}"
                )
            order["refunded_amount"] = round(order["refunded_amount"] + amount, 2)
            refund = {
                "refund_id": f"R-{len(shop.refunds) + 1:04d}",
                "order_id": order["order_id"],
                "amount": amount,
                "currency": order["currency"],
                "status": "issued",
                "reason": payload["reason"],
            }
            shop.refunds.append(refund)
            return 201, refund, order["order_id"]

        return once(request, idempotency_key, payload, apply, x_customer_id, "create_refund")

    @app.get("/refunds", operation_id="list_refunds", tags=["refunds"])
    async def list_refunds(order_id: str | None = None) -> dict[str, Any]:
        return {"refunds": [r for r in shop.refunds if order_id in (None, r["order_id"])]}

    @app.get("/customers/{customer_id}", operation_id="get_customer", tags=["customers"])
    async def get_customer(customer_id: str) -> dict[str, Any]:
        customer = shop.customers.get(customer_id)
        if customer is None:
            raise _ShopError(404, f"customer {customer_id} not found")
        order_ids = [o["order_id"] for o in shop.orders.values() if o["customer_id"] == customer_id]
        return {**customer, "order_ids": order_ids}

    @app.get("/help-center/search", operation_id="search_help_center", tags=["help-center"])
    async def search_help_center(query: str = Query(min_length=1, max_length=200)) -> dict[str, Any]:
        words = set(re.findall(r"[a-z0-9]+", query.lower()))
        scored = []
        for article in shop.articles:
            vocabulary = set(re.findall(r"[a-z0-9]+", f"{article['title']} {article['keywords']}".lower()))
            score = len(words & vocabulary)
            if score:
                scored.append((score, article))
        scored.sort(key=lambda pair: -pair[0])
        results = [{k: v for k, v in a.items() if k != "keywords"} for _, a in scored[:3]]
        return {"query": query, "results": results}

    @app.get("/help/{slug}", include_in_schema=False)
    async def help_page(slug: str) -> HTMLResponse:
        """The help-center page a knowledge-base citation links to."""
        from html import escape

        article = next((a for a in shop.articles if a["url"] == f"/help/{slug}"), None)
        if article is None:
            raise _ShopError(404, f"no help-center article {slug!r}")
        return HTMLResponse(f"<!doctype html><html lang=en><title>{escape(article['title'])}</title>"
                            f"<main><h1>{escape(article['title'])}</h1><p>{escape(article['body'])}</p></main></html>")

    return app
