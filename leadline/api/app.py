"""The FastAPI research assistant API, built by `create_app` (nothing is built at import time).

The app's lifespan opens the long-lived pieces once and closes them in reverse: the `Services`
(one LLM client or embedded model), a LangGraph checkpointer shared by every run, the job store,
and the `JobManager` whose asyncio tasks run the jobs. On start the manager resumes what a
previous process left unfinished. `uvicorn leadline.api.app:create_app --factory` works too, but
`leadline serve` adds the loopback/API-key check and ends event streams promptly on shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi_offline import FastAPIOffline

from leadline.api.chat import build_chat_router
from leadline.api.config import ApiConfig, load_api_config
from leadline.api.jobs import JobManager
from leadline.api.options import build_options_router
from leadline.api.precompute import build_precompute_router
from leadline.api.routes import build_research_router
from leadline.api.security import (
    BodyLimitMiddleware,
    HostCheckMiddleware,
    SafeJSONResponse,
    error_response,
    install_error_handlers,
)
from leadline.api.store import open_api_checkpointer, open_store
from leadline.config import Settings, load_settings
from leadline.errors import LeadlineError
from leadline.version import __version__
from leadline.web import mount_page

ServicesFactory = Callable[[Settings], AbstractAsyncContextManager[Any]]

DESCRIPTION = """\
Deep research as a service. `POST /v1/research` starts a job (202, then follow
`/v1/research/{id}/events` or poll `/v1/research/{id}`); `POST /v1/chat/completions` with model
`leadline` answers through the OpenAI chat API, citations included. When the server has API keys,
send `Authorization: Bearer <key>`. Errors are `{"error": {"message", "type", "code", "param"}}`.
"""


def create_app(
    settings: Settings | None = None,
    *,
    api_config: ApiConfig | None = None,
    services_factory: ServicesFactory | None = None,
) -> FastAPI:
    """The API app; `services_factory(settings)` yields its `Services` (default `open_services`)."""
    config = api_config or load_api_config()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from leadline.services import open_services

        resolved = settings or load_settings()
        factory = services_factory or open_services
        async with AsyncExitStack() as stack:
            try:
                services = await stack.enter_async_context(factory(resolved))
            except LeadlineError as exc:  # e.g. the endpoint is down: `serve` says so in a line
                app.state.startup_error = exc
                raise
            if getattr(services, "checkpointer", None) is None:
                services.checkpointer = await stack.enter_async_context(
                    open_api_checkpointer(config.db_url, resolved.data_dir)
                )
            store = await stack.enter_async_context(open_store(config.db_url, resolved.data_dir))
            jobs = JobManager(store, services, config)
            stack.push_async_callback(jobs.close)
            await jobs.start()
            app.state.jobs = jobs
            app.state.services = services
            app.state.sleep = None
            if config.precompute_collections:
                from leadline.precompute.sleep import SleepTimeRunner

                sleep = SleepTimeRunner(
                    services,
                    config.precompute_collections,
                    max_tokens=config.precompute_max_tokens,
                )
                sleep.set_busy(jobs.running() > 0)
                jobs.busy_listeners.append(sleep.set_busy)
                sleep.start()
                stack.push_async_callback(sleep.close)
                app.state.sleep = sleep
            yield

    # FastAPI's own /docs loads Swagger UI from a CDN, which offline and air-gapped deployments
    # cannot reach; FastAPIOffline serves the same pages with bundled scripts.
    app = FastAPIOffline(
        title="leadline",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        default_response_class=SafeJSONResponse,
    )
    app.state.api_config = config
    app.state.startup_error = None
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_bytes)
    app.add_middleware(  # outermost: a rebinding page's request is refused before anything
        HostCheckMiddleware, allowed_hosts=config.allowed_hosts, enforce=not config.api_keys
    )
    install_error_handlers(app)
    app.include_router(build_research_router())
    app.include_router(build_chat_router())
    app.include_router(build_precompute_router())
    app.include_router(build_options_router())
    mount_page(app)

    @app.get("/healthz", tags=["health"])
    async def healthz(request: Request) -> Any:
        """Liveness and load: 200 while serving, 503 before start-up or while stopping."""
        jobs: JobManager | None = getattr(request.app.state, "jobs", None)
        if jobs is None or jobs.stopping.is_set():
            return error_response(
                503, "not serving: starting up or shutting down", code="not_ready"
            )
        return {
            "status": "ok",
            "version": __version__,
            "jobs_running": jobs.running(),
            "auth": bool(config.api_keys),
        }

    return app
