"""The fitted law: logit(EM) against the log of each axis recovers a law it was drawn from."""

from __future__ import annotations

import math
import random

import pytest

from leadline.budgets.law import (
    LawCell,
    LawFit,
    empirical_logit,
    fit_law,
    fit_laws,
    sigmoid,
    transform,
    varied_axes,
)

TRUE = {"intercept": -1.5, "search_steps": 0.8, "width": 0.3}


def synthetic_cells(n: int = 400, seed: int = 1) -> list[LawCell]:
    """Questions answered right with the probability the true law gives at each cell."""
    rng = random.Random(seed)
    cells = []
    for steps in (0, 1, 2, 4, 8):
        for width in (1, 2, 4):
            z = (
                TRUE["intercept"]
                + TRUE["search_steps"] * transform("search_steps", steps)
                + TRUE["width"] * transform("width", width)
            )
            p = sigmoid(z)
            scores = {f"q{i}": float(rng.random() < p) for i in range(n)}
            cells.append(LawCell({"search_steps": steps, "width": width}, scores))
    return cells


def test_the_joint_fit_recovers_the_law_with_intervals_around_it() -> None:
    cells = synthetic_cells()
    assert varied_axes(cells) == ("search_steps", "width")
    fit = fit_law(cells, ("search_steps", "width"), n_boot=200)
    assert fit is not None and fit.n_cells == 15 and fit.n_questions == 400
    for name in ("search_steps", "width"):
        assert fit.coef[name] == pytest.approx(TRUE[name], abs=0.12)
        low, high = fit.ci[name]
        assert low < fit.coef[name] < high and low < TRUE[name] < high
    assert fit.r2 > 0.9
    # predictions rise along each axis, and round-trip through JSON unchanged
    assert fit.predict({"search_steps": 4, "width": 1}) > fit.predict({"search_steps": 1})
    again = LawFit.from_dict(fit.to_dict())
    assert again.predict({"search_steps": 3, "width": 2}) == pytest.approx(
        fit.predict({"search_steps": 3, "width": 2}), abs=1e-3
    )


def test_per_axis_and_joint_fits_and_too_few_cells() -> None:
    laws = fit_laws(synthetic_cells(n=100), n_boot=50)
    assert set(laws["per_axis"]) == {"search_steps", "width"}
    assert laws["joint"]["axes"] == ["search_steps", "width"]
    assert laws["link"] == "logit" and laws["metric"] == "em"
    two = [LawCell({"search_steps": s}, {"a": 1.0, "b": 0.0}) for s in (0, 1)]
    assert fit_law(two, ("search_steps",)) is None  # two cells cannot fit a line and its spread


def test_transforms_and_logits() -> None:
    assert transform("search_steps", 0) == 0 and transform("search_steps", 3) == 2
    assert transform("reasoning_tokens", 100) == 1 and transform("width", 1) == 0
    with pytest.raises(ValueError, match="unknown axis"):
        transform("depth", 1)
    assert empirical_logit([1.0, 1.0]) == pytest.approx(math.log(2.5 / 0.5))
    assert sigmoid(0) == 0.5 and sigmoid(-800) == pytest.approx(0.0)
