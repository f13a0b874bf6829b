from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from leadline.budgets.curves import (
    answer_at,
    bootstrap_ci,
    compute_matched,
    frontier_value_at,
    loglinear_fit,
    pareto_frontier,
    read_ledger,
)
from leadline.budgets.ledger import AnytimeAnswer, LedgerEvent, write_jsonl


def test_loglinear_fit_recovers_slope() -> None:
    xs = [0, 1, 3, 7]
    ys = [0.2 + 0.1 * math.log2(x + 1) for x in xs]
    fit = loglinear_fit(xs, ys)
    assert fit is not None
    assert (
        fit.slope == pytest.approx(0.1)
        and fit.intercept == pytest.approx(0.2)
        and fit.r2 == pytest.approx(1.0)
    )
    assert float(fit.predict(15)) == pytest.approx(0.6)
    assert loglinear_fit([2, 2], [0.1, 0.2]) is None


def test_pareto_frontier() -> None:
    pts = [(100, 0.3), (200, 0.25), (300, 0.5), (50, 0.1), (400, 0.5)]
    assert pareto_frontier(pts, lambda p: p[0], lambda p: p[1]) == [
        (50, 0.1),
        (100, 0.3),
        (300, 0.5),
    ]
    assert frontier_value_at([100, 400], [0.2, 0.4], 200) == pytest.approx(0.3)
    assert frontier_value_at([100, 400], [0.2, 0.4], 10_000) == pytest.approx(0.4)  # clamped


def test_answer_at_replays_anytime_answers() -> None:
    anytime = [
        {"search_steps": 1, "total_tokens": 900, "answer": "a"},
        {"search_steps": 2, "total_tokens": 1500, "answer": "b"},
        {"search_steps": 4, "total_tokens": 2600, "answer": "c"},
    ]
    assert answer_at(anytime, 0, None) is None
    assert answer_at(anytime, 2, None)["answer"] == "b"
    assert answer_at(anytime, 4, 2000)["answer"] == "b"
    assert answer_at(anytime, None, None)["answer"] == "c"


def test_bootstrap_and_compute_matched() -> None:
    mean, lo, hi = bootstrap_ci([0, 1] * 50, n_boot=500)
    assert mean == 0.5 and lo < 0.5 < hi
    rng = np.random.default_rng(1)
    n = 60
    cheap = (rng.random(n) < 0.3).astype(float), np.full(n, 100.0)
    dear = (rng.random(n) < 0.6).astype(float), np.full(n, 400.0)
    policy = (rng.random(n) < 0.8).astype(float), np.full(n, 200.0)
    m = compute_matched(*policy, [cheap, dear], n_boot=300)
    assert m["n"] == n and m["mean_compute"] == 200.0 and m["within_fixed_range"]
    assert m["difference"] == pytest.approx(m["policy"] - m["fixed_at_same_compute"], abs=1e-3)
    assert m["difference_ci"][0] <= m["difference"] <= m["difference_ci"][1]
    with pytest.raises(ValueError):
        compute_matched([1.0], [1.0], [([1.0, 0.0], [1.0, 1.0])])


def test_read_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    write_jsonl(
        path,
        [LedgerEvent(kind="search", agent="searcher", step=1, search_steps=1)],
        [AnytimeAnswer(1, "x", 0.5, 300, 1)],
        "run1",
    )
    runs = read_ledger(path)
    assert runs["run1"]["anytime"][0]["answer"] == "x" and len(runs["run1"]["event"]) == 1
    assert json.loads(path.read_text().splitlines()[-1])["type"] == "summary"
