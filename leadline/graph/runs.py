"""Compiled research graphs and their checkpoints, shared by the runs that can share them.

`open_checkpointer` opens LangGraph's SQLite checkpointer with leadline's record types allowed
back in; `saved_spec` reads the spec a checkpointed run was started with (what `resume` goes on
with); `compiled_graph` compiles a graph once per (client, backend, checkpointer).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from leadline.errors import ConfigError
from leadline.graph.build import build_graph
from leadline.graph.state import SERIALIZABLE_TYPES, RunSpec
from leadline.tools.llm import LLMClient
from leadline.tools.search.base import SearchBackend


@asynccontextmanager
async def open_checkpointer(path: Path) -> AsyncIterator[Any]:
    """A SQLite checkpointer that revives leadline's own record types."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path.parent.mkdir(parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        saver.serde = JsonPlusSerializer(allowed_msgpack_modules=SERIALIZABLE_TYPES)
        yield saver


async def saved_spec(checkpointer: Any, run_id: str) -> RunSpec:
    """The spec a checkpointed run was started with."""
    saved = await checkpointer.aget_tuple({"configurable": {"thread_id": run_id}})
    spec = saved.checkpoint.get("channel_values", {}).get("spec") if saved else None
    if not isinstance(spec, RunSpec):
        raise ConfigError(f"no saved run with id {run_id!r} to resume")
    return spec


GraphCache = dict[tuple[int, int, int], tuple[Any, Any, Any, Any]]


def compiled_graph(
    llm: LLMClient, search: SearchBackend, checkpointer: Any, cache: GraphCache | None = None
) -> Any:
    """Compiling costs ~30 ms; runs sharing a client, backend and checkpointer share a graph.

    `cache` belongs to whoever owns those objects (`Services.graphs`), so it goes when they do.
    Entries hold their key objects, so an id cannot be reused by another object while cached.
    """
    key = (id(llm), id(search), id(checkpointer))
    hit = cache.get(key) if cache is not None else None
    if hit is not None and hit[0] is llm and hit[1] is search and hit[2] is checkpointer:
        return hit[3]
    graph = build_graph(llm, search, checkpointer=checkpointer)
    if cache is not None:
        cache[key] = (llm, search, checkpointer, graph)
    return graph
