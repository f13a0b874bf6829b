"""The systems an evaluation compares, on the same model, corpus and budget.

- `closed-book`: one short-answer call, no search.
- `rag`: one search for the question (top `RAG_TOP_K` passages), one short-answer call.
- `ircot`: IRCoT-style interleaving (Trivedi et al., 2023): retrieve for the question, then
  alternate one chain-of-thought sentence with a retrieval that uses that sentence as the query,
  until the chain says "the answer is" or the budget ends; a direct reader then answers from
  all passages gathered (the same reader as `rag`, so only retrieval differs).
- `leadline-POLICY-SHAPE`: the research graph (`run_graph`) with that policy and shape;
  `-nolinks` runs it without link steps, to measure what the link graph (sleep-time compute)
  buys on the same collection in the same evaluation.

Baselines obey the same budget as leadline: every LLM call goes through a `BudgetGuard`, every
search is a ledger event and is issued only if it, and the reader call after it, still fit.
Passages are trimmed exactly as the searcher trims them, so prompt sizes are comparable.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from leadline.agents.prompting import KVMode, render
from leadline.agents.reasoner import UNKNOWN
from leadline.agents.searcher import WORKSPACE_PER_QUERY, evidence_line_tokens, run_search
from leadline.agents.workspace import (
    Entry,
    Evidence,
    PoolHit,
    append_entries,
    evidence,
    render_workspace,
)
from leadline.budgets.allocate import load_model
from leadline.budgets.budget import Budget, Spend, call_estimate, fits
from leadline.budgets.controller import Policy, ShapeMode
from leadline.budgets.guard import BudgetGuard, CallRefused
from leadline.budgets.ledger import AnytimeAnswer, LedgerEvent, RunUsage, summarize, total_spend
from leadline.errors import ConfigError, LLMError, LLMOutputError
from leadline.graph.state import (
    DEFAULT_MAX_PASSAGE_TOKENS,
    DEFAULT_POOL_PER_QUERY,
    DEFAULT_READER_PASSAGES,
    RunSpec,
)
from leadline.tools.llm import LLMClient
from leadline.tools.search.base import SearchBackend
from leadline.tools.tokens import estimate_prompt_tokens, pending_prompt_tokens

SystemKind = Literal["closed-book", "rag", "ircot", "leadline"]
RAG_TOP_K = 5  # DESIGN.md: BM25 top-5 for the question was the measured single-shot setting
IRCOT_K = WORKSPACE_PER_QUERY  # passages kept per retrieval, as leadline's workspace keeps
IRCOT_MAX_SENTENCES = 8
IRCOT_SENTENCE_TOKENS = 64
READER_MAX_TOKENS = 64
NO_RESERVE = Spend()
_ANSWER_IS = re.compile(r"answer is\s*:?\s*(.+)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
_ALIASES = {
    "closedbook": "closed-book",
    "closed_book": "closed-book",
    "single-shot-rag": "rag",
    "single-shot": "rag",
}


@dataclass(frozen=True)
class SystemSpec:
    kind: SystemKind
    policy: Policy = "adaptive"
    shape: ShapeMode = "auto"
    follow_links: bool = True

    @property
    def name(self) -> str:
        if self.kind != "leadline":
            return self.kind
        return f"leadline-{self.policy}-{self.shape}" + ("" if self.follow_links else "-nolinks")


def parse_system(
    name: str, *, policy: Policy = "adaptive", shape: ShapeMode = "auto"
) -> SystemSpec:
    """`closed-book`, `rag`, `ircot`, `leadline`, `leadline-fixed`, `leadline-adaptive-parallel`…

    `policy` and `shape` fill in what a bare `leadline` name leaves open.
    """
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if key in ("closed-book", "rag", "ircot"):
        return SystemSpec(key)  # type: ignore[arg-type]
    head, *parts = key.split("-")
    links = "nolinks" not in parts
    parts = [p for p in parts if p != "nolinks"]
    if head == "leadline" and len(parts) <= 2:
        for part in parts:
            if part in ("fixed", "adaptive", "allocate"):
                policy = part  # type: ignore[assignment]
            elif part in ("sequential", "parallel", "auto"):
                shape = part  # type: ignore[assignment]
            else:
                break
        else:
            return SystemSpec("leadline", policy, shape, links)
    raise ConfigError(
        f"unknown system {name!r}; use closed-book, rag, ircot or "
        "leadline[-fixed|-adaptive|-allocate]"
        "[-sequential|-parallel|-auto][-nolinks]"
    )


@dataclass(frozen=True)
class SystemContext:
    """What a system run may use: the model, the corpus, a KV slot, the prompt layout."""

    llm: LLMClient
    search: SearchBackend | None
    collection: str | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)
    kv_mode: KVMode = "shared"
    max_passage_tokens: int = DEFAULT_MAX_PASSAGE_TOKENS
    passages_per_query: int = DEFAULT_POOL_PER_QUERY
    reader_passages: int = DEFAULT_READER_PASSAGES
    follow_links: bool = True
    allocation_model: Path | None = None  # the law the allocate policy reads (None: shipped)
    stop_confidence: float = 0.0  # stop after round one when the reader is this sure; 0: never


@dataclass(frozen=True)
class SystemOutput:
    answer: str
    usage: RunUsage
    retrieved: list[Evidence]
    stop_reason: str
    anytime: list[AnytimeAnswer] = field(default_factory=list)
    events: list[LedgerEvent] = field(default_factory=list)
    error: str = ""
    wall_s: float = 0.0
    pool: list[PoolHit] = field(default_factory=list)
    found: list[str] = field(default_factory=list)
    answer_source: str = ""
    reader_samples: list[str] = field(default_factory=list)  # leadline's reader, one per width
    reader_rereads: list[str] = field(default_factory=list)  # its replies read again (`misfit`)
    reader_second_look: str = ""  # its second look's answer after an unsure read
    answer_logprobs: list[float] = field(default_factory=list)  # of the reader's greedy answer
    allocation: dict[str, Any] | None = None  # what the allocate policy chose


class ReaderOutput(BaseModel):
    answer: str = Field("", max_length=300)


class _Meter:
    """The ledger and budget checks of one baseline run."""

    def __init__(self, budget: Budget, ctx: SystemContext) -> None:
        self.budget = budget
        self.ctx = ctx
        self.events: list[LedgerEvent] = []

    @property
    def spent(self) -> Spend:
        return total_spend(self.events)

    def can_search(self, reserve: Spend) -> bool:
        return self.ctx.search is not None and fits(
            self.budget, self.spent, Spend(search_steps=1) + reserve
        )

    async def search(self, query: str, entries: list[Entry], keep: int, step: int) -> list[Entry]:
        """Run one query (the caller checked `can_search`) and append the new passages."""
        if self.ctx.search is None:
            raise ConfigError("this system needs a search backend")
        seen = [e.passage_id for e in evidence(entries)]
        outcome = await run_search(
            self.ctx.search, query, seen, keep=keep, max_tokens=self.ctx.max_passage_tokens
        )
        self.events.append(
            LedgerEvent(
                kind="search",
                agent="searcher",
                step=step,
                search_steps=1,
                latency_s=round(outcome.latency_s, 4),
                detail=query,
                error=outcome.error,
            )
        )
        return append_entries(entries, outcome.evidence)

    async def call(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        agent: str,
        step: int,
        reserve: Spend = NO_RESERVE,
        schema: type[BaseModel] | None = None,
    ) -> Any:
        """One guarded call: the parsed object (or text), None when refused or unparseable."""
        guard = BudgetGuard(self.budget, self.spent, reserve=reserve, agent=agent, step=step)
        try:
            if schema is None:
                return (
                    await self.ctx.llm.chat(
                        messages, max_tokens=max_tokens, extra_body=self.ctx.extra_body, guard=guard
                    )
                ).text
            parsed, _ = await self.ctx.llm.chat_json(
                messages, schema, max_tokens=max_tokens, extra_body=self.ctx.extra_body, guard=guard
            )
            return parsed
        except (CallRefused, LLMOutputError):
            return None
        finally:
            self.events.extend(guard.events)


def _messages(template: str, **variables: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": render("baseline_system")},
        {"role": "user", "content": render(template, **variables)},
    ]


def _passages(entries: Sequence[Entry]) -> str:
    shown = evidence(entries)
    return render_workspace(shown) if shown else "(none)"


def reader_messages(question: str, entries: Sequence[Entry]) -> list[dict[str, str]]:
    if not evidence(entries):
        return _messages("baseline_closed_book", question=question)
    return _messages("baseline_reader", question=question, passages=_passages(entries))


def _pending_tokens(n_passages: int, max_passage_tokens: int, extra: int = 0) -> int:
    return pending_prompt_tokens(n_passages * evidence_line_tokens(max_passage_tokens) + extra)


def reader_estimate(question: str, entries: Sequence[Entry], pending: int = 0) -> Spend:
    prompt = estimate_prompt_tokens(reader_messages(question, entries)) + pending
    return call_estimate(prompt, READER_MAX_TOKENS)


async def _read(meter: _Meter, question: str, entries: list[Entry], step: int) -> tuple[str, str]:
    """The direct reader; drops the last passages until the call fits. (answer, stop reason)."""
    shown = list(entries)
    while True:
        estimate = reader_estimate(question, shown)
        if fits(meter.budget, meter.spent, estimate) or not evidence(shown):
            break
        shown = shown[:-1]
    out = await meter.call(
        reader_messages(question, shown),
        max_tokens=READER_MAX_TOKENS,
        agent="answer",
        step=step,
        schema=ReaderOutput,
    )
    if out is None or not out.answer.strip():
        return UNKNOWN, "budget" if out is None else "done"
    return " ".join(out.answer.split()).strip(" ."), "done"


def first_sentence(text: str) -> str:
    text = " ".join(text.split())
    return _SENTENCE_END.split(text, maxsplit=1)[0] if text else ""


async def _closed_book(meter: _Meter, question: str) -> tuple[str, list[Entry], str]:
    answer, reason = await _read(meter, question, [], step=1)
    return answer, [], reason


async def _rag(meter: _Meter, question: str) -> tuple[str, list[Entry], str]:
    entries: list[Entry] = []
    pending = _pending_tokens(RAG_TOP_K, meter.ctx.max_passage_tokens)
    if meter.can_search(reader_estimate(question, entries, pending)):
        entries = await meter.search(question, entries, RAG_TOP_K, step=1)
    answer, reason = await _read(meter, question, entries, step=1)
    return answer, entries, reason


async def _ircot(meter: _Meter, question: str) -> tuple[str, list[Entry], str]:
    entries: list[Entry] = []
    thoughts: list[str] = []
    max_tok = meter.ctx.max_passage_tokens

    def cot_messages() -> list[dict[str, str]]:
        return _messages(
            "baseline_ircot",
            question=question,
            passages=_passages(entries),
            thoughts=" ".join(thoughts) or "(none yet)",
        )

    def after_retrieval() -> Spend:  # a CoT step and the reader, after one more retrieval
        pending = _pending_tokens(IRCOT_K, max_tok, IRCOT_SENTENCE_TOKENS)
        cot = call_estimate(estimate_prompt_tokens(cot_messages()) + pending, IRCOT_SENTENCE_TOKENS)
        return cot + reader_estimate(question, entries, pending)

    stop = "done"
    if meter.can_search(after_retrieval()):
        entries = await meter.search(question, entries, IRCOT_K, step=0)
    for step in range(1, IRCOT_MAX_SENTENCES + 1):
        reserve = reader_estimate(question, entries, _pending_tokens(IRCOT_K, max_tok))
        text = await meter.call(
            cot_messages(),
            max_tokens=IRCOT_SENTENCE_TOKENS,
            agent="reasoner",
            step=step,
            reserve=reserve,
        )
        sentence = first_sentence(text or "")
        if text is None or not sentence:
            stop = "budget" if text is None else "done"
            break
        thoughts.append(sentence)
        if _ANSWER_IS.search(sentence):
            break
        if not meter.can_search(after_retrieval()):
            stop = "budget"
            break
        entries = await meter.search(sentence, entries, IRCOT_K, step=step)
    answer, reason = await _read(meter, question, entries, step=len(thoughts) + 1)
    return answer, entries, stop if reason == "done" else reason


async def _leadline(
    spec: SystemSpec, question: str, budget: Budget, ctx: SystemContext
) -> SystemOutput:
    from leadline.core import run_graph

    run_spec = RunSpec(
        question=question,
        budget=budget,
        policy=spec.policy,
        shape=spec.shape,
        kv_mode=ctx.kv_mode,
        collection=ctx.collection,
        llm_extra=dict(ctx.extra_body),
        max_passage_tokens=ctx.max_passage_tokens,
        passages_per_query=ctx.passages_per_query,
        reader_passages=ctx.reader_passages,
        follow_links=ctx.follow_links and spec.follow_links,
        stop_confidence=ctx.stop_confidence or None,
        allocation=load_model(ctx.allocation_model) if spec.policy == "allocate" else None,
    )
    if ctx.search is None:
        raise ConfigError("leadline needs a search backend")
    result = await run_graph(run_spec, llm=ctx.llm, search=ctx.search)
    return SystemOutput(
        result.answer,
        result.usage,
        result.evidence,
        result.stop_reason,
        result.anytime,
        result.events,
        result.error,
        result.wall_s,
        pool=result.pool,
        found=result.found,
        answer_source=result.answer_source,
        reader_samples=result.reader_samples,
        reader_rereads=result.reader_rereads,
        reader_second_look=result.reader_second_look,
        answer_logprobs=result.answer_logprobs,
        allocation=result.allocation,
    )


async def run_system(
    spec: SystemSpec, question: str, budget: Budget, ctx: SystemContext
) -> SystemOutput:
    """Answer `question` with one system under `budget`; model failures come back as `error`."""
    started = time.perf_counter()
    if spec.kind == "leadline":
        return await _leadline(spec, question, budget, ctx)
    meter = _Meter(budget, ctx)
    runner = {"closed-book": _closed_book, "rag": _rag, "ircot": _ircot}[spec.kind]
    error = ""
    try:
        answer, entries, stop = await runner(meter, question)
    except LLMError as exc:
        answer, entries, stop, error = UNKNOWN, [], "error", str(exc)
    return SystemOutput(
        answer,
        summarize(meter.events),
        evidence(entries),
        stop,
        [],
        list(meter.events),
        error,
        time.perf_counter() - started,
    )
