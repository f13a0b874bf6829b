"""Typed graph state, its reducers, and the per-run specification carried in it.

The state holds everything a checkpoint must restore to resume a run: the spec (question,
budget, policy), the append-only workspace, the ledger events (spend is derived from them, never
stored twice), the anytime answers, and the outcome. `SERIALIZABLE_TYPES` lists the records the
checkpointer may revive.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypedDict

from leadline.agents.prompting import KVMode
from leadline.agents.workspace import Entry, Evidence, Note, PlanEntry, PoolHit, append_entries
from leadline.budgets.allocate import AllocationModel
from leadline.budgets.budget import Budget, Rates
from leadline.budgets.controller import Policy, ShapeMode, StopReason
from leadline.budgets.law import CostModel, LawFit
from leadline.budgets.ledger import AnytimeAnswer, LedgerEvent

DEFAULT_READER_PASSAGES = 2
DEFAULT_POOL_PER_QUERY = 5
DEFAULT_MAX_PASSAGE_TOKENS = 160


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """What one research run was asked to do; fixed for the run's lifetime."""

    question: str
    budget: Budget = field(default_factory=Budget)
    policy: Policy = "adaptive"
    shape: ShapeMode = "auto"
    kv_mode: KVMode = "shared"
    collection: str | None = None
    passages_per_query: int = DEFAULT_POOL_PER_QUERY  # hits per query kept in the pool
    reader_passages: int = DEFAULT_READER_PASSAGES  # K: pool passages the final reader reads
    max_passage_tokens: int = DEFAULT_MAX_PASSAGE_TOKENS  # per passage shown in the workspace
    follow_links: bool = True  # a link step after each round, when the corpus has a link graph
    # Read after the first round and stop there when the reader is at least this sure (0–1);
    # None: never read early.
    stop_confidence: float | None = None
    llm_extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"id_slot": 0}
    allocation: AllocationModel | None = None  # the fitted law, for policy "allocate"


@dataclass(frozen=True)
class Citation:
    """A passage the answer rests on: its evidence number, where it came from, and a quote."""

    evidence: int
    passage_id: str
    title: str
    source: str
    quote: str


# "reader": the final reader call answered; "anytime": it could not (budget, a bad reply, an
# error) and the reasoner's last interim answer was used; "none": there was neither.
AnswerSource = Literal["reader", "anytime", "none"]


@dataclass(frozen=True)
class FinalAnswer:
    answer: str
    citations: tuple[Citation, ...]
    source: AnswerSource
    # Every reader sample's short answer, in order (one per unit of width; the vote's input),
    # so a smaller width can be scored later by voting over the first few.
    samples: tuple[str, ...] = ()
    # Log-probabilities of the greedy answer's tokens, where the endpoint gives them.
    answer_logprobs: tuple[float, ...] = ()
    prompt_key: str = ""  # fingerprint of the reader prompt (`read.prompt_key`)
    # Reader replies that were not the kind of answer the question asks for ("yes" to a "who"
    # question), each read again under a constraint (`read.answer_pattern`).
    rereads: tuple[str, ...] = ()
    # The answer of a second look at one passage more (`read.second_look`), kept or not; "" when
    # the reader was sure enough not to look again.
    second_look: str = ""
    # The greedy read's conversation (its messages and reply, a held re-read's included), which
    # a second look goes on with, and the ids of the passages it read, best first.
    conversation: tuple[dict[str, str], ...] = ()
    passage_ids: tuple[str, ...] = ()


class ResearchState(TypedDict, total=False):
    spec: RunSpec
    plan: PlanEntry
    entries: Annotated[list[Entry], append_entries]
    pool: Annotated[list[PoolHit], operator.add]
    events: Annotated[list[LedgerEvent], operator.add]
    anytime: Annotated[list[AnytimeAnswer], operator.add]
    queries: Annotated[list[str], operator.add]
    linked_from: Annotated[list[str], operator.add]  # passages whose links were followed
    step: int
    usable_replies: Annotated[int, operator.add]  # agent calls whose reply parsed
    bad_replies: Annotated[list[str], operator.add]  # why the others did not
    stop_reason: StopReason
    error: str
    final: FinalAnswer
    early_read: FinalAnswer  # the read after round one (`stop_confidence`), stopped on or not
    allocation: dict[str, Any]  # what the allocate policy chose, and what it predicted


class SearchTask(TypedDict):
    """The payload of one fanned-out search (one `Send` per query)."""

    spec: RunSpec
    query: str
    step: int
    seen_ids: list[str]


SERIALIZABLE_TYPES: list[tuple[str, str]] = [
    (cls.__module__, cls.__name__)
    for cls in (
        RunSpec,
        FinalAnswer,
        Citation,
        PoolHit,
        Budget,
        Rates,
        PlanEntry,
        Evidence,
        Note,
        LedgerEvent,
        AnytimeAnswer,
        AllocationModel,
        LawFit,
        CostModel,
    )
]
