"""Budget arithmetic of the three axes and the token unit: pure functions, no model."""

from __future__ import annotations

import pytest

from leadline.budgets.budget import (
    CACHED_PROMPT_RATE,
    Budget,
    Rates,
    Spend,
    fits,
    reasoning_allowance,
    weigh,
)
from leadline.errors import BudgetError

SPEND = Spend(prompt_tokens=1000, cached_tokens=800, completion_tokens=100, search_steps=2)


def test_one_function_weighs_a_spend_for_the_token_cap_and_for_compute() -> None:
    assert weigh(SPEND) == 1100  # every rate 1, search steps free: the raw token count
    assert SPEND.weighted_tokens(0.1) == pytest.approx(200 + 80 + 100)
    assert SPEND.weighted_tokens(1.0) == SPEND.total_tokens
    rates = Rates(prompt=2, cached_prompt=0.5, completion=3, search_step=10)
    assert SPEND.compute(rates) == 200 * 2 + 800 * 0.5 + 100 * 3 + 2 * 10
    # the defaults agree: a cached token costs the same fraction in the cap and in compute
    assert Budget().cached_token_rate == Rates().cached_prompt == CACHED_PROMPT_RATE


def test_the_token_cap_counts_cached_tokens_at_the_budgets_rate() -> None:
    spent = Spend(prompt_tokens=3000, cached_tokens=2500)
    call = Spend(prompt_tokens=500, completion_tokens=100)  # a worst case: nothing cached
    assert fits(Budget(max_tokens=1500), spent, call)  # 500 + 250 + 600
    assert not fits(Budget(max_tokens=1500, cached_token_rate=1.0), spent, call)  # 3600
    assert Budget(max_tokens=1500).weighted(spent) == pytest.approx(750)


def test_the_reasoning_allowance_is_the_step_within_what_is_left() -> None:
    assert reasoning_allowance(Budget(), 10_000, 260) == 260  # no reasoning cap
    assert reasoning_allowance(Budget(reasoning_step_tokens=64), 0, 260) == 64
    capped = Budget(max_reasoning_tokens=300, reasoning_step_tokens=200)
    assert [reasoning_allowance(capped, s, 260) for s in (0, 200, 290, 300, 400)] == [
        200,
        100,
        10,
        0,
        0,
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("width", 0),
        ("width", 17),
        ("width", 2.0),
        ("max_reasoning_tokens", -1),
        ("reasoning_step_tokens", 8),
        ("cached_token_rate", -0.1),
        ("cached_token_rate", 1.5),
        ("cached_token_rate", float("nan")),
        ("width", None),
        ("cached_token_rate", None),
    ],
)
def test_new_fields_are_checked_like_the_others(field: str, value: object) -> None:
    with pytest.raises(BudgetError, match=field):
        Budget(**{field: value})


def test_new_fields_round_trip_and_scale() -> None:
    budget = Budget(
        max_reasoning_tokens=600, reasoning_step_tokens=120, width=3, cached_token_rate=1
    )
    assert budget.cached_token_rate == 1.0 and isinstance(budget.cached_token_rate, float)
    assert Budget.from_dict(budget.to_dict()) == budget
    half = budget.scaled(0.5)
    assert (half.max_reasoning_tokens, half.reasoning_step_tokens, half.width) == (300, 120, 3)
    with pytest.raises(BudgetError, match="unknown budget fields"):
        Budget.from_dict({"widht": 3})


@pytest.mark.parametrize(
    "command",
    [["ask", "q"], ["batch", "in.jsonl", "-o", "out.jsonl"], ["eval", "--out", "o"]],
)
def test_every_budget_command_takes_the_axes_as_flags(command: list[str]) -> None:
    from leadline.cli import build_parser
    from leadline.cli.common import budget_from_args

    flags = ["--max-reasoning-tokens", "520", "--reasoning-step-tokens", "130", "--width", "3"]
    args = build_parser().parse_args([*command, *flags, "--cached-token-rate", "1"])
    budget = budget_from_args(args)
    assert (budget.max_reasoning_tokens, budget.reasoning_step_tokens, budget.width) == (
        520,
        130,
        3,
    )
    assert budget.cached_token_rate == 1.0
    default = budget_from_args(build_parser().parse_args(command))
    assert (default.width, default.max_reasoning_tokens, default.cached_token_rate) == (
        1,
        None,
        CACHED_PROMPT_RATE,
    )
