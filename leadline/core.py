"""The public core: `aresearch` answers one question under a budget; `research` is its sync twin.

CLI, API, batch and evals are thin adapters over this. A run is a LangGraph thread: with a
checkpointer it is saved after every step and `resume=True` continues an interrupted run by its
id without redoing finished steps. Progress is reported as plain dict events through `on_event`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from leadline.agents.workspace import Evidence, Note, PlanEntry, evidence
from leadline.budgets.budget import Budget
from leadline.budgets.controller import Policy, ShapeMode
from leadline.budgets.ledger import (
    AnytimeAnswer,
    LedgerEvent,
    RunUsage,
    summarize,
    total_spend,
    write_jsonl,
)
from leadline.config import KVMode, Settings
from leadline.errors import ConfigError
from leadline.graph.build import LLM_EXTRA_KEY, ON_PLAN_KEY, OnPlan, build_graph
from leadline.graph.state import SERIALIZABLE_TYPES, AnswerSource, Citation, PoolHit, RunSpec
from leadline.text import first_lone_surrogate
from leadline.tools.llm import LLMClient
from leadline.tools.search.base import SearchBackend
from leadline.tools.server_metrics import PrefixCacheCounters, read_prefix_cache_counters

MAX_QUESTION_CHARS = 4000
EventCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class ResearchResult:
    """One run's outcome: the answer with its citations, what it spent (`usage`, a `RunUsage`)
    against its caps (`caps`, the run's `Budget`), why it stopped, and its full record (the
    anytime answers, every ledger event, the evidence and the pool). `to_dict()` is the JSON
    `leadline ask --json` prints and the API returns as a job's result."""

    run_id: str
    question: str
    answer: str
    citations: list[Citation]
    usage: RunUsage
    caps: Budget
    stop_reason: str
    anytime: list[AnytimeAnswer] = field(default_factory=list)
    events: list[LedgerEvent] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    error: str = ""
    wall_s: float = 0.0
    # Where the answer came from: "reader" (the final reader call), "anytime" (the reader could
    # not answer, so the reasoner's last interim answer was used) or "none".
    answer_source: AnswerSource = "none"
    pool: list[PoolHit] = field(default_factory=list)
    found: list[str] = field(default_factory=list)  # what each hop established, in order

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "question": self.question,
            "answer": self.answer,
            "citations": [asdict(c) for c in self.citations],
            "usage": self.usage.to_dict(),
            "caps": self.caps.to_dict(),
            "stop_reason": self.stop_reason,
            "answer_source": self.answer_source,
            "anytime": [asdict(a) for a in self.anytime],
            "error": self.error,
            "wall_s": round(self.wall_s, 3),
        }


def cache_pinning(settings: Settings, run_id: str) -> dict[str, Any]:
    """Request-body fields that keep a run on one prefix cache, per endpoint dialect.

    The embedded llama.cpp server is pinned by slot elsewhere (`Services.slot_extra_body`);
    OpenAI routes requests with the same `prompt_cache_key` to the same cache; vLLM shares its
    cache only between requests with the same `cache_salt` (tenant isolation).
    """
    if settings.base_url is None:
        return {}
    body: dict[str, Any] = {}
    if "api.openai.com" in settings.base_url:
        body["prompt_cache_key"] = f"leadline-{run_id}"
    if settings.cache_salt:
        body["cache_salt"] = settings.cache_salt
    return body


def validate_question(question: str) -> str:
    text = " ".join((question or "").split())
    if not text:
        raise ConfigError("the question is empty")
    # A lone surrogate (JSON "\ud800", or argv bytes that are not UTF-8) is not text: it cannot
    # be encoded as UTF-8, so it would crash whatever writes it out (a batch file, the job store).
    bad = first_lone_surrogate(text)
    if bad is not None:
        raise ConfigError(
            f"the question holds text that is not valid Unicode (a lone surrogate, "
            f"U+{ord(text[bad]):04X}, at character {bad + 1}); send UTF-8 text"
        )
    if len(text) > MAX_QUESTION_CHARS:
        raise ConfigError(
            f"the question is {len(text)} characters long; the limit is {MAX_QUESTION_CHARS}"
        )
    return text


