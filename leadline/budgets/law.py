"""The scaling law: logit(accuracy) against the log of each compute axis, fitted by least squares.

    logit(EM) = a + Σ_axis b_axis · t_axis(x_axis)

with `t` = log2(1 + steps) for search steps, log2(1 + tokens / 100) for reasoning tokens and
log2(width) for width (each 0 at no compute on that axis; a coefficient is the gain in log-odds
per doubling). This is the form of the DRAG/IterDRAG compute-allocation model (Yue et al. 2024,
arXiv 2410.04343), which fits sigmoid accuracy against log compute per parameter. A cell's EM
is taken as an empirical logit, log((k + ½) / (n − k + ½)), so a cell at 0 or 1 stays finite.

Pure numerics over `LawCell`s (an axis point and per-question scores), so the sweep (fitting),
the allocate policy (predicting) and the tests share them. `fit_law` fits one axis set and
resamples questions (paired across cells, as every cell asks the same questions) for bootstrap
intervals on each coefficient; `LawFit.to_dict`/`from_dict` is the JSON the sweep writes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

AXES = ("search_steps", "reasoning_tokens", "width")
REASONING_UNIT = 100.0  # tokens: log2(1 + x / 100), so one short reasoning call is ~one doubling
DEFAULT_LAW_BOOTSTRAP = 1000


def transform(axis: str, x: float) -> float:
    """The regressor of one axis value (0 where the axis spends nothing)."""
    if axis == "search_steps":
        return math.log2(1.0 + max(x, 0.0))
    if axis == "reasoning_tokens":
        return math.log2(1.0 + max(x, 0.0) / REASONING_UNIT)
    if axis == "width":
        return math.log2(max(x, 1.0))
    raise ValueError(f"unknown axis {axis!r}; use one of {', '.join(AXES)}")


TRANSFORMS = {
    "search_steps": "log2(1 + steps)",
    "reasoning_tokens": f"log2(1 + tokens / {REASONING_UNIT:g})",
    "width": "log2(width)",
}


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def empirical_logit(scores: Sequence[float]) -> float:
    """log((k + ½) / (n − k + ½)) for k successes of n (EM is 0/1 per question)."""
    k, n = float(sum(scores)), float(len(scores))
    return math.log((k + 0.5) / (n - k + 0.5))


@dataclass(frozen=True)
class LawCell:
    """One point of the sweep: where it sits on each axis and each question's score there."""

    x: Mapping[str, float]
    scores: Mapping[str, float]  # question id -> EM (0 or 1)
    cost: float = math.nan  # mean weighted tokens per question, for the cost model

    @property
    def em(self) -> float:
        return float(np.mean(list(self.scores.values()))) if self.scores else math.nan


