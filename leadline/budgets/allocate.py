"""The `allocate` policy: spend a question's budget on the mix the fitted law predicts best.

Once the planner has judged a question (its hops and its shape, bridge or comparison), the
policy reads the fitted law (`law.json`, which `leadline sweep` writes; a default fitted on
measured dev300 sweeps ships with the package) and chooses search steps, reasoning tokens and
width:

- candidates: search steps from the planner's hop count (never fewer: a bridge question needs
  every hop searched) up to the budget's cap; reasoning-token caps and widths only on the axes
  the law was fitted on, within what the budget allows (an axis the law never measured keeps
  the budget's own value, since the law cannot say what it buys);
- each candidate is priced with the law's cost model (mean weighted tokens per question against
  the axes), and only those that fit the tokens left are kept;
- the one with the highest predicted EM wins (the law of the question's type when the file has
  one); near-ties (within `TIE_EM`) go to the cheaper mix.

Candidates stay inside the range the law was fitted on, apart from the hop floor: beyond it the
law extrapolates. The choice becomes the run's caps, so every cap still holds; the run then
spends them like `fixed`. Pure except `load_model`, which reads one JSON file.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from leadline.agents.workspace import PlanEntry
from leadline.budgets.budget import MAX_WIDTH, Budget, Spend
from leadline.budgets.law import CostModel, LawFit
from leadline.errors import ConfigError

DEFAULT_MODEL = "default_law.json"  # package data of leadline.budgets
REASONING_STEP = 130  # candidate reasoning caps: multiples of half a reasoner call
TIE_EM = 0.005


@dataclass(frozen=True)
class AllocationModel:
    """A fitted law as the allocate policy uses it: the joint fit, per-type fits, the cost
    model, and where the fit is valid (the axis values it saw)."""

    law: LawFit
    by_type: Mapping[str, LawFit] = field(default_factory=dict)
    cost: CostModel | None = None
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    label: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AllocationModel:
        if data.get("kind") != "leadline.scaling_law" or not data.get("joint"):
            raise ConfigError(
                "not a fitted law (law.json as `leadline sweep` writes it, with a joint fit)"
            )
        try:
            by_type = {
                kind: LawFit.from_dict(fits["joint"])
                for kind, fits in (data.get("by_type") or {}).items()
                if fits.get("joint")
            }
            return cls(
                law=LawFit.from_dict(data["joint"]),
                by_type=by_type,
                cost=CostModel.from_dict(data["cost"]) if data.get("cost") else None,
                ranges={
                    a: (float(v[0]), float(v[1])) for a, v in (data.get("range") or {}).items()
                },
                label=str(data.get("label", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"the fitted law is malformed: {exc}") from exc


@functools.lru_cache(maxsize=8)
def load_model(path: Path | str | None = None) -> AllocationModel:
    """The law at `path`, or the one shipped with leadline (read once per path)."""
    try:
        if path is None:
            text = resources.files("leadline.budgets").joinpath("data", DEFAULT_MODEL).read_text()
        else:
            text = Path(path).read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"cannot read the allocation model {path or DEFAULT_MODEL}: {exc}"
        ) from exc
    return AllocationModel.from_dict(data)


@dataclass(frozen=True)
class Allocation:
    """The mix chosen for one question, with what the law predicted for it."""

    search_steps: int
    reasoning_tokens: int | None
    width: int
    predicted_em: float
    predicted_cost: float | None
    law: str  # which law chose it: the question type's, or "all"

    def to_dict(self) -> dict[str, Any]:
        return {
            "search_steps": self.search_steps,
            "reasoning_tokens": self.reasoning_tokens,
            "width": self.width,
            "predicted_em": round(self.predicted_em, 4),
            "predicted_cost": None if self.predicted_cost is None else round(self.predicted_cost),
            "law": self.law,
        }


def _upper(model: AllocationModel, axis: str, cap: float) -> float:
    """The largest value worth trying on an axis: the cap, within the fitted range."""
    seen = model.ranges.get(axis)
    return cap if seen is None else min(cap, max(seen[1], 0.0))


def candidates(
    model: AllocationModel, law: LawFit, plan: PlanEntry, budget: Budget
) -> list[tuple[int, int | None, int]]:
    """Every (search steps, reasoning cap, width) the policy may choose for this question."""
    step_cap = budget.max_search_steps if budget.max_search_steps is not None else 16
    floor = min(max(plan.hops, 1), step_cap)
    top = max(floor, math.floor(_upper(model, "search_steps", step_cap)))
    steps = list(range(floor, top + 1))
    reasonings: list[int | None] = [budget.max_reasoning_tokens]
    if "reasoning_tokens" in law.axes:
        cap = budget.max_reasoning_tokens
        high = _upper(model, "reasoning_tokens", cap if cap is not None else 8 * REASONING_STEP)
        reasonings = [r * REASONING_STEP for r in range(int(high // REASONING_STEP) + 1)]
    widths = [budget.width]
    if "width" in law.axes:
        widths = list(range(1, int(_upper(model, "width", min(budget.width, MAX_WIDTH))) + 1))
    return [(s, r, w) for s in steps for r in reasonings for w in widths]


def allocate(model: AllocationModel, plan: PlanEntry, budget: Budget, spent: Spend) -> Allocation:
    """The mix with the highest predicted EM that the tokens left can pay for."""
    law = model.by_type.get(plan.shape, model.law)
    which = plan.shape if plan.shape in model.by_type else "all"
    left = math.inf if budget.max_tokens is None else budget.max_tokens - budget.weighted(spent)
    scored = []
    for s, r, w in candidates(model, law, plan, budget):
        x = {"search_steps": float(s), "width": float(w)}
        if r is not None:
            x["reasoning_tokens"] = float(r)
        cost = model.cost.predict(x) if model.cost is not None else None
        scored.append((law.predict(x), cost, (s, r, w)))
    affordable = [c for c in scored if c[1] is None or c[1] <= left]
    pool = affordable or [min(scored, key=lambda c: c[1] if c[1] is not None else 0.0)]
    best_em = max(em for em, _, _ in pool)
    near = [c for c in pool if c[0] >= best_em - TIE_EM]
    em, cost, (s, r, w) = min(near, key=lambda c: (c[1] if c[1] is not None else 0.0, -c[0]))
    return Allocation(s, r, w, em, cost, which)


def allocated_budget(budget: Budget, allocation: Allocation) -> Budget:
    """The budget with the allocation as its caps (never above the budget's own)."""
    steps = allocation.search_steps
    if budget.max_search_steps is not None:
        steps = min(steps, budget.max_search_steps)
    reasoning = allocation.reasoning_tokens
    if budget.max_reasoning_tokens is not None and reasoning is not None:
        reasoning = min(reasoning, budget.max_reasoning_tokens)
    return replace(
        budget,
        max_search_steps=steps,
        max_reasoning_tokens=reasoning if reasoning is not None else budget.max_reasoning_tokens,
        width=min(allocation.width, budget.width),
    )