def reader_setting(name: str, value: int | None, default: int) -> int:
    """`passages_per_query` / `reader_passages`: 1..20, else the settings' value."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 20:
        raise ConfigError(f"{name} must be an integer in 1..20, got {value!r}")
    return value


def progress_event(
    node: str, update: dict[str, Any], spent_events: list[LedgerEvent]
) -> list[dict[str, Any]]:
    """Turn one graph update into the progress events users see (plan, search, reason, answer)."""
    spent_events.extend(update.get("events", []))
    spend = total_spend(spent_events).to_dict()
    if node == "plan":
        plan: PlanEntry = update["plan"]
        return [
            {
                "type": "plan",
                "hops": plan.hops,
                "shape": plan.shape,
                "queries": list(plan.queries),
                "sub_questions": list(plan.sub_questions),
                "spend": spend,
            }
        ]
    if node in ("search", "links"):  # a link step reports like a search
        return [
            {
                "type": "search",
                "query": e.detail,
                "error": e.error,
                "passages": [ev.title for ev in update.get("entries", [])],
                "spend": spend,
            }
            for e in update.get("events", [])
            if e.kind == "search"
        ]
    if node == "reason":
        out: dict[str, Any] = {"type": "reason", "step": update.get("step"), "spend": spend}
        for a in update.get("anytime", []):
            out.update(answer=a.answer, confidence=a.confidence)
        if update.get("queries"):
            out["next_queries"] = update["queries"]
        if update.get("stop_reason"):
            out["stop_reason"] = update["stop_reason"]
        return [out]
    if node == "answer":
        final = update["final"]
        return [{"type": "answer", "answer": final.answer, "source": final.source, "spend": spend}]
    return []


def build_result(run_id: str, values: dict[str, Any], wall_s: float) -> ResearchResult:
    spec: RunSpec = values["spec"]
    final = values.get("final")
    events = list(values.get("events", []))
    return ResearchResult(
        run_id=run_id,
        question=spec.question,
        answer=final.answer if final else "",
        citations=list(final.citations) if final else [],
        usage=summarize(events, spec.budget),
        caps=spec.budget,
        stop_reason=values.get("stop_reason", "error" if not final else "done"),
        anytime=list(values.get("anytime", [])),
        events=events,
        evidence=evidence(values.get("entries", [])),
        error=values.get("error", ""),
        wall_s=wall_s,
        answer_source=final.source if final else "none",
        found=[e.found for e in values.get("entries", []) if isinstance(e, Note) and e.found],
        pool=list(values.get("pool", [])),
    )


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


async def run_graph(
    spec: RunSpec,
    *,
    llm: LLMClient,
    search: SearchBackend,
    run_id: str | None = None,
    checkpointer: Any = None,
    resume: bool = False,
    on_event: EventCallback | None = None,
    on_plan: OnPlan | None = None,
    graph_cache: GraphCache | None = None,
) -> ResearchResult:
    """Run (or resume) one research graph with explicit dependencies."""
    run_id = run_id or uuid.uuid4().hex
    graph = compiled_graph(llm, search, checkpointer, graph_cache)
    configurable: dict[str, Any] = {"thread_id": run_id, LLM_EXTRA_KEY: spec.llm_extra}
    if on_plan is not None:
        configurable[ON_PLAN_KEY] = on_plan
    config = {"configurable": configurable, "recursion_limit": 1000}
    started = time.perf_counter()
    inputs: dict[str, Any] | None = {"spec": spec}
    seen: list[LedgerEvent] = []
    if resume:
        if checkpointer is None:
            raise ConfigError("resuming a run needs a checkpointer")
        snapshot = await graph.aget_state(config)
        if not snapshot.values:
            raise ConfigError(f"no saved run with id {run_id!r} to resume")
        if not snapshot.next:  # already finished: just return it
            return build_result(run_id, snapshot.values, 0.0)
        inputs = None
        seen.extend(snapshot.values.get("events", []))
    values: dict[str, Any] = {}
    async for mode, chunk in graph.astream(inputs, config, stream_mode=["updates", "values"]):
        if mode == "values":
            values = chunk
        elif on_event is not None:
            for node, update in chunk.items():
                if isinstance(update, dict):
                    for event in progress_event(node, update, seen):
                        on_event({"run_id": run_id, **event})
    return build_result(run_id, values, time.perf_counter() - started)


async def _prefix_cache_counters(services: Any) -> PrefixCacheCounters | None:
    """The endpoint's vLLM prefix-cache counters; asked once per process if it has none."""
    if services.settings.uses_embedded_model or services.has_cache_metrics is False:
        return None
    counters = await read_prefix_cache_counters(services.llm.base_url)
    services.has_cache_metrics = counters is not None
    return counters


