"""Browser tests: the real server as a subprocess, the built frontend, Debian's Chromium.

Each test gets a fresh database (the `database_url` fixture) and its own server, so
counts on the dashboard are exactly what the test did. Chromium is driven with the
sync Playwright API; `playwright install` is never needed (or run): we launch
/usr/bin/chromium.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess

REPO = Path(__file__).resolve().parents[2]
FRONTEND = REPO / "frontend"
STATIC = REPO / "app" / "static"
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET = "e2e-test-secret-0123456789abcdef"

pytestmark = pytest.mark.browser


def _frontend_is_stale() -> bool:
    index = STATIC / "index.html"
    if not index.is_file() or not (STATIC / "widget.js").is_file():
        return True
    built = min(index.stat().st_mtime, (STATIC / "widget.js").stat().st_mtime)
    sources = [p for p in (FRONTEND / "src").rglob("*") if p.is_file()]
    sources += [FRONTEND / n for n in ("index.html", "vite.config.ts", "vite.widget.config.ts", "package-lock.json")]
    return any(p.exists() and p.stat().st_mtime > built for p in sources)


@pytest.fixture(scope="session")
def built_frontend() -> Path:
    """app/static, built from frontend/ if missing or older than its sources."""
    if _frontend_is_stale():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("the frontend is not built and npm is not installed: install Node 20+ (scripts/test builds it)")
        if not (FRONTEND / "node_modules").is_dir():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True)
        subprocess.run([npm, "run", "build"], cwd=FRONTEND, check=True)
    return STATIC


# package scope: Playwright's sync API holds an event loop on this thread while it runs,
# which must be gone before any asyncio test runs
@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test does it as root)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield b
    b.close()
    pw.stop()


def _server(database_url: str, tmp_path: Path, **env: str) -> ServerProcess:
    proc = ServerProcess(
        {"DATABASE_URL": database_url, "DEMO_TOKEN_DELAY_MS": "15", "RATE_LIMIT_MESSAGES": "1000", **env},
        data_dir=tmp_path / "data",
    )
    if "AUTH_SECRET" not in env:
        proc.env.pop("AUTH_SECRET", None)
    return proc


@pytest.fixture
def make_server(database_url: str, tmp_path: Path, built_frontend: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start the real server with extra environment; stopped after the test."""
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        proc = _server(database_url, tmp_path, **env)
        proc.start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def local_server(make_server: Callable[..., ServerProcess]) -> ServerProcess:
    """No AUTH_SECRET: everyone is the local admin, no sign-in."""
    return make_server()


@pytest.fixture
def auth_server(make_server: Callable[..., ServerProcess]) -> ServerProcess:
    return make_server(AUTH_SECRET=SECRET)


def cli_token(user: str, role: str) -> str:
    """A token from `support-agent token`, as an operator would make one."""
    exe = REPO / ".venv" / "bin" / "support-agent"
    cmd = [str(exe)] if exe.exists() else ["support-agent"]
    out = subprocess.run(
        [*cmd, "token", "--user", user, "--role", role],
        env={**os.environ, "AUTH_SECRET": SECRET},
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1].strip()


@pytest.fixture
def new_page(browser: object) -> Iterator[Callable[..., object]]:
    """Open a page in a fresh browser context (its own storage); closed after the test."""
    contexts: list[object] = []

    def open_page(*, token: str | None = None, viewport: dict[str, int] | None = None) -> object:
        ctx = browser.new_context(viewport=viewport or {"width": 1280, "height": 860})  # type: ignore[attr-defined]
        if token:
            ctx.add_init_script(f"window.localStorage.setItem('support-agent:token', {token!r});")
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        return page

    yield open_page
    for ctx in contexts:
        ctx.close()  # type: ignore[attr-defined]


def screenshot(page: object, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)  # type: ignore[attr-defined]
