"""Classification: risk and approver of the real-world fixtures, hints and the LLM
merge that only ever raise, and agent assignment."""

from __future__ import annotations

import pytest

from app.integrations.openapi.load import load_document
from app.integrations.openapi.parse import Operation, parse_spec
from app.integrations.openapi.risk import (
    APPROVERS,
    RISKS,
    SAFE_METHODS,
    Classification,
    LLMVerdict,
    assign_agent,
    classify,
    merge_llm,
)
from tests.openapi.conftest import FIXTURES, REPO, fixture_bytes


def classified(name: str) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    spec = parse_spec(load_document(fixture_bytes(name)))
    out = {}
    for op in spec.operations:
        c = classify(op)
        out[op.operation_id] = (c.risk, c.approver, c.reasons)
    return out


def test_swagger_petstore_classifications() -> None:
    got = {k: v[:2] for k, v in classified("swagger-petstore-3.0.yaml").items()}
    assert got["getPetById"] == ("low", "none")
    assert got["findPetsByStatus"] == ("low", "none")
    assert got["addPet"] == ("medium", "customer")
    assert got["updatePet"] == ("medium", "customer")
    assert got["deletePet"] == ("high", "operator")
    assert got["deleteOrder"] == ("high", "operator")
    assert got["deleteUser"] == ("high", "operator")
    # a login that takes the password in the query string is flagged, GET or not
    assert got["loginUser"] == ("high", "operator")
    # createUser's body carries a password
    assert got["createUser"] == ("high", "operator")


def test_login_reasons_name_the_password_in_the_query() -> None:
    reasons = " | ".join(classified("swagger-petstore-3.0.yaml")["loginUser"][2])
    assert "password" in reasons and "query string" in reasons


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.yaml")))
def test_invariants_on_every_fixture(name: str) -> None:
    spec = parse_spec(load_document(fixture_bytes(name)))
    for op in spec.operations:
        c = classify(op)
        assert c.risk in RISKS and c.approver in APPROVERS and c.reasons
        if op.method not in SAFE_METHODS:
            assert c.approver != "none", op.operation_id
        if op.method == "DELETE":
            assert c.risk in ("high", "critical")


def test_other_fixtures() -> None:
    assert {k: v[:2] for k, v in classified("petstore-expanded-3.0.yaml").items()} == {
        "findPets": ("low", "none"),
        "addPet": ("medium", "customer"),
        "find_pet_by_id": ("low", "none"),
        "deletePet": ("high", "operator"),
    }
    uspto = classified("uspto-3.0.yaml")
    assert uspto["perform-search"][:2] == ("medium", "customer")  # a POST search still asks
    assert any("search" in r for r in uspto["perform-search"][2])
    assert classified("callback-example-3.0.yaml")["post_streams"][:2] == ("medium", "customer")
    assert classified("non-oauth-scopes-3.1.yaml")["get_users"][:2] == ("low", "none")


def test_demo_shop_actions() -> None:
    spec = parse_spec(load_document((REPO / "openapi_specs" / "demo_shop.yaml").read_bytes()))
    got = {o.operation_id: (classify(o).risk, classify(o).approver) for o in spec.operations}
    assert got["get_order_status"] == ("low", "none")
    assert got["list_refunds"] == ("low", "none")  # a read about refunds, not a refund
    assert got["cancel_order"] == ("high", "operator")
    assert got["create_refund"] == ("high", "operator")
    assert got["update_shipping_address"] == ("medium", "customer")


def op(
    method: str = "POST",
    path: str = "/things",
    *,
    operation_id: str = "doThing",
    summary: str = "",
    description: str = "",
    parameters: list | None = None,
    extensions: dict | None = None,
    tags: list | None = None,
) -> Operation:
    return Operation(
        operation_id=operation_id,
        method=method,
        path=path,
        summary=summary,
        description=description,
        parameters=parameters or [],
        extensions=extensions or {},
        tags=tags or [],
    )


