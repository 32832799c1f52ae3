"""Token checks (leeway, iss, aud, the CLI's lifetime cap), log redaction and loopback names."""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

import jwt
import pytest

from app.cli import main
from app.core.edge import is_loopback_host
from app.core.errors import Unauthorized
from app.core.logging import RedactTokens, redact
from app.core.security import authenticate, issue_token

SECRET = "unit-test-secret-0123456789abcdef"


def _token(**claims: object) -> str:
    now = int(time.time())
    return jwt.encode({"sub": "u", "role": "customer", "iat": now, "exp": now + 60, **claims}, SECRET,
                      algorithm="HS256")


def test_leeway_accepts_small_clock_skew_only() -> None:
    skewed = _token(exp=int(time.time()) - 5)
    with pytest.raises(Unauthorized, match="expired"):
        authenticate(SECRET, skewed)
    principal = authenticate(SECRET, skewed, leeway_s=30)
    assert principal.expires_at is not None and principal.expires_at > time.time()
    with pytest.raises(Unauthorized, match="expired"):
        authenticate(SECRET, _token(exp=int(time.time()) - 60), leeway_s=30)


def test_issuer_and_audience_are_checked_when_configured() -> None:
    good = issue_token(SECRET, user_id="u", role="customer", issuer="https://idp.example", audience="support")
    assert authenticate(SECRET, good, issuer="https://idp.example", audience="support").user_id == "u"
    with pytest.raises(Unauthorized, match="issued by"):
        authenticate(SECRET, _token(iss="https://evil.example"), issuer="https://idp.example")
    with pytest.raises(Unauthorized, match="iss"):
        authenticate(SECRET, _token(), issuer="https://idp.example")
    with pytest.raises(Unauthorized, match="audience"):
        authenticate(SECRET, _token(aud="other"), audience="support")
    # without the settings, a token carrying iss/aud is still fine
    assert authenticate(SECRET, good).user_id == "u"


def test_token_command_caps_the_lifetime(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AUTH_SECRET", SECRET)
    monkeypatch.setenv("TOKEN_MAX_TTL_S", "3600")
    assert main(["token", "--user", "alice", "--role", "customer", "--ttl", "86400"]) == 2
    assert "TOKEN_MAX_TTL_S" in capsys.readouterr().err
    assert main(["token", "--user", "alice", "--role", "customer", "--ttl", "600"]) == 0
    printed = capsys.readouterr().out.strip()
    claims = jwt.decode(printed, SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 600


def test_tokens_are_redacted_from_uvicorn_style_records() -> None:
    assert redact("GET /ws?token=abc.def.ghi&x=1") == "GET /ws?token=[redacted]&x=1"
    assert redact("/api/threads?a=1&access_token=zzz") == "/api/threads?a=1&access_token=[redacted]"
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/ws?token=secret.jwt.value", "1.1", 200), None)
    RedactTokens().filter(record)
    assert "secret.jwt.value" not in record.getMessage() and "token=[redacted]" in record.getMessage()


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("app.localhost", True), ("::ffff:127.0.0.1", True),
    ("", False), ("0.0.0.0", False), ("::", False), ("192.0.2.2", False), ("evil.example", False),
    ("localhost.evil.example", False),
])
def test_loopback_names(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_a_launcher_that_binds_first_is_caught_by_its_listening_socket() -> None:
    """gunicorn, `uvicorn --fd` and `serve --workers` bind before start-up: the socket itself is checked."""
    from app.core.config import Settings
    from app.core.edge import bind_problem

    local = Settings(auth_secret=None)
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        problem = bind_problem(local)
        assert problem is not None and "'0.0.0.0'" in problem
        assert bind_problem(Settings(auth_secret=SECRET)) is None
        assert bind_problem(Settings(auth_secret=None, allow_insecure_remote=True)) is None
    assert bind_problem(local) is None


async def _ask(settings: Any, *, client: str, host: str, origin: str | None = None) -> int:
    from app.core.edge import EdgeGuard

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    headers = [(b"host", host.encode())] + ([(b"origin", origin.encode())] if origin else [])
    scope = {"type": "http", "method": "GET", "path": "/api/threads", "headers": headers, "client": (client, 5)}
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    await EdgeGuard(app, settings)(scope, receive, send)
    return int(sent[0]["status"])


async def test_allow_insecure_remote_lifts_peer_and_host_checks_but_not_origin() -> None:
    from app.core.config import Settings

    strict, open_ = Settings(auth_secret=None), Settings(auth_secret=None, allow_insecure_remote=True)
    assert await _ask(strict, client="192.0.2.7", host="box:8000") == 403
    assert await _ask(strict, client="127.0.0.1", host="box:8000") == 421
    assert await _ask(open_, client="192.0.2.7", host="box:8000") == 200
    assert await _ask(open_, client="192.0.2.7", host="box:8000", origin="http://box:8000") == 200
    assert await _ask(open_, client="192.0.2.7", host="box:8000", origin="https://evil.example") == 403
    # with tokens the guard leaves callers to authentication
    assert await _ask(Settings(auth_secret=SECRET), client="192.0.2.7", host="box:8000",
                      origin="https://evil.example") == 200
