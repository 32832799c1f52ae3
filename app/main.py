"""create_app(): the whole product as one ASGI app.

The lifespan opens the pool, applies migrations, sets up the checkpointer, the
shared HTTP client, the graph, the hub, the event writer, the run manager and the
sweeper; the app mounts the REST API, /ws, /metrics, the demo shop (demo mode)
and the built frontend. `create_app_from_env()` builds the same app in each worker
process of `support-agent serve --workers N`, from what the parent hands down.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NoReturn

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import __version__
from app.agent_server.routes import build_router
from app.api.main import api_router
from app.api.schema import install_openapi
from app.container import Services
from app.core.config import Settings, SettingsError, load_settings
from app.core.db import apply_migrations, open_pool, session_url, setup_checkpointer, wait_for_pool
from app.core.edge import EdgeGuard
from app.core.errors import AppError
from app.core.logging import correlation_id, get_logger, install_log_redaction
from app.core.metrics import METRICS
from app.ws.endpoint import router as ws_router

__all__ = ["SHARED_SHOP_ENV", "create_app", "create_app_from_env"]

log = get_logger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
# How `serve --workers N` tells its workers where the demo shop it runs for them all is.
SHARED_SHOP_ENV = "SUPPORT_AGENT_SHARED_SHOP_URL"


async def open_services(settings: Settings, database_url: str, *, shop_base_url: str | None) -> Services:
    from app.approvals.service import sweeper_loop
    from app.conversations.event_log import EventWriter, notify_on_append
    from app.conversations.graph_runtime import build_runtime
    from app.conversations.runs import RunManager
    from app.ws.hub import Hub

    pool = open_pool(database_url, settings)
    await wait_for_pool(pool, database_url, settings.db_connect_timeout_s)
    services = Services(settings=settings, pool=pool, database_url=database_url)
    await apply_migrations(pool)
    services.checkpointer = await setup_checkpointer(pool, session_url(settings, database_url))
    services.http = httpx.AsyncClient(timeout=settings.tool_timeout_s)
    services.shop_base_url = settings.shop_api_url or shop_base_url
    await build_runtime(services)
    if settings.demo_mode:
        await services.knowledge.ensure_demo_articles()
    services.replay_slots = asyncio.Semaphore(settings.replay_concurrency)
    services.hub = Hub(pool, origin=services.origin, page_size=settings.replay_page_size,
                       slots=services.replay_slots, redis_url=settings.redis_url)
    services.hub.on_tools_changed = lambda: services.tools_changed(announce=False)
    if settings.redis_url:  # the hub announces events on Redis: spare Postgres the per-commit NOTIFY
        notify_on_append(services.origin, False)
    services.writer = EventWriter(pool, origin=services.origin, publish=services.hub.publish,
                                  min_interval_s=settings.event_batch_interval_ms / 1000)
    services.writer.start()
    services.hub.start(session_url(settings, database_url))
    services.runs = RunManager(services)
    services.runs.start_background()
    services.background.append(asyncio.create_task(sweeper_loop(services), name="sweeper"))
    from app.handoffs.service import notice_loop

    services.background.append(asyncio.create_task(notice_loop(services), name="handoff-notices"))
    with contextlib.suppress(ImportError):
        from app.analytics.retention import retention_loop

        services.background.append(asyncio.create_task(retention_loop(services), name="retention"))
    return services


async def close_services(services: Services) -> None:
    await services.begin_shutdown()
    for task in services.background:
        task.cancel()
    for task in services.background:
        with contextlib.suppress(BaseException):
            await task
    await services.writer.close()
    await services.hub.stop()
    if services.http:
        await services.http.aclose()
    await services.pool.close()


def create_app(settings: Settings, database_url: str, *, shop_base_url: str | None = None,
               shared_shop_url: str | None = None) -> FastAPI:
    """The app; `shared_shop_url`: in demo mode, /demo-shop passes through to that shop instead of mounting one."""
    shop_proxy = None
    if settings.demo_mode and shared_shop_url:
        from app.demo.shared import ShopPassThrough

        shop_proxy = ShopPassThrough(shared_shop_url, timeout_s=settings.tool_timeout_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await open_services(settings, database_url, shop_base_url=shop_base_url)
        app.state.services = services
        try:
            yield
        finally:
            try:
                await close_services(services)
            finally:
                if shop_proxy is not None:
                    await shop_proxy.aclose()

    app = FastAPI(title="support-agent", version=__version__, lifespan=lifespan,
                  generate_unique_id_function=lambda r: f"{r.tags[0]}-{r.name}" if r.tags else r.name)
    install_openapi(app)
    _install_error_handlers(app)
    _install_request_log(app)
    if settings.cors_allow_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_allow_origins, allow_credentials=False,
                           allow_methods=["*"],
                           allow_headers=["Authorization", "Content-Type", "x-api-key", "Last-Event-ID"],
                           expose_headers=["Location", "Content-Location"])
    app.add_middleware(EdgeGuard, settings=settings)  # added last: the outermost layer
    install_log_redaction()
    app.include_router(api_router)
    app.include_router(build_router(settings.lg_api_prefix))
    app.include_router(ws_router)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        METRICS.asyncio_tasks.set(len(asyncio.all_tasks()))
        return Response(generate_latest(METRICS.registry), media_type=CONTENT_TYPE_LATEST)

    if shop_proxy is not None:
        app.mount("/demo-shop", shop_proxy)
    elif settings.demo_mode:
        from app.demo.shop import create_shop_app

        app.mount("/demo-shop", create_shop_app())
    _mount_frontend(app, settings.frontend_dir or STATIC_DIR)
    return app


def create_app_from_env() -> FastAPI:
    """The app of one worker process of `serve --workers N` (an import string for uvicorn's supervisor).

    Settings come from the environment the parent process set: DATABASE_URL is the
    database it resolved (its embedded Postgres too, so a worker never starts one) and
    SHARED_SHOP_ENV the demo shop it runs for all workers. Each worker opens its own
    pool, hub, runs and sweeper.
    """
    from uvicorn.main import STARTUP_FAILURE

    from app.core.logging import configure_logging

    def give_up(message: str) -> NoReturn:
        # uvicorn's supervisor stops on this exit code instead of restarting the worker forever
        print(f"support-agent: error: {message}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)

    try:
        settings = load_settings()
    except SettingsError as exc:
        give_up(str(exc))
    if not settings.database_url:
        give_up("a worker needs DATABASE_URL and never starts its own Postgres: run workers with "
                "`support-agent serve --workers N`, which hands down the database it resolved")
    configure_logging(settings.log_level, settings.log_format)
    shared_shop = os.environ.get(SHARED_SHOP_ENV) or None
    return create_app(settings, settings.database_url, shop_base_url=shared_shop, shared_shop_url=shared_shop)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def app_error(_: Request, exc: AppError) -> JSONResponse:
        body: dict[str, Any] = {"error": exc.message, "code": exc.code}
        body.update({k: v for k, v in exc.extra.items() if k == "retry_after_s"})
        return JSONResponse(body, status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {err.get('msg')}")
        return JSONResponse({"error": "invalid request: " + "; ".join(problems), "code": "invalid_request"},
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        cid = correlation_id()
        log.error("request_failed", correlation_id=cid, error=f"{type(exc).__name__}: {exc}", exc_info=exc)
        return JSONResponse({"error": f"internal error (correlation id {cid})", "code": "internal"}, status_code=500)


def _install_request_log(app: FastAPI) -> None:
    @app.middleware("http")
    async def request_log(request: Request, call_next: Any) -> Response:
        start = time.perf_counter()
        response: Response = await call_next(request)
        path = request.url.path
        if path.startswith(("/api", "/metrics")):
            METRICS.http_requests.labels(method=request.method, status=str(response.status_code)).inc()
            log.info("request", method=request.method, path=path, status=response.status_code,
                     duration_ms=round((time.perf_counter() - start) * 1000, 1))
        return response


def _mount_frontend(app: FastAPI, root: Path) -> None:
    """Serve the built SPA: files as they are, any other non-API path as index.html."""
    root = root.resolve()

    @app.get("/{path:path}", include_in_schema=False)
    async def spa(path: str) -> Response:
        if path.startswith(("api/", "ws", "metrics", "demo-shop")):
            return JSONResponse({"error": f"/{path} not found"}, status_code=404)
        candidate = (root / path).resolve()
        if path and candidate.is_file() and root in candidate.parents:
            return FileResponse(candidate)
        index = root / "index.html"
        if index.is_file():
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return JSONResponse({"error": "the frontend is not built: run `npm ci && npm run build` in frontend/ "
                                      "(the README's run command does it for you)"}, status_code=404)
