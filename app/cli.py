"""The `support-agent` command: serve, token, migrate, chat, import-spec, kb import, eval, eval-export.

Start-up problems (a bad setting, an unreachable database) print one line naming
the cause and exit with code 2, never a traceback. `serve --workers N` runs N server
processes on one socket under uvicorn's supervisor (see `_serve_workers`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors import multiprocess

from app.core.config import Settings, SettingsError, load_settings
from app.core.errors import DatabaseUnavailable

__all__ = ["main"]

EXIT_CONFIG = 2
REPO_ROOT = Path(__file__).resolve().parent.parent


def _fail(message: str) -> int:
    print(f"support-agent: error: {message}", file=sys.stderr)
    return EXIT_CONFIG


def _is_loopback(host: str) -> bool:
    from app.core.edge import is_loopback_host

    return is_loopback_host(host)


async def _preflight(settings: Settings, url: str) -> None:
    from app.core.db import apply_migrations, open_pool, wait_for_database

    await wait_for_database(url, settings.db_connect_timeout_s)
    pool = open_pool(url, settings, name="preflight")
    await pool.open()
    try:
        await apply_migrations(pool)
    finally:
        await pool.close()


def build_frontend_if_stale(log: Any = None) -> None:
    """From a source checkout, build the frontend when app/static is missing or older than its sources."""
    frontend = REPO_ROOT / "frontend"
    static = REPO_ROOT / "app" / "static"
    if not (frontend / "package.json").is_file():
        return  # an installed package carries its built assets
    sources = [p for p in (frontend / "src").rglob("*") if p.is_file()] + [
        p for p in frontend.glob("*") if p.is_file() and p.suffix in (".json", ".ts", ".html", ".js")]
    newest = max((p.stat().st_mtime for p in sources), default=0)
    index = static / "index.html"
    if index.is_file() and index.stat().st_mtime >= newest:
        return
    npm = shutil.which("npm")
    if npm is None:
        print("support-agent: warning: the frontend is not built and npm is not installed; "
              "the API runs, the pages do not", file=sys.stderr)
        return
    print("support-agent: building the frontend (npm ci && npm run build)...", file=sys.stderr)
    try:
        if not (frontend / "node_modules").is_dir():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=frontend, check=True)
        subprocess.run([npm, "run", "build"], cwd=frontend, check=True)
    except subprocess.CalledProcessError as exc:
        print(f"support-agent: warning: the frontend build failed ({exc}); the API runs, the pages do not",
              file=sys.stderr)


def cmd_serve(args: argparse.Namespace) -> int:
    from app.core.db import resolve_database_url
    from app.core.logging import configure_logging
    from app.main import create_app

    try:
        settings = load_settings() if args.workers is None else load_settings(workers=args.workers)
    except SettingsError as exc:
        return _fail(str(exc))
    if not settings.auth_enabled and not _is_loopback(args.host) and not settings.allow_insecure_remote:
        return _fail(f"refusing to listen on {args.host or repr(args.host)} without AUTH_SECRET: anyone could act as the local admin. "
                     "Set AUTH_SECRET, or ALLOW_INSECURE_REMOTE=true if you really mean it")
    configure_logging(settings.log_level, settings.log_format)
    if not args.no_frontend_build:
        build_frontend_if_stale()
    try:
        url, embedded = resolve_database_url(settings)
    except DatabaseUnavailable as exc:
        return _fail(exc.message)
    try:
        try:
            asyncio.run(_preflight(settings, url))
        except DatabaseUnavailable as exc:
            return _fail(exc.message)
        if settings.workers > 1:
            return _serve_workers(settings, url, args)
        shop = f"http://127.0.0.1:{args.port}/demo-shop" if settings.demo_mode else None
        app = create_app(settings, url, shop_base_url=shop)
        config = _uvicorn_config(app, settings, args)
        server = GracefulServer(config)
        server.run()
        return 0 if server.started else 1
    finally:
        if embedded is not None:
            embedded.stop()


def _uvicorn_config(app: Any, settings: Settings, args: argparse.Namespace, **extra: Any) -> uvicorn.Config:
    hb = settings.heartbeat_interval_s
    return uvicorn.Config(app, host=args.host, port=args.port, log_config=None, access_log=False,
                          ws_ping_interval=hb, ws_ping_timeout=2 * hb, ws_max_size=1024 * 1024,
                          timeout_graceful_shutdown=max(1, int(settings.shutdown_grace_s) + 5),
                          lifespan="on", **extra)


def _serve_workers(settings: Settings, url: str, args: argparse.Namespace) -> int:
    """Run `settings.workers` server processes on one listening socket until SIGTERM/SIGINT.

    The workers are spawned interpreters that build the app with `create_app_from_env`;
    they get the database this process resolved (and migrated) through DATABASE_URL. In
    demo mode without SHOP_API_URL the demo shop runs once, in its own process, for all
    of them (see app/demo/shared.py). On SIGTERM/SIGINT uvicorn's supervisor sends each
    worker SIGTERM and waits for its graceful stop; the shop is stopped after them, and
    the caller stops the embedded Postgres last. A worker that dies is replaced.
    """
    from uvicorn.main import STARTUP_FAILURE

    from app.demo.shared import SharedShop, SharedShopError
    from app.main import SHARED_SHOP_ENV

    config = _uvicorn_config("app.main:create_app_from_env", settings, args, factory=True,
                             workers=settings.workers)
    sock = config.bind_socket()
    shop: SharedShop | None = None
    try:
        # built first: it installs the signal handlers, so a SIGTERM from here on is a graceful stop
        supervisor = _supervisor(config, sock)
        if settings.demo_mode and not settings.shop_api_url:
            try:
                shop = SharedShop.start()
            except SharedShopError as exc:
                return _fail(str(exc))
        handed_down = {"DATABASE_URL": url, **({SHARED_SHOP_ENV: shop.url} if shop else {})}
        with _environ(handed_down):
            supervisor.run()
        # the supervisor gives up when a worker cannot start (uvicorn logged why)
        return 1 if any(p.process.exitcode == STARTUP_FAILURE for p in supervisor.processes) else 0
    finally:
        if shop is not None:
            shop.stop()
        sock.close()


def _supervisor(config: uvicorn.Config, sock: Any) -> multiprocess.Multiprocess:
    return _GracefulMultiprocess(config, sockets=[sock])


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for what this process spawns meanwhile, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class GracefulServer(uvicorn.Server):
    """Stops accepting, lets runs reach a checkpoint and closes sockets with 1001, then shuts down."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises the signal after a graceful stop; a clean stop exits 0 here
        with super().capture_signals():
            try:
                yield
            finally:
                self._captured_signals.clear()

    async def shutdown(self, sockets: Any = None) -> None:
        for srv in self.servers:
            srv.close()
        services = getattr(_app_state(self.config), "services", None)
        if services is not None:
            try:
                await services.begin_shutdown()
            except Exception as exc:  # noqa: BLE001 - shutting down regardless
                print(f"support-agent: shutdown: {exc}", file=sys.stderr)
        await super().shutdown(sockets)