@dataclass(frozen=True)
class LawFit:
    """logit(EM) = intercept + Σ coef[axis] · transform(axis, x)."""

    axes: tuple[str, ...]
    intercept: float
    coef: Mapping[str, float]
    r2: float
    n_cells: int
    n_questions: int
    ci: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # incl. "intercept"

    def logit(self, x: Mapping[str, float]) -> float:
        return self.intercept + sum(self.coef[a] * transform(a, x.get(a, 0.0)) for a in self.axes)

    def predict(self, x: Mapping[str, float]) -> float:
        """Predicted EM at `x` (axes the fit does not have are ignored)."""
        return sigmoid(self.logit(x))

    def to_dict(self) -> dict[str, Any]:
        return {
            "axes": list(self.axes),
            "transforms": {a: TRANSFORMS[a] for a in self.axes},
            "intercept": round(self.intercept, 4),
            "coef": {a: round(v, 4) for a, v in self.coef.items()},
            "r2": round(self.r2, 4),
            "n_cells": self.n_cells,
            "n_questions": self.n_questions,
            "ci": {k: [round(lo, 4), round(hi, 4)] for k, (lo, hi) in self.ci.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LawFit:
        axes = tuple(data["axes"])
        unknown = set(axes) - set(AXES)
        if unknown:
            raise ValueError(f"unknown axes {sorted(unknown)} in a fitted law")
        return cls(
            axes=axes,
            intercept=float(data["intercept"]),
            coef={a: float(data["coef"][a]) for a in axes},
            r2=float(data.get("r2", math.nan)),
            n_cells=int(data.get("n_cells", 0)),
            n_questions=int(data.get("n_questions", 0)),
            ci={k: (float(v[0]), float(v[1])) for k, v in (data.get("ci") or {}).items()},
        )


def varied_axes(cells: Sequence[LawCell], axes: Sequence[str] = AXES) -> tuple[str, ...]:
    """The axes along which the cells take at least two values (only those can be fitted)."""
    return tuple(a for a in axes if len({round(c.x.get(a, 0.0), 6) for c in cells}) >= 2)


def _solve(
    cells: Sequence[LawCell], axes: Sequence[str], y: np.ndarray
) -> tuple[np.ndarray, float]:
    design = np.array([[1.0, *(transform(a, c.x.get(a, 0.0)) for a in axes)] for c in cells])
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = float(np.sum((y - design @ beta) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    return beta, (1.0 - residual / total) if total > 0 else 1.0


def fit_law(
    cells: Sequence[LawCell],
    axes: Sequence[str],
    *,
    n_boot: int = DEFAULT_LAW_BOOTSTRAP,
    seed: int = 0,
    level: float = 0.95,
) -> LawFit | None:
    """Least-squares fit over `axes`; None with too few cells (need more than one per term).

    Bootstrap: questions are drawn with replacement (the same draw for every cell), each cell's
    EM recomputed over the drawn questions it has, the law refitted; the interval of each
    coefficient is the percentile interval of the refits.
    """
    cells = [c for c in cells if c.scores]
    axes = tuple(axes)
    if not axes or len(cells) < len(axes) + 2:
        return None
    y = np.array([empirical_logit(list(c.scores.values())) for c in cells])
    beta, r2 = _solve(cells, axes, y)
    ids = sorted({q for c in cells for q in c.scores})
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        drawn = [ids[i] for i in rng.integers(0, len(ids), size=len(ids))]
        ys = []
        for c in cells:
            got = [c.scores[q] for q in drawn if q in c.scores]
            ys.append(empirical_logit(got) if got else empirical_logit(list(c.scores.values())))
        draws.append(_solve(cells, axes, np.array(ys))[0])
    boot = np.array(draws)
    alpha = (1 - level) / 2
    names = ["intercept", *axes]
    ci = {
        name: (float(np.quantile(boot[:, i], alpha)), float(np.quantile(boot[:, i], 1 - alpha)))
        for i, name in enumerate(names)
    }
    return LawFit(
        axes=axes,
        intercept=float(beta[0]),
        coef={a: float(b) for a, b in zip(axes, beta[1:], strict=True)},
        r2=r2,
        n_cells=len(cells),
        n_questions=len(ids),
        ci=ci,
    )


def fit_laws(
    cells: Sequence[LawCell],
    axes: Sequence[str] | None = None,
    *,
    n_boot: int = DEFAULT_LAW_BOOTSTRAP,
    seed: int = 0,
) -> dict[str, Any]:
    """The per-axis fits and the joint fit over `axes` (default: every axis the cells vary),
    as JSON-ready dicts."""
    axes = varied_axes(cells, axes if axes is not None else AXES)
    per_axis = {}
    for axis in axes:
        fit = fit_law(cells, (axis,), n_boot=n_boot, seed=seed)
        if fit is not None:
            per_axis[axis] = fit.to_dict()
    joint = fit_law(cells, axes, n_boot=n_boot, seed=seed) if len(axes) > 1 else None
    if joint is None and len(axes) == 1 and axes[0] in per_axis:
        joint_dict: dict[str, Any] | None = per_axis[axes[0]]
    else:
        joint_dict = joint.to_dict() if joint is not None else None
    return {"metric": "em", "link": "logit", "per_axis": per_axis, "joint": joint_dict}


@dataclass(frozen=True)
class CostModel:
    """Mean weighted tokens per question ≈ intercept + Σ coef[axis] · x[axis] (linear: each
    search step, reasoning token and reader sample costs about the same wherever it is spent)."""

    intercept: float
    coef: Mapping[str, float]
    r2: float

    def predict(self, x: Mapping[str, float]) -> float:
        return self.intercept + sum(c * x.get(a, 0.0) for a, c in self.coef.items())

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": "mean weighted tokens per question",
            "intercept": round(self.intercept, 2),
            "coef": {a: round(v, 4) for a, v in self.coef.items()},
            "r2": round(self.r2, 4),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostModel:
        return cls(
            float(data["intercept"]),
            {a: float(v) for a, v in (data.get("coef") or {}).items()},
            float(data.get("r2", math.nan)),
        )


def fit_cost(
    xs: Sequence[Mapping[str, float]], costs: Sequence[float], axes: Sequence[str]
) -> CostModel | None:
    """Least squares of cost on the raw axis values; None with fewer cells than terms."""
    if len(xs) < len(axes) + 1 or not axes:
        return None
    design = np.array([[1.0, *(x.get(a, 0.0) for a in axes)] for x in xs])
    y = np.asarray(costs, dtype=float)
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = float(np.sum((y - design @ beta) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    return CostModel(
        float(beta[0]),
        {a: float(b) for a, b in zip(axes, beta[1:], strict=True)},
        (1.0 - residual / total) if total > 0 else 1.0,
    )
