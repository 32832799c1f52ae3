"""Who is calling: JWTs (HS256 with AUTH_SECRET) turned into a `Principal`.

No FastAPI here: the REST dependencies and the WebSocket handler both call
`authenticate()`. Without AUTH_SECRET every caller is the local admin (and
`app/core/edge.py` keeps such a server to this machine). A principal from a token
carries the token's expiry: the WebSocket handler closes the socket when it passes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import jwt

from app.core.errors import Unauthorized

if TYPE_CHECKING:
    from app.core.config import Settings

__all__ = ["LOCAL_PRINCIPAL", "Principal", "Role", "authenticate", "authenticate_with", "issue_token"]

Role = Literal["customer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("customer", "operator", "admin")


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    role: Role
    # when the token stops being valid (epoch seconds, leeway included); None: never (local mode)
    expires_at: float | None = field(default=None, compare=False)
    name: str | None = None
    """The JWT's `name` claim: what a customer sees when this person writes to them."""

    @property
    def display_name(self) -> str:
        return self.name or self.user_id

    @property
    def is_staff(self) -> bool:
        """Operators and admins may see any thread and decide any interrupt."""
        return self.role in ("operator", "admin")


LOCAL_PRINCIPAL = Principal(user_id="local", role="admin")


def issue_token(secret: str, *, user_id: str, role: Role, ttl_s: int = 3600, issuer: str | None = None,
                audience: str | None = None, name: str | None = None) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    now = int(time.time())
    claims: dict[str, object] = {"sub": user_id, "role": role, "iat": now, "exp": now + ttl_s}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    if name:
        claims["name"] = name
    return jwt.encode(claims, secret, algorithm="HS256")


def authenticate(secret: str | None, token: str | None, *, leeway_s: float = 0, issuer: str | None = None,
                 audience: str | None = None) -> Principal:
    """The principal for `token`, or Unauthorized saying why it was refused.

    `leeway_s` is the clock skew tolerated on exp/nbf/iat; `issuer` / `audience`, when
    given, must match the token's iss / aud."""
    if secret is None:
        return LOCAL_PRINCIPAL
    if not token:
        raise Unauthorized("missing token: pass ?token= or Authorization: Bearer <jwt>")
    required = ["sub", "exp"] + (["iss"] if issuer else []) + (["aud"] if audience else [])
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], leeway=leeway_s, issuer=issuer,
                            audience=audience, options={"require": required, "verify_aud": audience is not None})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired: sign in again") from None
    except jwt.InvalidIssuerError:
        raise Unauthorized(f"invalid token: it was not issued by {issuer!r}") from None
    except jwt.InvalidAudienceError:
        raise Unauthorized(f"invalid token: it is not meant for audience {audience!r}") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"invalid token: {exc}") from None
    sub, role = claims.get("sub"), claims.get("role")
    if not isinstance(sub, str) or not sub or len(sub) > 256:
        raise Unauthorized("invalid token: claim 'sub' must be a non-empty string")
    if role not in ROLES:
        raise Unauthorized(f"invalid token: claim 'role' must be one of {', '.join(ROLES)}")
    exp = claims.get("exp")
    name = claims.get("name")
    name = name.strip()[:80] or None if isinstance(name, str) else None
    return Principal(user_id=sub, role=role, name=name,
                     expires_at=float(exp) + leeway_s if isinstance(exp, (int, float)) else None)


def authenticate_with(settings: Settings, token: str | None) -> Principal:
    """`authenticate` with the server's AUTH_* settings."""
    return authenticate(settings.auth_secret, token, leeway_s=settings.auth_leeway_s, issuer=settings.auth_issuer,
                        audience=settings.auth_audience)


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