def _app_state(config: uvicorn.Config) -> Any:
    """The served app's `state`: the app given, or the one a factory built under uvicorn's middleware."""
    app = getattr(config, "loaded_app", None) if isinstance(config.app, str) else config.app
    while app is not None and not hasattr(app, "state"):
        app = getattr(app, "app", None)
    return getattr(app, "state", None)


class _GracefulWorker(multiprocess.Process):
    """A worker process of uvicorn's supervisor that serves with GracefulServer."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = GracefulServer(config=self.config)
        return self._server


class _GracefulMultiprocess(multiprocess.Multiprocess):
    """uvicorn's supervisor (restarts a worker that dies, SIGHUP, SIGTTIN/SIGTTOU) with GracefulServer workers."""

    def run(self) -> None:
        # The supervisor builds every worker (first start, replacement, SIGHUP, SIGTTIN) from its
        # module's `Process`, whose server is a plain uvicorn.Server, and takes no other class:
        # ours stands in for it while the supervisor runs.
        original = multiprocess.Process
        multiprocess.Process = _GracefulWorker  # type: ignore[misc]
        try:
            super().run()
        finally:
            multiprocess.Process = original  # type: ignore[misc]


def cmd_token(args: argparse.Namespace) -> int:
    from app.core.security import issue_token

    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(str(exc))
    if not settings.auth_secret:
        return _fail("AUTH_SECRET is not set: tokens are signed with it (without it the server needs none)")
    if not 1 <= args.ttl <= settings.token_max_ttl_s:
        return _fail(f"--ttl {args.ttl} is outside 1..{settings.token_max_ttl_s} seconds (TOKEN_MAX_TTL_S): a leaked "
                     "long-lived token cannot be revoked; issue a shorter one or raise TOKEN_MAX_TTL_S")
    print(issue_token(settings.auth_secret, user_id=args.user, role=args.role, ttl_s=args.ttl,
                      issuer=settings.auth_issuer, audience=settings.auth_audience, name=args.name))
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    from app.core.db import resolve_database_url

    try:
        settings = load_settings()
        url, embedded = resolve_database_url(settings)
    except SettingsError as exc:
        return _fail(str(exc))
    except DatabaseUnavailable as exc:
        return _fail(exc.message)
    try:
        asyncio.run(_preflight(settings, url))
    except DatabaseUnavailable as exc:
        return _fail(exc.message)
    finally:
        if embedded is not None:
            embedded.stop()
    print("support-agent: schema is up to date")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from app.terminal_chat import run_chat, run_operator

    token = args.token or os.environ.get("SUPPORT_AGENT_TOKEN")
    if args.operator:
        return run_operator(server=args.server, token=token)
    return run_chat(server=args.server, thread_id=args.thread, token=token)


