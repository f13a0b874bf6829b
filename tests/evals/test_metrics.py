from __future__ import annotations

import pytest

from leadline.budgets.budget import Rates
from leadline.evals.metrics import (
    QuestionCost,
    exact_match,
    f1,
    normalize_answer,
    summarize_records,
    support_recall,
)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("  a  Tale of Two Cities. ", "tale of two cities"),
        ("U.S.A.", "usa"),
        ("Chief of Protocol!", "chief of protocol"),
        ("An apple, the pear and A fig", "apple pear and fig"),
        ("theatre", "theatre"),  # articles only as whole words
        ("3,677 seated", "3677 seated"),
        ("", ""),
    ],
)
def test_normalize_answer_matches_the_official_script(raw: str, normalized: str) -> None:
    assert normalize_answer(raw) == normalized


def test_exact_match_and_f1_on_known_cases() -> None:
    assert exact_match("the Chief of Protocol", "Chief of Protocol") == 1.0
    assert exact_match("Chief Protocol", "Chief of Protocol") == 0.0
    # SQuAD: precision 2/2, recall 2/3 -> F1 0.8
    assert f1("Chief Protocol", "Chief of Protocol") == pytest.approx(0.8)
    assert f1("Barack Obama", "Obama") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert f1("nothing shared", "Obama") == 0.0
    assert f1("", "Obama") == 0.0


def test_hotpot_yes_no_rule() -> None:
    # The HotpotQA script gives no partial credit when a yes/no answer is involved and differs.
    assert f1("yes", "yes") == 1.0
    assert f1("no", "yes") == 0.0
    assert f1("yes it is", "yes") == 0.0
    assert f1("yes", "yes sir") == 0.0


def test_max_over_aliases() -> None:
    golds = ["United States", "USA", "U.S."]
    assert exact_match("usa", golds) == 1.0
    assert exact_match("U.S", golds) == 1.0
    assert f1("the united states of america", golds) == pytest.approx(2 * (2 / 4) * 1 / (2 / 4 + 1))


def test_support_recall_by_title() -> None:
    assert (
        support_recall(["Shirley Temple", "x"], ["Shirley Temple", "Kiss and Tell (1945 film)"])
        == 0.5
    )
    assert (
        support_recall(
            ["shirley  temple", "Kiss and Tell (1945 film)"],
            ["Shirley Temple", "Kiss and Tell (1945 film)"],
        )
        == 1.0
    )
    assert support_recall([], ["A"]) == 0.0
    assert support_recall(["A"], []) is None


def test_costs_and_summary() -> None:
    cost = QuestionCost(
        prompt_tokens=1000,
        cached_tokens=600,
        completion_tokens=50,
        search_steps=2,
        llm_calls=3,
        wall_s=1.5,
    )
    d = cost.to_dict(Rates())
    assert d["uncached_tokens"] == 400 and d["total_tokens"] == 1050
    assert d["compute"] == pytest.approx(400 + 60 + 50 + 500)
    records = [
        {"em": 1.0, "f1": 1.0, "support_recall": 0.5, "cost": d, "error": ""},
        {"em": 0.0, "f1": 0.5, "support_recall": None, "cost": d, "error": "boom"},
    ]
    s = summarize_records(records)
    assert s["n"] == 2 and s["em"] == 0.5 and s["f1"] == 0.75 and s["support_recall"] == 0.5
    assert s["errors"] == 1 and s["mean_search_steps"] == 2 and s["mean_total_tokens"] == 1050
