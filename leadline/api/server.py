"""Running the API under uvicorn: the bind check, prompt shutdown of event streams, `serve`.

The server refuses a non-loopback host unless API keys are configured: an open research endpoint
spends model tokens for anyone who finds it. On shutdown, `ApiServer` first tells the job
manager to stop, which ends every open event stream (clients reconnect with `Last-Event-ID`
after the restart), so uvicorn does not wait on streams that would never close by themselves.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Any

import uvicorn
from fastapi import FastAPI

from leadline.api.config import ApiConfig
from leadline.config import Settings
from leadline.errors import ConfigError

GRACEFUL_SHUTDOWN_S = 5


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, config: ApiConfig) -> None:
    """Refuse to listen beyond this machine without API keys."""
    if not is_loopback(host) and not config.api_keys:
        raise ConfigError(
            f"refusing to listen on {host}: without API keys anyone who can reach it can spend "
            "your model budget; set LEADLINE_API_KEYS=key1,key2 or bind 127.0.0.1"
        )


def page_url(host: str, port: int) -> str:
    """The address a person opens in a browser: the research page at `/`."""
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


class ApiServer(uvicorn.Server):
    """uvicorn's server, ending the app's event streams before waiting on connections, and
    saying where the research page is once it listens (`announce`), so a person knows what
    to open."""

    announce: str | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.announce:
            logging.getLogger("uvicorn.error").info("%s", self.announce)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        app = self.config.app
        jobs = getattr(getattr(app, "state", None), "jobs", None)
        if jobs is not None:
            jobs.begin_shutdown()
        await super().shutdown(sockets)


def make_server(
    app: FastAPI, host: str = "127.0.0.1", port: int = 8000, **kwargs: Any
) -> ApiServer:
    options: dict[str, Any] = {
        "lifespan": "on",
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
        "server_header": False,
        "log_level": "info",
        **kwargs,
    }
    return ApiServer(uvicorn.Config(app, host=host, port=port, **options))


def serve(
    settings: Settings, config: ApiConfig, *, host: str = "127.0.0.1", port: int = 8000
) -> int:
    """Run the API until interrupted (what `leadline serve` calls)."""
    from leadline.api.app import create_app

    check_bind(host, config)
    app = create_app(settings, api_config=config)
    server = make_server(QuietStartupFailure(app), host=host, port=port)
    url = page_url(host, port)
    server.announce = f"leadline: research page at {url} (API docs at {url}docs)"
    try:
        server.run()
    except SystemExit:  # uvicorn's way of saying that start-up failed
        if app.state.startup_error is None:
            raise
    if app.state.startup_error is not None:  # one line from the CLI, exit status 2
        raise app.state.startup_error
    return 0 if server.started else 1


class QuietStartupFailure:
    """The app, except that a start-up which failed with a LeadlineError (an endpoint that is
    down, a store that cannot be opened) is reported without its traceback: the message alone
    says what to fix, and `serve` raises the error itself once uvicorn has stopped."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.state = app.state  # ApiServer.shutdown looks for the job manager here

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def quiet_send(message: Any) -> None:
            if message["type"] == "lifespan.startup.failed" and self.state.startup_error:
                message = {**message, "message": ""}
            await send(message)

        await self.app(scope, receive, quiet_send)