def cmd_import_spec(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(str(exc))
    from app.integrations.openapi.command import import_spec_command

    return int(import_spec_command(args.source, settings))


def _settings_or_fail() -> Settings | int:
    try:
        return load_settings()
    except SettingsError as exc:
        return _fail(str(exc))


def cmd_eval(args: argparse.Namespace) -> int:
    settings = _settings_or_fail()
    if isinstance(settings, int):
        return settings
    from app.evals.command import eval_command

    return eval_command(args, settings)


def cmd_eval_export(args: argparse.Namespace) -> int:
    settings = _settings_or_fail()
    if isinstance(settings, int):
        return settings
    from app.evals.command import export_command

    try:
        return export_command(args, settings)
    except DatabaseUnavailable as exc:
        return _fail(str(exc))


def cmd_kb_import(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(str(exc))
    from app.knowledge.service import import_command

    return import_command(args.source, settings)


def _worker_count(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {value!r}")
    return n


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="support-agent", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the server: REST, WebSocket, frontend and (demo mode) the demo shop")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--no-frontend-build", action="store_true", help="do not build the frontend when stale")
    p.add_argument("--workers", type=_worker_count, default=None, metavar="N",
                   help="server processes sharing the port (default: WORKERS, else 1)")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("token", help="print a JWT signed with AUTH_SECRET")
    p.add_argument("--user", required=True)
    p.add_argument("--role", required=True, choices=["customer", "operator", "admin"])
    p.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (at most TOKEN_MAX_TTL_S)")
    p.add_argument("--name", default=None, help="display name customers see when this person writes (staff)")
    p.set_defaults(func=cmd_token)
    p = sub.add_parser("migrate", help="apply the schema and exit")
    p.set_defaults(func=cmd_migrate)
    p = sub.add_parser("chat", help="chat with a running server from the terminal")
    p.add_argument("--server", default="http://127.0.0.1:8000")
    p.add_argument("--thread", default=None)
    p.add_argument("--token", default=None, help="a JWT (or SUPPORT_AGENT_TOKEN)")
    p.add_argument("--operator", action="store_true",
                   help="the staff side of a human takeover: /queue, /claim N, talk, /release back|resolved")
    p.set_defaults(func=cmd_chat)
    p = sub.add_parser("import-spec", help="import an OpenAPI spec from a file or URL")
    p.add_argument("source")
    p.set_defaults(func=cmd_import_spec)
    p = sub.add_parser("eval", help="run scripted conversations through the graph and score them (docs/evals.md)")
    p.add_argument("--dataset", default=None, help="an eval dataset (YAML); default: the shipped set")
    p.add_argument("--agents", default=None, help="an agents.yaml; default: openapi_specs/agents.yaml")
    p.add_argument("--case", action="append", default=[], metavar="ID", help="run only this case (repeatable)")
    p.add_argument("--json", default=None, metavar="FILE", help="write the report as JSON")
    p.add_argument("--markdown", default=None, metavar="FILE", help="write the report as Markdown")
    p.add_argument("--compare", default=None, metavar="PREVIOUS_JSON", help="show what changed since that report")
    p.add_argument("--checkpointer", choices=["memory", "postgres"], default="memory",
                   help="where the graph keeps thread state during the eval (postgres: DATABASE_URL)")
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("eval-export", help="print a logged conversation as an eval case (YAML)")
    p.add_argument("thread", help="the thread id (as shown in replay)")
    p.add_argument("--id", default=None, help="the case id (default: exported-<thread>)")
    p.add_argument("--out", default=None, metavar="FILE", help="append the case to this dataset file")
    p.set_defaults(func=cmd_eval_export)
    p = sub.add_parser("kb", help="the knowledge base the faq agent answers from (docs/knowledge.md)")
    kb = p.add_subparsers(dest="kb_command", required=True)
    p = kb.add_parser("import", help="import help-center articles: a folder, a file, a page or a sitemap URL")
    p.add_argument("source", help="PATH (folder, .md, .html, .txt, .pdf) or URL (page or sitemap)")
    p.set_defaults(func=cmd_kb_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
