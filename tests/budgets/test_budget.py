from __future__ import annotations

import pytest

from leadline.budgets.budget import Budget, Rates, Spend, fits
from leadline.errors import BudgetError


def test_spend_adds_and_prices_cached_tokens_at_a_discount() -> None:
    s = Spend(100, 40, 10, 1) + Spend(50, 0, 5, 2)
    assert s == Spend(150, 40, 15, 3)
    assert s.total_tokens == 165
    rates = Rates(prompt=1, cached_prompt=0.5, completion=2, search_step=100)
    assert s.compute(rates) == 110 * 1 + 40 * 0.5 + 15 * 2 + 3 * 100


@pytest.mark.parametrize(
    ("budget", "extra", "ok"),
    [
        (Budget(max_tokens=1000), Spend(900, 0, 100, 0), True),
        (Budget(max_tokens=1000), Spend(900, 0, 101, 0), False),
        (Budget(max_search_steps=2), Spend(search_steps=2), True),
        (Budget(max_search_steps=2), Spend(search_steps=3), False),
        (
            Budget(max_tokens=None, max_compute=500.0, rates=Rates(search_step=200)),
            Spend(search_steps=2),
            True,
        ),
        (
            Budget(max_tokens=None, max_compute=500.0, rates=Rates(search_step=200)),
            Spend(101, 0, 0, 2),
            False,
        ),
    ],
)
def test_fits_checks_every_axis(budget: Budget, extra: Spend, ok: bool) -> None:
    assert fits(budget, Spend(), extra) is ok


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_tokens": 10},
        {"max_search_steps": -1},
        {"max_compute": 0.0},
        {"answer_tokens": 5},
        {"max_tokens": None, "max_search_steps": None},  # no cap at all: a run could never end
    ],
)
def test_invalid_budgets_are_refused_with_a_clear_error(kwargs: dict) -> None:
    with pytest.raises(BudgetError):
        Budget(**kwargs)


def test_budget_round_trips_through_dict_and_rejects_unknown_fields() -> None:
    b = Budget(max_tokens=5000, max_search_steps=3, max_compute=9000.0, rates=Rates(search_step=10))
    assert Budget.from_dict(b.to_dict()) == b
    with pytest.raises(BudgetError, match="unknown budget fields"):
        Budget.from_dict({"max_tokenz": 5})
