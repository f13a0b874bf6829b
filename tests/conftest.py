"""Shared fixtures: a scripted LLM server factory for unit tests, the real embedded model once.

Unit tests talk to `ScriptedLLMServer` over real HTTP on 127.0.0.1, so retries, timeouts and
usage parsing are exercised exactly as in production. Tests marked `@pytest.mark.model` share
one embedded llama.cpp server with the 0.5B model per session: loading a model costs seconds,
and sharing it is also what lets prefix-cache tests see a warm cache.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from leadline.config import load_settings
from leadline.tools.llm import LLMClient
from tests.fakes.llm_server import Handler, Reply, ScriptedLLMServer, script

MakeScripted = Callable[..., ScriptedLLMServer]
MakeClient = Callable[..., LLMClient]

# The embedded test server: two slots so slot pinning can be tested, and enough context per
# slot for a ~1,000-token shared prefix plus a reply.
TEST_MODEL_SIZE = "0.5b"
TEST_SLOTS = 2
TEST_CTX_PER_SLOT = 4096


@pytest.fixture
def scripted_llm() -> Iterator[MakeScripted]:
    """Factory: `scripted_llm("a", Reply(status=429), ...)` or `scripted_llm(handler=fn)`.

    Replies play in order (the last repeats). Servers stop when the test ends.
    """
    servers: list[ScriptedLLMServer] = []

    def make(
        *replies: str | Reply, handler: Handler | None = None, **kwargs: Any
    ) -> ScriptedLLMServer:
        if (handler is None) == (not replies):
            raise TypeError("pass either replies or handler=")
        server = ScriptedLLMServer(handler or script(*replies), **kwargs).__enter__()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture
async def llm_client() -> AsyncIterator[MakeClient]:
    """Factory: an LLMClient for a server, with millisecond backoff so retry tests stay fast."""
    clients: list[LLMClient] = []

    def make(server: ScriptedLLMServer | str, **kwargs: Any) -> LLMClient:
        base_url = server if isinstance(server, str) else server.base_url
        options: dict[str, Any] = {
            "model": "scripted",
            "timeout_s": 5.0,
            "max_retries": 3,
            "backoff_initial_s": 0.01,
            "backoff_max_s": 0.05,
        }
        client = LLMClient(base_url=base_url, **{**options, **kwargs})
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The real embedded server with the 0.5B model, started once per session.

    The model is installed (idempotently, verified) into LEADLINE_DATA_DIR or the default data
    directory, so `make test` on a fresh machine works after `make setup` and costs nothing
    extra afterwards.
    """
    from leadline.tools.local_model import EmbeddedServer, install_model

    settings = load_settings(
        config_file=_no_config(tmp_path_factory),
        environ={k: v for k, v in os.environ.items() if k.startswith("LEADLINE_DATA")},
        model_size=TEST_MODEL_SIZE,
        parallel_slots=TEST_SLOTS,
        ctx_per_slot=TEST_CTX_PER_SLOT,
        threads=min(os.cpu_count() or 2, 4),
    )
    install_model(TEST_MODEL_SIZE, settings)
    with EmbeddedServer.from_settings(settings) as server:
        yield server


@pytest.fixture(scope="session")
def embedded_model(embedded_server: Any) -> str:
    """Base URL (…/v1) of the session's embedded 0.5B server."""
    return str(embedded_server.base_url)


def _no_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty TOML file, so a developer's ./leadline.toml cannot change what tests run."""
    path = tmp_path_factory.mktemp("config") / "leadline.toml"
    path.write_text("")
    return path
