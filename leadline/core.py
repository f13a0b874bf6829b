"""The public core: `aresearch` answers one question under a budget; `research` is its sync twin.

CLI, API, batch and evals are thin adapters over this. A run is a LangGraph thread: with a
checkpointer it is saved after every step and `resume=True` continues an interrupted run by its
id without redoing finished steps. Progress is reported as plain dict events through `on_event`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Unpack

from leadline.agents.workspace import Evidence, Note, PlanEntry, evidence
from leadline.budgets.allocate import load_model
from leadline.budgets.budget import Budget
from leadline.budgets.ledger import (
    AnytimeAnswer,
    LedgerEvent,
    RunUsage,
    summarize,
    total_spend,
    write_jsonl,
)
from leadline.config import Settings
from leadline.errors import ConfigError
from leadline.graph.build import LLM_EXTRA_KEY, ON_PLAN_KEY, OnPlan
from leadline.graph.read import confidence
from leadline.graph.runs import GraphCache, compiled_graph, open_checkpointer, saved_spec
from leadline.graph.state import (
    DEFAULT_POOL_PER_QUERY,
    DEFAULT_READER_PASSAGES,
    AnswerSource,
    Citation,
    FinalAnswer,
    PoolHit,
    RunSpec,
)
from leadline.options import OPTION_NAMES, OptionFields, ResearchOptions
from leadline.services import LLMLike, Services, open_services
from leadline.sync import blocking
from leadline.text import first_lone_surrogate
from leadline.tools.llm import LLMClient
from leadline.tools.search.base import SearchBackend, check_backend
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
    # Each reader sample's short answer (one per unit of `caps.width`; the vote's input).
    reader_samples: list[str] = field(default_factory=list)
    # Reader replies that were not the kind of answer the question asks for, each read again
    # under a constraint ("yes" to a "who" question, a name to a "how many" question).
    reader_rereads: list[str] = field(default_factory=list)
    # The answer of the reader's second look at one passage more, taken only when it was unsure
    # of its first; the answer is this one when the reader was surer of it. "": no second look.
    reader_second_look: str = ""
    # Log-probabilities of the reader's (greedy) answer tokens, where the endpoint gives them;
    # `reader_confidence` is their geometric-mean probability.
    answer_logprobs: list[float] = field(default_factory=list)
    # What the allocate policy chose for this question (search steps, reasoning tokens, width)
    # and the EM and cost its law predicted; None under the other policies.
    allocation: dict[str, Any] | None = None

    @property
    def reader_confidence(self) -> float | None:
        """How sure the reader was of its answer (0–1); None without log-probabilities."""
        value = confidence(self.answer_logprobs)
        return None if value is None else round(value, 4)

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
            "reader_samples": self.reader_samples,
            "reader_rereads": self.reader_rereads,
            "reader_second_look": self.reader_second_look,
            "reader_confidence": self.reader_confidence,
            "allocation": self.allocation,
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


def run_spec(
    question: str,
    budget: Budget,
    options: ResearchOptions,
    llm_extra: dict[str, Any],
    allocation_model: Path | None = None,
) -> RunSpec:
    """The spec of one run from resolved options (`ResearchOptions.resolved`); the allocate
    policy's law is read from `allocation_model` (None: the one shipped)."""
    return RunSpec(
        question=question,
        budget=budget,
        policy=options.policy,
        shape=options.shape,
        kv_mode=options.kv_mode or "shared",
        collection=options.collection,
        passages_per_query=options.passages_per_query or DEFAULT_POOL_PER_QUERY,
        reader_passages=options.reader_passages or DEFAULT_READER_PASSAGES,
        follow_links=options.follow_links is not False,
        stop_confidence=options.stop_confidence or None,  # 0: never read early
        llm_extra=llm_extra,
        allocation=load_model(allocation_model) if options.policy == "allocate" else None,
    )


def progress_event(
    node: str, update: dict[str, Any], spent_events: list[LedgerEvent]
) -> list[dict[str, Any]]:
    """Turn one graph update into the progress events users see (plan, search, reason, the
    early read, answer)."""
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
        for note in update.get("entries", []):
            if isinstance(note, Note):  # what the step made of the evidence, for people watching
                out["note"] = note.text
                if note.found:
                    out["found"] = note.found
        for a in update.get("anytime", []):
            out.update(answer=a.answer, confidence=a.confidence)
        if update.get("queries"):
            out["next_queries"] = update["queries"]
        if update.get("stop_reason"):
            out["stop_reason"] = update["stop_reason"]
        return [out]
    if node == "read_early":
        early, final = update.get("early_read"), update.get("final")
        if early is None:
            return []
        read = {
            "type": "read",
            "answer": early.answer,
            "confidence": confidence(early.answer_logprobs),
            "stopped": final is not None,
            "spend": spend,
        }
        return [read] if final is None else [read, answer_event(final, spend)]
    if node == "answer":
        return [answer_event(update["final"], spend)]
    return []


def answer_event(final: FinalAnswer, spend: dict[str, Any]) -> dict[str, Any]:
    return {"type": "answer", "answer": final.answer, "source": final.source, "spend": spend}


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
        reader_samples=list(final.samples) if final else [],
        reader_rereads=list(final.rereads) if final else [],
        reader_second_look=final.second_look if final else "",
        answer_logprobs=list(final.answer_logprobs) if final else [],
        allocation=values.get("allocation"),
    )


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