@pytest.mark.parametrize(
    "kwargs,risk",
    [
        ({"operation_id": "createPayment", "path": "/payments"}, "critical"),
        ({"operation_id": "transferFunds"}, "critical"),
        ({"summary": "Refund an order"}, "high"),
        ({"summary": "Cancel a subscription"}, "high"),
        ({"operation_id": "resetPassword"}, "high"),
        ({"description": "Removes the record. This cannot be undone."}, "high"),
        ({"operation_id": "updateProfile"}, "medium"),
        ({"method": "GET", "operation_id": "cancelOrder", "path": "/orders/{id}/cancel"}, "medium"),
        ({"method": "GET", "operation_id": "getPaymentStatus", "path": "/payments/{id}"}, "low"),
        ({"method": "GET", "operation_id": "listRefunds"}, "low"),
        (
            {"description": "subscribes a client to receive out-of-band data"},
            "medium",
        ),  # "band" is not "ban"
    ],
)
def test_words(kwargs: dict, risk: str) -> None:
    assert classify(op(**kwargs)).risk == risk


def test_unsafe_methods_never_default_to_no_approver() -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        c = classify(op(method, operation_id="searchThings", summary="Search things"))
        assert c.approver != "none"


def test_hints_may_raise_but_not_lower() -> None:
    raised = classify(op("GET", extensions={"x-risk": "critical"}))
    assert (raised.risk, raised.approver) == ("critical", "operator")
    assert any("x-risk hint" in r for r in raised.reasons)
    lowered = classify(op("DELETE", extensions={"x-risk": "low", "x-approver": "none"}))
    assert (lowered.risk, lowered.approver) == ("high", "operator")
    assert any("x-risk low ignored" in r for r in lowered.reasons)
    assert any("x-approver none ignored" in r for r in lowered.reasons)
    approver = classify(op("GET", extensions={"x-approver": "customer"}))
    assert (approver.risk, approver.approver) == ("low", "customer")
    namespaced = classify(op("POST", extensions={"x-support-agent": {"risk": "high"}}))
    assert namespaced.risk == "high"
    bogus = classify(op("GET", extensions={"x-risk": "extreme"}))
    assert bogus.risk == "low" and any("'extreme' ignored" in r for r in bogus.reasons)


def test_llm_merge_only_raises() -> None:
    base = Classification("medium", "customer", ("rules",))
    up = merge_llm(base, LLMVerdict("critical", "customer", "moves money"))
    assert (up.risk, up.approver) == ("critical", "operator")
    assert "LLM review raises risk to critical (moves money)" in up.reasons
    down = merge_llm(base, LLMVerdict("low", "none", "harmless, trust me"))
    assert (down.risk, down.approver) == ("medium", "customer")
    assert any("kept medium because the LLM may only raise" in r for r in down.reasons)
    same = merge_llm(base, LLMVerdict("medium", "operator"))
    assert (same.risk, same.approver) == ("medium", "operator")
    junk = merge_llm(base, LLMVerdict("whatever"))
    assert (junk.risk, junk.approver) == ("medium", "customer") and "ignored" in junk.reasons[-1]
    assert merge_llm(base, None) is base


def test_agent_assignment() -> None:
    tagged = op(tags=["Order Management"], path="/orders/{id}")
    assert assign_agent(tagged)[0] == "order-management"
    untagged = op(path="/v1/refunds/{id}")
    assert assign_agent(untagged)[0] == "v1"
    assert assign_agent(op(path="/{id}"))[0] == "general"
    mapping = {
        "tag:Order Management": "orders",
        "path:/v1/refunds": "billing",
        "path:/v1": "general",
    }
    assert assign_agent(tagged, mapping) == (
        "orders",
        "tag 'Order Management' is mapped to agent 'orders'",
    )
    assert assign_agent(untagged, mapping)[0] == "billing"  # the longest prefix wins
    assert assign_agent(op(path="/v1/other"), mapping)[0] == "general"
    assert assign_agent(op(path="/x", extensions={"x-agent": "billing"}))[0] == "billing"
