"""Scaling curves: accuracy against search steps and compute, from sweeps, ledgers, anytime answers.

Pure numerics, no I/O besides reading a ledger file. A `CurvePoint` is one budget cell (its caps,
mean spend and mean accuracy). `loglinear_fit` fits accuracy = a + b·log2(x + 1), the shape the
design expects ("roughly log-linear, then diminishing returns"); `b` is the gain per doubling.
`pareto_frontier` keeps the points no cheaper point beats (the compute-efficient frontier).
`answer_at` replays a max-budget run's anytime answers as if the run had stopped at smaller
caps, which gives a whole curve from one run. `compute_matched` compares a policy against the
fixed-budget frontier at the policy's own mean compute, with paired bootstrap intervals.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
DEFAULT_BOOTSTRAP = 2000


@dataclass(frozen=True)
class CurvePoint:
    """One cell of a sweep: caps, how many questions, mean accuracy and mean spend."""

    mode: str  # "true" (a run with these caps), "anytime"/"replay" (replayed), or a policy
    shape: str
    policy: str
    max_search_steps: int | None
    max_tokens: int | None
    n: int
    em: float
    f1: float
    mean_search_steps: float
    mean_total_tokens: float
    mean_compute: float
    support_recall: float | None = None
    max_reasoning_tokens: int | None = None  # None: no reasoning cap
    width: int = 1
    mean_weighted_tokens: float | None = None  # tokens in the budget's unit
    mean_reasoner_tokens: float | None = None
    em_ci_low: float | None = None  # percentile bootstrap intervals over questions
    em_ci_high: float | None = None
    f1_ci_low: float | None = None
    f1_ci_high: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Fit:
    """y = intercept + slope · log2(x + offset), least squares."""

    slope: float
    intercept: float
    r2: float
    n: int
    offset: float = 1.0

    def predict(self, x: float | np.ndarray) -> Any:
        return self.intercept + self.slope * np.log2(np.asarray(x, dtype=float) + self.offset)

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def loglinear_fit(xs: Sequence[float], ys: Sequence[float], *, offset: float = 1.0) -> Fit | None:
    """Fit y against log2(x + offset); None with fewer than two distinct x values."""
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    if len(x) != len(y) or len(set(x.tolist())) < 2 or np.any(x + offset <= 0):
        return None
    lx = np.log2(x + offset)
    slope, intercept = np.polyfit(lx, y, 1)
    residual = float(np.sum((y - (intercept + slope * lx)) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - residual / total if total > 0 else 1.0
    return Fit(float(slope), float(intercept), r2, len(x), offset)


def pareto_frontier(
    points: Sequence[T], cost: Callable[[T], float], value: Callable[[T], float]
) -> list[T]:
    """Points that no cheaper-or-equal point beats on value, cheapest first."""
    ranked = sorted(points, key=lambda p: (cost(p), -value(p)))
    frontier: list[T] = []
    best = -math.inf
    for p in ranked:
        if value(p) > best:
            frontier.append(p)
            best = value(p)
    return frontier


def answer_at(
    anytime: Sequence[dict[str, Any]], max_search_steps: int | None, max_tokens: int | None
) -> dict[str, Any] | None:
    """The last anytime answer given within both caps (None if none was).

    Anytime answers are recorded after each reasoning step with the spend at that moment, so
    this is what the run would have answered had it been stopped at these caps.
    """
    best = None
    for a in anytime:
        if max_search_steps is not None and a["search_steps"] > max_search_steps:
            continue
        if max_tokens is not None and a["total_tokens"] > max_tokens:
            continue
        best = a
    return best


def read_ledger(path: Path | str) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """A ledger JSONL file (see ledger.write_jsonl) grouped by run: events, anytime, summary."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        run = runs.setdefault(record.get("run_id", ""), {"event": [], "anytime": [], "summary": []})
        run.setdefault(record.get("type", "event"), []).append(record)
    return runs


def bootstrap_ci(
    values: Sequence[float], *, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap interval of the mean."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return (math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    alpha = (1 - level) / 2
    return float(v.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Mean of a − b over the same questions, with a percentile bootstrap interval (questions
    resampled, pairs kept together) and the share of resamples where a is ahead."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError("a paired difference needs the same questions on both sides")
    diff = x - y
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(n_boot, len(diff)))].mean(axis=1)
    alpha = (1 - level) / 2
    return {
        "n": len(diff),
        "a": round(float(x.mean()), 4),
        "b": round(float(y.mean()), 4),
        "difference": round(float(diff.mean()), 4),
        "ci": [
            round(float(np.quantile(means, alpha)), 4),
            round(float(np.quantile(means, 1 - alpha)), 4),
        ],
        "p_a_better": round(float(np.mean(means > 0)), 4),
        "level": level,
    }


def frontier_value_at(costs: Sequence[float], values: Sequence[float], at: float) -> float:
    """Accuracy of the cost/accuracy frontier at cost `at`, interpolated in log cost (clamped)."""
    pts = pareto_frontier(list(zip(costs, values, strict=True)), lambda p: p[0], lambda p: p[1])
    xs = np.log([max(c, 1e-9) for c, _ in pts])
    ys = [v for _, v in pts]
    return float(np.interp(math.log(max(at, 1e-9)), xs, ys))


def compute_matched(
    policy_scores: Sequence[float],
    policy_costs: Sequence[float],
    cells: Sequence[tuple[Sequence[float], Sequence[float]]],
    *,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """A policy against fixed-budget cells at the policy's mean compute, paired over questions.

    `cells` are (scores, costs) per fixed-budget cell, indexed by the same questions as the
    policy's. Each bootstrap resample draws questions, recomputes every mean, rebuilds the
    fixed frontier and reads it at the policy's mean compute, so the interval of the difference
    accounts for the noise on both sides.
    """
    ps, pc = np.asarray(policy_scores, float), np.asarray(policy_costs, float)
    cs = [(np.asarray(s, float), np.asarray(c, float)) for s, c in cells]
    n = len(ps)
    if n == 0 or not cs or any(len(s) != n or len(c) != n for s, c in cs):
        raise ValueError("policy and every cell need scores and costs for the same questions")

    def stats(idx: np.ndarray) -> tuple[float, float, float]:
        at = float(pc[idx].mean())
        fixed = frontier_value_at(
            [float(c[idx].mean()) for _, c in cs], [float(s[idx].mean()) for s, _ in cs], at
        )
        return float(ps[idx].mean()), fixed, at

    full = stats(np.arange(n))
    rng = np.random.default_rng(seed)
    draws = np.array([stats(rng.integers(0, n, size=n)) for _ in range(n_boot)])
    alpha = (1 - level) / 2

    def interval(col: np.ndarray) -> list[float]:
        return [
            round(float(np.quantile(col, alpha)), 4),
            round(float(np.quantile(col, 1 - alpha)), 4),
        ]

    diff = draws[:, 0] - draws[:, 1]
    cell_costs = [float(c.mean()) for _, c in cs]
    return {
        "n": n,
        "mean_compute": round(full[2], 1),
        "policy": round(full[0], 4),
        "policy_ci": interval(draws[:, 0]),
        "fixed_at_same_compute": round(full[1], 4),
        "fixed_ci": interval(draws[:, 1]),
        "difference": round(full[0] - full[1], 4),
        "difference_ci": interval(diff),
        "p_policy_better": round(float(np.mean(diff > 0)), 4),
        "within_fixed_range": min(cell_costs) <= full[2] <= max(cell_costs),
        "level": level,
        "n_boot": n_boot,
    }
