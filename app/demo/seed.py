"""The demo shop's seed data: deterministic, rebuilt for every shop instance.

Orders 1001-1050 belong to ten customers. Fixed points the demo and the tests
rely on (see /work/shared/spec/demo.md): 1042 shipped, 1033 processing, 1017
delivered with a total over 100, 1005 delivered with a total under 100. No
order starts out cancelled.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["FIRST_ORDER", "LAST_ORDER", "seed_articles", "seed_customers", "seed_orders"]

FIRST_ORDER = 1001
LAST_ORDER = 1050

_STATUS_CYCLE = ("pending", "processing", "on_hold", "shipped", "out_for_delivery", "delivered", "returned")
_FIXED: dict[int, tuple[str, float]] = {
    1042: ("shipped", 84.50),
    1033: ("processing", 59.00),
    1017: ("delivered", 129.90),
    1005: ("delivered", 45.50),
}
_PRODUCTS = (
    ("SKU-TEE", "Organic cotton T-shirt", 19.90),
    ("SKU-MUG", "Stoneware mug", 12.50),
    ("SKU-BAG", "Canvas tote bag", 24.00),
    ("SKU-LAMP", "Desk lamp", 49.00),
    ("SKU-BOOT", "Hiking boots", 129.90),
    ("SKU-SOCK", "Wool socks (3 pairs)", 15.00),
)
_STREETS = ("Baker St", "Elm Rd", "Harbour Ln", "Station Ave", "Mill St", "Oak Ct")
_NAMES = ("Ada Byrne", "Ben Okafor", "Chloe Martin", "Dev Patel", "Eva Novak",
          "Femi Adeyemi", "Greta Lund", "Hugo Silva", "Ines Costa", "Jon Park")
_EPOCH = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def seed_customers() -> dict[str, dict[str, Any]]:
    customers = {}
    for i, name in enumerate(_NAMES, start=1):
        cid = f"cust_{i:02d}"
        email = name.lower().replace(" ", ".") + "@example.com"
        customers[cid] = {"customer_id": cid, "name": name, "email": email}
    return customers


def seed_orders() -> dict[str, dict[str, Any]]:
    rng = random.Random(1042)
    orders: dict[str, dict[str, Any]] = {}
    for n in range(FIRST_ORDER, LAST_ORDER + 1):
        status = _STATUS_CYCLE[n % len(_STATUS_CYCLE)]
        items = []
        for sku, name, price in rng.sample(_PRODUCTS, k=rng.randint(1, 2)):
            items.append({"sku": sku, "name": name, "quantity": rng.randint(1, 2), "unit_price": price})
        total = round(sum(i["quantity"] * i["unit_price"] for i in items), 2)
        if n in _FIXED:
            status, total = _FIXED[n]
            items = [{"sku": "SKU-FIX", "name": "Order items", "quantity": 1, "unit_price": total}]
        shipped = status in ("shipped", "out_for_delivery", "delivered", "returned")
        orders[str(n)] = {
            "order_id": str(n),
            "customer_id": f"cust_{(n % 10) + 1:02d}",
            "status": status,
            "total": total,
            "currency": "EUR",
            "refunded_amount": 0.0,
            "items": items,
            "shipping_address": f"{rng.randint(1, 99)} {rng.choice(_STREETS)}",
            "tracking_number": f"TRK{n}{rng.randint(100, 999)}" if shipped else None,
            "created_at": (_EPOCH + timedelta(hours=7 * (n - FIRST_ORDER))).isoformat(),
        }
    return orders


def seed_articles() -> list[dict[str, Any]]:
    return [
        {
            "article_id": "return-policy",
            "title": "Return policy",
            "body": (
                "You can return any item within 30 days of delivery for a full refund. "
                "Items must be unused and in their original packaging. "
                "Refunds are issued to the original payment method within 5 business days of receiving the return."
            ),
            "url": "/help/return-policy",
            "keywords": "return returns returning policy refund money back exchange 30 days",
        },
        {
            "article_id": "shipping-times",
            "title": "Shipping times and costs",
            "body": (
                "Orders ship within 2 business days. Standard delivery takes 3 to 5 business days and is free "
                "over 50 EUR; express delivery takes 1 to 2 business days for 9.90 EUR."
            ),
            "url": "/help/shipping",
            "keywords": "shipping delivery ship times cost express standard tracking when arrive",
        },
        {
            "article_id": "order-changes",
            "title": "Changing or cancelling an order",
            "body": (
                "You can change the shipping address until an order ships, and cancel an order until it is delivered. "
                "Ask our assistant and confirm the change when asked."
            ),
            "url": "/help/order-changes",
            "keywords": "cancel cancellation change address modify order edit",
        },
        {
            "article_id": "payment-methods",
            "title": "Payment methods",
            "body": "We accept Visa, Mastercard, American Express, PayPal and bank transfer.",
            "url": "/help/payments",
            "keywords": "payment pay card paypal visa mastercard invoice bank",
        },
        {
            "article_id": "warranty",
            "title": "Warranty",
            "body": "Every product has a two-year warranty against manufacturing defects.",
            "url": "/help/warranty",
            "keywords": "warranty guarantee defect broken repair",
        },
    ]
