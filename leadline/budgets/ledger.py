"""The ledger: one event per LLM or search call, and the anytime answer after each reasoning step.

Events live in the graph state (so checkpoints carry them) and are the single source of truth
for spend: `total_spend(events)` is what the budget checks against. `write_jsonl` makes a ledger
file; `summarize` gives the totals reports and the API show, including the prefix-cache hit rate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from leadline.budgets.budget import Budget, Spend, overrun

EventKind = Literal["llm", "search"]


@dataclass(frozen=True)
class LedgerEvent:
    kind: EventKind
    agent: str  # planner | searcher | reasoner | answer
    step: int  # reasoning step the call belongs to (0 = planning)
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    search_steps: int = 0
    latency_s: float = 0.0
    detail: str = ""  # the query for a search, the model for an LLM call
    error: str = ""

    @property
    def spend(self) -> Spend:
        return Spend(
            self.prompt_tokens, self.cached_tokens, self.completion_tokens, self.search_steps
        )

    def to_dict(self) -> dict[str, Any]:
        return {"type": "event", **asdict(self)}


@dataclass(frozen=True)
class AnytimeAnswer:
    """The best answer after a reasoning step, with what had been spent to get it."""

    step: int
    answer: str
    confidence: float
    total_tokens: int
    search_steps: int
    citations: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"type": "anytime", **asdict(self)}


def total_spend(events: Iterable[LedgerEvent]) -> Spend:
    total = Spend()
    for event in events:
        total = total + event.spend
    return total


def summarize(events: Sequence[LedgerEvent]) -> dict[str, Any]:
    """Totals for reports: tokens by kind, search steps, calls, latency, cache hit rate."""
    spend = total_spend(events)
    llm = [e for e in events if e.kind == "llm"]
    return {
        **spend.to_dict(),
        "reasoning_tokens": sum(e.reasoning_tokens for e in events),
        "prefill_tokens": spend.uncached_prompt_tokens,
        "cache_hit_rate": round(spend.cached_tokens / spend.prompt_tokens, 4)
        if spend.prompt_tokens
        else 0.0,
        "llm_calls": len(llm),
        "llm_latency_s": round(sum(e.latency_s for e in llm), 3),
        "search_latency_s": round(sum(e.latency_s for e in events if e.kind == "search"), 3),
        "errors": sum(1 for e in events if e.error),
    }


def flag_overrun(usage: dict[str, Any], caps: dict[str, Any]) -> dict[str, Any] | None:
    """Mark a result whose server-reported spend went past its caps: set `usage.budget_overrun`
    (each cap passed, with cap and spent) and return it; None when every cap held."""
    spent = Spend(
        int(usage.get("prompt_tokens", 0)),
        int(usage.get("cached_tokens", 0)),
        int(usage.get("completion_tokens", 0)),
        int(usage.get("search_steps", 0)),
    )
    over = overrun(Budget.from_dict(caps), spent)
    if not over:
        return None
    usage["budget_overrun"] = over
    return over


def describe_overrun(over: dict[str, Any]) -> str:
    parts = [f"{name} {v['cap']:,g} but {v['spent']:,g} spent" for name, v in over.items()]
    return (
        "the endpoint reported more than the budget allows ("
        + "; ".join(parts)
        + "): its usage is above any pre-call estimate, so check what it bills"
    )


def write_jsonl(
    path: Path | str, events: Sequence[LedgerEvent], anytime: Sequence[AnytimeAnswer], run_id: str
) -> None:
    """Append one run's ledger to a JSONL file (events, anytime answers, then a summary line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        for record in [*(e.to_dict() for e in events), *(a.to_dict() for a in anytime)]:
            fh.write(json.dumps({"run_id": run_id, **record}) + "\n")
        fh.write(json.dumps({"run_id": run_id, "type": "summary", **summarize(events)}) + "\n")
