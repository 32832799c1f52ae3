"""FastAPI dependencies: every injected thing is an `Annotated` alias.

A route's signature lists what it needs: `PoolDep` for storage, `PrincipalDep` for
the caller, `OperatorDep`/`AdminDep` for role checks, `ServicesDep` for the
long-lived objects the lifespan opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool

from app.core.errors import Forbidden
from app.core.security import Principal, authenticate_with, bearer_token

if TYPE_CHECKING:
    from app.container import Services

__all__ = ["AdminDep", "OperatorDep", "PoolDep", "PrincipalDep", "ServicesDep"]


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def get_pool(request: Request) -> AsyncConnectionPool:
    return request.app.state.services.pool  # type: ignore[no-any-return]


def get_principal(request: Request) -> Principal:
    return authenticate_with(request.app.state.services.settings, bearer_token(request.headers.get("authorization")))


def require_operator(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.is_staff:
        raise Forbidden("this needs the operator or admin role")
    return principal


def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.role != "admin":
        raise Forbidden("this needs the admin role")
    return principal


ServicesDep = Annotated["Services", Depends(get_services)]
PoolDep = Annotated[AsyncConnectionPool, Depends(get_pool)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
OperatorDep = Annotated[Principal, Depends(require_operator)]
AdminDep = Annotated[Principal, Depends(require_admin)]