async def aresearch(
    question: str,
    *,
    budget: Budget | None = None,
    policy: Policy = "adaptive",
    shape: ShapeMode = "auto",
    kv_mode: KVMode | None = None,
    collection: str | None = None,
    passages_per_query: int | None = None,
    reader_passages: int | None = None,
    follow_links: bool | None = None,
    settings: Settings | None = None,
    services: Any = None,
    run_id: str | None = None,
    resume: bool = False,
    ledger_path: Path | str | None = None,
    on_event: EventCallback | None = None,
    on_plan: OnPlan | None = None,
    checkpoint: bool = True,
) -> ResearchResult:
    """Answer one question with citations, never spending more than `budget`."""
    from leadline.services import open_services

    question = validate_question(question)
    if policy not in ("fixed", "adaptive"):
        raise ConfigError(f"unknown policy {policy!r}; use 'fixed' or 'adaptive'")
    if shape not in ("sequential", "parallel", "auto"):
        raise ConfigError(f"unknown shape {shape!r}; use 'sequential', 'parallel' or 'auto'")
    async with AsyncExitStack() as stack:
        if services is None:
            services = await stack.enter_async_context(open_services(settings))
        settings = services.settings
        kv = kv_mode or settings.kv_mode
        if kv not in ("shared", "isolated"):
            raise ConfigError(f"unknown kv_mode {kv!r}; use 'shared' or 'isolated'")
        slot = await stack.enter_async_context(services.acquire_slot())
        run_id = run_id or uuid.uuid4().hex
        spec = RunSpec(
            question=question,
            budget=budget or Budget(),
            policy=policy,
            shape=shape,
            kv_mode=kv,
            collection=collection or settings.collection,
            passages_per_query=reader_setting(
                "passages_per_query", passages_per_query, settings.passages_per_query
            ),
            reader_passages=reader_setting(
                "reader_passages", reader_passages, settings.reader_passages
            ),
            follow_links=settings.follow_links if follow_links is None else bool(follow_links),
            llm_extra={**services.slot_extra_body(slot), **cache_pinning(settings, run_id)},
        )
        checkpointer = None
        if checkpoint:
            checkpointer = getattr(
                services, "checkpointer", None
            ) or await stack.enter_async_context(
                open_checkpointer(settings.data_dir / "runs.sqlite")
            )
        if resume and checkpointer is not None:
            # A resumed run goes on as it was started (question, budget, options, collection);
            # only the request fields are this process's: the KV slot it holds now.
            spec = replace(await saved_spec(checkpointer, run_id), llm_extra=spec.llm_extra)
        counters_before = await _prefix_cache_counters(services)
        result = await run_graph(
            spec,
            llm=services.llm,
            search=services.search_backend(spec.collection),
            run_id=run_id,
            checkpointer=checkpointer,
            resume=resume,
            on_event=on_event,
            on_plan=on_plan,
            graph_cache=getattr(services, "graphs", None),
        )
        if counters_before is not None:
            after = await _prefix_cache_counters(services)
            if after is not None:
                usage = replace(result.usage, server_prefix_cache=after - counters_before)
                result = replace(result, usage=usage)
    if ledger_path is not None:
        write_jsonl(ledger_path, result.events, result.anytime, result.run_id)
    return result


def research(question: str, **kwargs: Any) -> ResearchResult:
    """Synchronous `aresearch`, for scripts and notebooks without an event loop."""
    return asyncio.run(aresearch(question, **kwargs))


__all__: Sequence[str] = ["Citation", "ResearchResult", "aresearch", "research", "run_graph"]
