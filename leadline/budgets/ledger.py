"""The ledger: one event per LLM or search call, and the anytime answer after each reasoning step.

Events live in the graph state (so checkpoints carry them) and are the single source of truth
for spend: `total_spend(events)` is what the budget checks against. `write_jsonl` makes a ledger
file; `summarize` gives a run's totals (`RunUsage`, a result's `usage`), including the
prefix-cache hit rate and any cap the endpoint's billing went past. Both records extend `Spend`
(see `leadline.usage`), so their token fields mean what they mean everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, KeysView, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from leadline.budgets.budget import CACHED_PROMPT_RATE, Budget, Spend, overrun
from leadline.tools.server_metrics import PrefixCacheCounters

EventKind = Literal["llm", "search"]
REASONER = "reasoner"  # the agent whose completion tokens `Budget.max_reasoning_tokens` caps


@dataclass(frozen=True, kw_only=True)
class LedgerEvent(Spend):
    """One LLM call (its billed tokens) or one search (one search step)."""

    kind: EventKind
    agent: str  # planner | searcher | reasoner | answer
    step: int  # reasoning step the call belongs to (0 = planning)
    reasoning_tokens: int = 0
    latency_s: float = 0.0
    detail: str = ""  # the query for a search, the model for an LLM call
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"type": "event", **{name: getattr(self, name) for name in _EVENT_FIELDS}}


# A ledger line's keys, in the order ledger files have always had them.
_EVENT_FIELDS = (
    "kind",
    "agent",
    "step",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "search_steps",
    "latency_s",
    "detail",
    "error",
)


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


def total_spend(events: Iterable[Spend]) -> Spend:
    total = Spend()
    for event in events:
        total = total + event
    return total


def reasoner_tokens(events: Iterable[LedgerEvent]) -> int:
    """Completion tokens of the reasoner's calls: the run's spend on the reasoning axis."""
    return sum(e.completion_tokens for e in events if e.kind == "llm" and e.agent == REASONER)


@dataclass(frozen=True, kw_only=True)
class RunUsage(Spend):
    """What one run spent, as the server billed it: `ResearchResult.usage`.

    Token and search-step totals (from `Spend`), and:
    - `weighted_tokens`: the tokens in the budget's unit (cached prompt tokens at
      `cached_token_rate`): what `max_tokens` caps; `total_tokens` stays the raw count;
    - `reasoner_tokens`: completion tokens of the reasoner's calls (what `max_reasoning_tokens`
      caps);
    - `reasoning_tokens`: completion tokens the server reported as hidden reasoning (o1-style
      models; counted inside `completion_tokens`, whichever agent made the call);
    - `llm_calls`, `llm_latency_s`, `search_latency_s`: calls made and time spent waiting on them;
    - `errors`: calls that failed (a search that failed, a call that timed out);
    - `server_prefix_cache`: the endpoint's own prefix-cache counters over the run (vLLM only);
    - `budget_overrun`: each cap the *billed* spend went past, with its cap and what was spent.
      Calls are issued only when their worst case fits, so only an endpoint that bills more than
      any estimate allows can cause one; None when every cap held.

    `to_dict()` is the `usage` object of `leadline ask --json`, the API and batch rows; indexing
    (`usage["total_tokens"]`), `keys()` and `dict(usage)` read the same keys, for code written
    when usage was a dict.
    """

    reasoning_tokens: int = 0
    weighted_tokens: float = 0.0
    cached_token_rate: float = CACHED_PROMPT_RATE
    reasoner_tokens: int = 0
    llm_calls: int = 0
    llm_latency_s: float = 0.0
    search_latency_s: float = 0.0
    errors: int = 0
    server_prefix_cache: PrefixCacheCounters | None = None
    budget_overrun: dict[str, dict[str, float]] | None = None

    @property
    def prefill_tokens(self) -> int:
        """Prompt tokens the server computed (not served from its cache)."""
        return self.uncached_prompt_tokens

    @property
    def cache_hit_rate(self) -> float:
        """Share of prompt tokens served from the server's prefix cache (4 decimals)."""
        return round(self.cached_tokens / self.prompt_tokens, 4) if self.prompt_tokens else 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **super().to_dict(),
            "weighted_tokens": round(self.weighted_tokens, 1),
            "cached_token_rate": self.cached_token_rate,
            "reasoner_tokens": self.reasoner_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "prefill_tokens": self.prefill_tokens,
            "cache_hit_rate": self.cache_hit_rate,
            "llm_calls": self.llm_calls,
            "llm_latency_s": self.llm_latency_s,
            "search_latency_s": self.search_latency_s,
            "errors": self.errors,
        }
        if self.server_prefix_cache is not None:
            out["server_prefix_cache"] = self.server_prefix_cache.to_dict()
        if self.budget_overrun is not None:
            out["budget_overrun"] = self.budget_overrun
        return out

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def keys(self) -> KeysView[str]:
        return self.to_dict().keys()


def summarize(events: Sequence[LedgerEvent], caps: Budget | None = None) -> RunUsage:
    """A run's totals from its events; with `caps`, any cap the billed spend went past and the
    tokens in its unit (without, cached prompt tokens are weighted at the default rate)."""
    spend = total_spend(events)
    llm = [e for e in events if e.kind == "llm"]
    reasoning = reasoner_tokens(events)
    over = overrun(caps, spend, reasoning) if caps is not None else {}
    rate = caps.cached_token_rate if caps is not None else CACHED_PROMPT_RATE
    return RunUsage(
        prompt_tokens=spend.prompt_tokens,
        cached_tokens=spend.cached_tokens,
        completion_tokens=spend.completion_tokens,
        search_steps=spend.search_steps,
        reasoning_tokens=sum(e.reasoning_tokens for e in events),
        weighted_tokens=spend.weighted_tokens(rate),
        cached_token_rate=rate,
        reasoner_tokens=reasoning,
        llm_calls=len(llm),
        llm_latency_s=round(sum(e.latency_s for e in llm), 3),
        search_latency_s=round(sum(e.latency_s for e in events if e.kind == "search"), 3),
        errors=sum(1 for e in events if e.error),
        budget_overrun=over or None,
    )


def describe_overrun(over: dict[str, Any]) -> str:
    parts = [f"{name} {v['cap']:,g} but {v['spent']:,g} spent" for name, v in over.items()]
    return (
        "the endpoint reported more than the budget allows ("
        + "; ".join(parts)
        + "): its usage is above any pre-call estimate, so check what it bills"
    )


def write_jsonl(
    path: Path | str,
    events: Sequence[LedgerEvent],
    anytime: Sequence[AnytimeAnswer],
    run_id: str,
    caps: Budget | None = None,
) -> None:
    """Append one run's ledger to a JSONL file (events, anytime answers, then a summary line,
    in the token unit of `caps` when given)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        for record in [*(e.to_dict() for e in events), *(a.to_dict() for a in anytime)]:
            fh.write(json.dumps({"run_id": run_id, **record}) + "\n")
        summary = summarize(events, caps).to_dict()
        fh.write(json.dumps({"run_id": run_id, "type": "summary", **summary}) + "\n")