async def _prefix_cache_counters(services: Services) -> PrefixCacheCounters | None:
    """The endpoint's vLLM prefix-cache counters; asked once per process if it has none."""
    if services.settings.uses_embedded_model or services.has_cache_metrics is False:
        return None
    counters = await read_prefix_cache_counters(services.llm.base_url)
    services.has_cache_metrics = counters is not None
    return counters


async def _open(
    stack: AsyncExitStack,
    services: Services | None,
    settings: Settings | None,
    llm: LLMLike | None,
    search: SearchBackend | None,
) -> Services:
    """The caller's services, or new ones (closed with `stack`) for `settings`, `llm`, `search`."""
    if services is None:
        return await stack.enter_async_context(open_services(settings, llm=llm, search=search))
    if llm is not None:
        raise ConfigError("pass llm= or services=, not both: services hold their own LLM client")
    return services


async def _checkpointer(stack: AsyncExitStack, services: Services, checkpoint: bool) -> Any:
    """The services' shared checkpointer, else one on `runs.sqlite`; None without `checkpoint`."""
    if not checkpoint:
        return None
    return services.checkpointer or await stack.enter_async_context(
        open_checkpointer(services.settings.data_dir / "runs.sqlite")
    )


async def aresearch(
    question: str,
    *,
    budget: Budget | None = None,
    options: ResearchOptions | None = None,
    search: SearchBackend | None = None,
    llm: LLMLike | None = None,
    settings: Settings | None = None,
    services: Services | None = None,
    run_id: str | None = None,
    resume: bool = False,
    checkpoint: bool = True,
    ledger_path: Path | str | None = None,
    on_event: EventCallback | None = None,
    on_plan: OnPlan | None = None,
    **option_fields: Unpack[OptionFields],
) -> ResearchResult:
    """Answer one question with citations, never spending more than `budget`.

    - `budget`: the hard caps (default `Budget()`: 16,000 tokens, 6 search steps);
    - `options`: how to research (`ResearchOptions`); any of its fields may also be given as a
      keyword (`policy="fixed"`, `collection="hotpot"`), which overrides `options`;
    - `search`: any object with `async search(query, k) -> list[Passage]`, instead of the local
      corpus; `llm`: a base URL, an `openai.OpenAI`/`AsyncOpenAI` client or an `LLMClient`,
      instead of the configured endpoint (or the embedded model);
    - `settings`: where everything else comes from (default `load_settings()`); `services`:
      long-lived clients from `leadline.services.open_services`, to share one model server
      across many questions (then `llm` is theirs; `search` still overrides theirs);
    - `run_id`, `resume`: continue an interrupted, checkpointed run (`checkpoint=True` saves
      every step in `runs.sqlite` under the data directory); `ledger_path`: append the run's
      ledger as JSONL; `on_event`: progress events as dicts; `on_plan`: may resize the budget
      once the planner has estimated the question's difficulty.

    Raises `ConfigError` (bad input), `BudgetError`, `LLMError` when the endpoint cannot be
    reached at the start; a model or search failure mid-run ends it with `stop_reason="error"`.
    """
    unknown = option_fields.keys() - OPTION_NAMES
    if unknown:
        raise TypeError(f"aresearch() got an unexpected keyword argument {sorted(unknown)[0]!r}")
    question = validate_question(question)
    options = (options or ResearchOptions()).updated(**option_fields)
    if search is not None:
        check_backend(search)
    async with AsyncExitStack() as stack:
        services = await _open(stack, services, settings, llm, search)
        settings = services.settings
        slot = await stack.enter_async_context(services.acquire_slot())
        run_id = run_id or uuid.uuid4().hex
        spec = run_spec(
            question,
            budget or Budget(),
            options.resolved(settings),
            llm_extra={**services.slot_extra_body(slot), **cache_pinning(settings, run_id)},
            allocation_model=settings.allocation_model,
        )
        checkpointer = await _checkpointer(stack, services, checkpoint)
        if resume and checkpointer is not None:
            # A resumed run goes on as it was started (question, budget, options, collection);
            # only the request fields are this process's: the KV slot it holds now.
            spec = replace(await saved_spec(checkpointer, run_id), llm_extra=spec.llm_extra)
        counters_before = await _prefix_cache_counters(services)
        result = await run_graph(
            spec,
            llm=services.llm,
            search=search or services.search_backend(spec.collection),
            run_id=run_id,
            checkpointer=checkpointer,
            resume=resume,
            on_event=on_event,
            on_plan=on_plan,
            graph_cache=services.graphs,
        )
        if counters_before is not None:
            after = await _prefix_cache_counters(services)
            if after is not None:
                usage = replace(result.usage, server_prefix_cache=after - counters_before)
                result = replace(result, usage=usage)
    if ledger_path is not None:
        write_jsonl(ledger_path, result.events, result.anytime, result.run_id, result.caps)
    return result


research = blocking(
    aresearch,
    name="research",
    doc="""Synchronous `aresearch` (same arguments, same result), for scripts and notebooks.

    It works inside a running event loop too (Jupyter, IPython): the run then goes on a fresh
    loop in a worker thread while the caller waits. There, `await aresearch(...)` is better, and
    objects bound to the caller's loop (clients opened in it) cannot be passed in.
    """,
)


__all__: Sequence[str] = [
    "Citation",
    "ResearchOptions",
    "ResearchResult",
    "aresearch",
    "research",
    "run_graph",
]
