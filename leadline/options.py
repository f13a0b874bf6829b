"""`ResearchOptions`: how a run researches, beside `Budget`, which says how much it may spend.

A frozen, keyword-only value object (like `Budget`): a misspelt option is a `TypeError`, a bad
value a `ConfigError` at construction, before any model starts. Fields left `None` take the
`Settings` value (`LEADLINE_KV_MODE`, `LEADLINE_COLLECTION`, ...) when the run starts, so an
explicit option beats the environment, which beats the default.

    research("Who ...?", budget=Budget(max_tokens=8000), options=ResearchOptions(policy="fixed"))
    research("Who ...?", policy="fixed")     # the same: any field can be given as a keyword
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, TypedDict

from leadline.budgets.controller import Policy, ShapeMode
from leadline.config import KVMode, Settings
from leadline.errors import ConfigError

POLICIES = ("fixed", "adaptive", "allocate")
SHAPES = ("sequential", "parallel", "auto")
KV_MODES = ("shared", "isolated")
MIN_PASSAGES, MAX_PASSAGES = 1, 20


@dataclass(frozen=True, kw_only=True)
class ResearchOptions:
    """How one run researches.

    - `policy`: `"adaptive"` (search steps set by the planner's difficulty estimate, early stop
      once the answer is settled), `"fixed"` (search up to the caps unless done) or
      `"allocate"` (the mix of search steps, reasoning tokens and width the fitted law predicts
      best for the question, `Settings.allocation_model`);
    - `shape`: `"sequential"` (one query per step: depth), `"parallel"` (up to three: breadth)
      or `"auto"` (from the planner's estimate);
    - `kv_mode`: `"shared"` (one prompt prefix for every agent) or `"isolated"`;
    - `collection`: the local corpus collection to search (ignored with `search=`);
    - `passages_per_query`: hits of each query kept in the evidence pool (1..20);
    - `reader_passages`: best pool passages the final reader reads (1..20);
    - `follow_links`: a link step after each search round where the collection has a link graph
      (`leadline precompute`);
    - `stop_confidence`: read the pool after the first search round and stop there when the
      reader is at least this sure of its answer (0..1; 0 = never read early).
    """

    policy: Policy = "adaptive"
    shape: ShapeMode = "auto"
    kv_mode: KVMode | None = None
    collection: str | None = None
    passages_per_query: int | None = None
    reader_passages: int | None = None
    follow_links: bool | None = None
    stop_confidence: float | None = None

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ConfigError(
                f"unknown policy {self.policy!r}; use 'fixed', 'adaptive' or 'allocate'"
            )
        if self.shape not in SHAPES:
            raise ConfigError(
                f"unknown shape {self.shape!r}; use 'sequential', 'parallel' or 'auto'"
            )
        if self.kv_mode is not None and self.kv_mode not in KV_MODES:
            raise ConfigError(f"unknown kv_mode {self.kv_mode!r}; use 'shared' or 'isolated'")
        if self.collection is not None and not isinstance(self.collection, str):
            raise ConfigError(f"collection must be a name, got {self.collection!r}")
        for name in ("passages_per_query", "reader_passages"):
            check_passages(name, getattr(self, name))
        if self.follow_links is not None and not isinstance(self.follow_links, bool):
            raise ConfigError(f"follow_links must be true or false, got {self.follow_links!r}")
        check_stop_confidence(self.stop_confidence)

    def updated(self, **changes: Any) -> ResearchOptions:
        """A copy with `changes` applied; `None` values change nothing (an unset keyword)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **changes) if changes else self

    def resolved(self, settings: Settings) -> ResearchOptions:
        """Every `None` filled in from `settings`."""
        return replace(
            self,
            kv_mode=self.kv_mode or settings.kv_mode,
            collection=self.collection or settings.collection,
            passages_per_query=self.passages_per_query or settings.passages_per_query,
            reader_passages=self.reader_passages or settings.reader_passages,
            follow_links=settings.follow_links if self.follow_links is None else self.follow_links,
            stop_confidence=settings.stop_confidence
            if self.stop_confidence is None
            else self.stop_confidence,
        )


class OptionFields(TypedDict, total=False):
    """`ResearchOptions`' fields, as keywords `aresearch` also takes (`policy="fixed"`)."""

    policy: Policy
    shape: ShapeMode
    kv_mode: KVMode | None
    collection: str | None
    passages_per_query: int | None
    reader_passages: int | None
    follow_links: bool | None
    stop_confidence: float | None


OPTION_NAMES = frozenset(f.name for f in fields(ResearchOptions))


def check_passages(name: str, value: int | None) -> None:
    """`passages_per_query` / `reader_passages`: None (the settings' value) or 1..20."""
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not MIN_PASSAGES <= value <= MAX_PASSAGES
    ):
        raise ConfigError(
            f"{name} must be an integer in {MIN_PASSAGES}..{MAX_PASSAGES}, got {value!r}"
        )


def check_stop_confidence(value: Any) -> None:
    """None (take the settings') or a probability; anything else is a `ConfigError`."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"stop_confidence must be a number from 0 to 1, got {value!r}")
