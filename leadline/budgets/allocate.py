"""The `allocate` policy: spend a question's budget on the mix the fitted law predicts best.

Once the planner has judged a question (its hops and its shape, bridge or comparison), the
policy reads the fitted law (`law.json`, which `leadline sweep` writes; a default fitted on
measured dev300 sweeps ships with the package) and chooses search steps, reasoning tokens and
width:

- candidates: the sweep's measured cells (the caps each ran under, and where those caps put its
  runs: the search steps and reasoner tokens they used), each scored by the law at that point.
  A cap is not a point on the law's axes: a 3-step cap with no reasoning tokens stops after
  about 2 steps, because the reasoner writes the later queries, and a law scored at the caps
  (3 steps, 0 reasoning) extrapolates to a mix no run reaches (issue 16: it predicted EM 0.59
  for such a mix, which scored 0.17). Kept: cells whose step cap reaches the planner's hop count
  (a bridge question needs every hop searched) and whose usage fits the budget's caps;
- a law file without measured cells (older sweeps) gives the grid of caps instead, each scored
  at its caps: search steps from the hop count up to the budget's cap, reasoning caps and
  widths only on the axes the law was fitted on, within the fitted range (an axis the law never
  measured keeps the budget's own value, since the law cannot say what it buys);
- each candidate is priced with the law's cost model (mean weighted tokens per question against
  the axes), and only those that fit the tokens left are kept;
- the one with the highest predicted EM wins (the law of the question's type when the file has
  one); near-ties (within `TIE_EM`) go to the cheaper mix.

The choice becomes the run's caps, so every cap still holds; the run then
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
class Candidate:
    """A mix the policy may choose: the caps a run gets, and the point on the law's axes where
    runs under those caps land (for a measured cell, what its runs used)."""

    search_steps: int
    reasoning_tokens: int | None
    width: int
    x: Mapping[str, float]

    @property
    def caps(self) -> tuple[int, int | None, int]:
        return self.search_steps, self.reasoning_tokens, self.width


@dataclass(frozen=True)
class AllocationModel:
    """A fitted law as the allocate policy uses it: the joint fit, per-type fits, the cost
    model, and where the fit is valid (the axis values it saw)."""

    law: LawFit
    by_type: Mapping[str, LawFit] = field(default_factory=dict)
    cost: CostModel | None = None
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    label: str = ""
    cells: tuple[Candidate, ...] = ()  # the sweep's measured cells, when the file keeps them

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
                cells=tuple(_measured(c) for c in data.get("cells") or ()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"the fitted law is malformed: {exc}") from exc


def _measured(cell: Mapping[str, Any]) -> Candidate:
    caps = cell["caps"]
    reasoning = caps.get("reasoning_tokens")
    return Candidate(
        search_steps=int(caps["search_steps"]),
        reasoning_tokens=None if reasoning is None else int(reasoning),
        width=int(caps.get("width", 1)),
        x={a: float(v) for a, v in cell["x"].items()},
    )


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
) -> list[Candidate]:
    """Every mix the policy may choose for this question: the measured cells the budget and the
    hop count allow, or (a law without cells, or none allowed) the grid of caps."""
    step_cap = budget.max_search_steps if budget.max_search_steps is not None else 16
    floor = min(max(plan.hops, 1), step_cap)
    measured = [c for c in model.cells if _allowed(c, law, budget, floor, step_cap)]
    if measured:
        return list({c.caps: _own_values(c, law, budget) for c in measured}.values())
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
    return [
        Candidate(
            s,
            r,
            w,
            {"search_steps": s, "width": w, **({} if r is None else {"reasoning_tokens": r})},
        )
        for s in steps
        for r in reasonings
        for w in widths
    ]


def _allowed(cell: Candidate, law: LawFit, budget: Budget, floor: int, step_cap: int) -> bool:
    """A measured cell fits this question: its step cap reaches the hops and the budget's cap,
    and (on the axes the law measured) its reasoner tokens and width fit the budget's caps."""
    if not floor <= cell.search_steps <= step_cap:
        return False
    cap = budget.max_reasoning_tokens
    used = cell.x.get("reasoning_tokens", 0.0)
    if "reasoning_tokens" in law.axes and cap is not None and used > cap:
        return False
    return "width" not in law.axes or cell.width <= budget.width


def _own_values(cell: Candidate, law: LawFit, budget: Budget) -> Candidate:
    """An axis the law never measured keeps the budget's own value (the law cannot say what it
    buys), as a grid candidate does."""
    if "reasoning_tokens" not in law.axes:
        cell = replace(cell, reasoning_tokens=budget.max_reasoning_tokens)
    if "width" not in law.axes:
        cell = replace(cell, width=budget.width, x={**cell.x, "width": float(budget.width)})
    return cell


def allocate(model: AllocationModel, plan: PlanEntry, budget: Budget, spent: Spend) -> Allocation:
    """The mix with the highest predicted EM that the tokens left can pay for."""
    law = model.by_type.get(plan.shape, model.law)
    which = plan.shape if plan.shape in model.by_type else "all"
    left = math.inf if budget.max_tokens is None else budget.max_tokens - budget.weighted(spent)
    scored = []
    for c in candidates(model, law, plan, budget):
        cost = model.cost.predict(c.x) if model.cost is not None else None
        scored.append((law.predict(c.x), cost, c.caps))
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
