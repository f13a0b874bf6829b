"""The long-lived things a research run needs, opened once and closed together.

Why it exists: the research engine, the CLI, the API and the batch runner all need the same
set-up — start the embedded llama.cpp server when no endpoint is configured, build one shared
`LLMClient`, later the search backend — and the same tear-down in reverse order. `open_services`
is that one place. With the embedded server, each of its `parallel_slots` keeps its own prefix
cache, so a run pins itself to one slot (`acquire_slot`, `slot_extra_body`) and the shared-KV
layout of its prompts keeps paying off; other endpoints get no `id_slot` (OpenAI rejects
unknown fields).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import openai

from leadline.config import Settings, load_settings
from leadline.errors import ConfigError, LLMUnavailable
from leadline.tools.llm import LLMClient
from leadline.tools.local_model import EmbeddedServer
from leadline.tools.search.base import SearchBackend

if TYPE_CHECKING:
    from leadline.tools.search.catalog import CollectionInfo


@dataclass
class Services:
    """Shared clients for one process. Fields after `server` are filled by their own modules."""

    settings: Settings
    llm: LLMClient
    server: EmbeddedServer | None = None
    # A fixed search backend (tests, custom deployments); else one per collection, on demand.
    search: SearchBackend | None = None
    checkpointer: Any | None = None  # a shared LangGraph checkpointer (API, batch); else per run
    # Whether the endpoint exposes vLLM prefix-cache counters; None until first asked.
    has_cache_metrics: bool | None = None
    # Lists the collections runs may search (`collections`); a `StoreCatalog` on first use.
    catalog: Any | None = None
    # Compiled research graphs by (client, backend, checkpointer); see `graph.runs.compiled_graph`.
    graphs: dict[Any, Any] = field(default_factory=dict, repr=False)
    _free_slots: asyncio.LifoQueue[int] | None = field(default=None, repr=False)
    _backends: dict[str, SearchBackend] = field(default_factory=dict, repr=False)

    def search_backend(self, collection: str | None = None) -> SearchBackend:
        """The search backend for `collection`: the fixed one if set, else the local corpus."""
        if self.search is not None:
            return self.search
        name = collection or self.settings.collection
        if name not in self._backends:
            from leadline.tools.search import open_search_backend

            self._backends[name] = open_search_backend(self.settings, collection=name)
        return self._backends[name]

    def refresh_precompute(self, collection: str) -> None:
        """Use the collection's precomputed results from the next run on (a precompute just
        finished); the backend's clients are kept, only its wrapper is rebuilt."""
        if collection in self._backends:
            from leadline.precompute.search import reattach

            self._backends[collection] = reattach(self._backends[collection])

    async def collections(self) -> list[CollectionInfo] | None:
        """The collections a run may name, with sizes; None when there is nothing to list: a
        fixed search backend (and no catalog) serves whatever name a request gives."""
        if self.catalog is None:
            if self.search is not None:
                return None
            from leadline.tools.search.catalog import StoreCatalog

            self.catalog = StoreCatalog(self.settings)
        return list(await self.catalog.collections())

    @property
    def slots(self) -> int:
        """How many runs can proceed concurrently without evicting each other's KV cache."""
        server = self.server
        return server.parallel_slots if server is not None else self.settings.parallel_slots

    def slot_extra_body(self, slot_id: int) -> dict[str, Any]:
        """Request-body fields pinning a call to KV slot `slot_id` (empty for remote endpoints)."""
        if not 0 <= slot_id < self.slots:
            raise ConfigError(f"slot {slot_id} out of range: this server has {self.slots} slot(s)")
        return {"id_slot": slot_id} if self.server is not None else {}

    @asynccontextmanager
    async def acquire_slot(self) -> AsyncIterator[int]:
        """Hold a free slot of the embedded server for one run; waits while all are busy.

        Remote endpoints schedule their own cache and batching, so runs against them are not
        serialised here (callers bound their own concurrency: batch, API per-key limits).
        """
        if self.server is None:
            yield 0
            return
        if self._free_slots is None:
            # LIFO: a run takes the slot used last, whose cache already holds the shared charter.
            self._free_slots = asyncio.LifoQueue()
            for slot in range(self.slots):
                self._free_slots.put_nowait(slot)
        slot = await self._free_slots.get()
        try:
            yield slot
        finally:
            self._free_slots.put_nowait(slot)


async def discover_model(base_url: str, api_key: str | None, timeout_s: float = 10.0) -> str:
    """The first model a server lists under /models, for servers that host exactly one."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.get(f"{base_url.rstrip('/')}/models", headers=headers)
            response.raise_for_status()
            models = response.json().get("data") or []
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        raise LLMUnavailable(
            f"cannot list models at {base_url} ({exc}); set LEADLINE_MODEL explicitly"
        ) from exc
    if not models or not isinstance(models[0], dict) or "id" not in models[0]:
        raise ConfigError(f"{base_url}/models lists no model; set LEADLINE_MODEL")
    return str(models[0]["id"])


def _configured_client(base_url: str, model: str, settings: Settings) -> LLMClient:
    return LLMClient(
        base_url=base_url,
        model=model,
        api_key=settings.api_key,
        timeout_s=settings.request_timeout_s,
        max_retries=settings.max_retries,
    )


# What `llm=` may be: leadline's client, any `openai` client (sync or async), or a base URL.
LLMLike = LLMClient | openai.AsyncOpenAI | openai.OpenAI | str


async def _client_for(llm: LLMLike, settings: Settings) -> LLMClient:
    """An `LLMClient` for a caller's `openai` client (sharing its connection pool, headers and
    key; leadline's own retries replace the client's) or for a base URL."""
    if isinstance(llm, LLMClient):
        return llm
    if isinstance(llm, str):
        base_url, api_key, client = llm, settings.api_key, None
    elif isinstance(llm, openai.AsyncOpenAI):
        base_url, api_key, client = str(llm.base_url), llm.api_key, llm
    elif isinstance(llm, openai.OpenAI):  # the sync client cannot be awaited: same endpoint
        base_url, api_key, client = str(llm.base_url), llm.api_key, None
    else:
        raise ConfigError(
            f"llm must be a base URL, an openai.OpenAI/AsyncOpenAI client or an LLMClient, "
            f"not {type(llm).__name__}"
        )
    return LLMClient(
        base_url=base_url,
        model=settings.model or await discover_model(base_url, api_key),
        api_key=api_key,
        timeout_s=settings.request_timeout_s,
        max_retries=settings.max_retries,
        client=client,
    )


@asynccontextmanager
async def open_services(
    settings: Settings | None = None,
    *,
    llm: LLMLike | None = None,
    search: SearchBackend | None = None,
) -> AsyncIterator[Services]:
    """Start (or connect to) the LLM endpoint and yield `Services`; close all of it on exit.

    `llm` replaces the configured endpoint (no embedded server starts), `search` the local
    corpus. Both stay the caller's: they are not closed here (a client made for a URL is).
    """
    settings = settings or load_settings()
    async with AsyncExitStack() as stack:
        server: EmbeddedServer | None = None
        if llm is not None:
            client = await _client_for(llm, settings)
            # The settings say which endpoint runs are sent to (cache pinning, metrics).
            settings = settings.model_copy(update={"base_url": client.base_url})
            if client is not llm:
                stack.push_async_callback(client.aclose)
        elif settings.uses_embedded_model:
            server = await stack.enter_async_context(EmbeddedServer.from_settings(settings))
            client = _configured_client(server.base_url, server.model_name, settings)
            stack.push_async_callback(client.aclose)
        else:
            base_url = str(settings.base_url)
            model = settings.model or await discover_model(base_url, settings.api_key)
            client = _configured_client(base_url, model, settings)
            stack.push_async_callback(client.aclose)
        services = Services(settings=settings, llm=client, server=server, search=search)

        async def close_search() -> None:  # whatever backends exist by the time we exit
            for backend in [services.search, services.catalog, *services._backends.values()]:
                closer = getattr(backend, "aclose", None)
                if closer is not None and backend is not search:
                    await closer()

        stack.push_async_callback(close_search)
        yield services
