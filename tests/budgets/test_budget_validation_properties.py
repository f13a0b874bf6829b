"""Property test: random budget values (NaN, ±inf, negative, huge, strings, bools) go through
every entrypoint's validation — Python `Budget`, the API body and server maxima (research and
chat), the CLI flags and batch rows — and each is refused or accepted as a finite number in
range, never raw. A NaN that slipped through would compare false with every cap: no cap."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from leadline.api.config import ApiConfig
from leadline.api.schemas import BudgetRequest
from leadline.batch.inputs import parse_row
from leadline.budgets.budget import (
    MAX_MAX_COMPUTE,
    MAX_MAX_SEARCH_STEPS,
    MAX_MAX_TOKENS,
    MAX_REASONING_STEP_TOKENS,
    MAX_WIDTH,
    MIN_MAX_TOKENS,
    MIN_REASONING_STEP_TOKENS,
    Budget,
)
from leadline.cli import build_parser
from leadline.cli.common import budget_from_args
from leadline.errors import BudgetError, ConfigError

FIELDS = (
    "max_tokens",
    "max_search_steps",
    "max_compute",
    "answer_tokens",
    "max_reasoning_tokens",
    "reasoning_step_tokens",
    "width",
    "cached_token_rate",
)
# The fields with a CLI flag of the same name (answer_tokens has none).
CLI_FIELDS = tuple(f for f in FIELDS if f != "answer_tokens")
SERVER = ApiConfig(
    max_tokens=8000,
    max_search_steps=4,
    max_compute=2000,
    max_answer_tokens=512,
    max_reasoning_tokens=1000,
    max_width=4,
    cached_token_rate=0.25,
)

values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, -1, 0, 10**30, -(10**30), 1e308]),
    st.sampled_from([0.05, 0.1, 0.5, 1, 1.0, 1.5, 2, 3, 16, 17, 4096, 4097]),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.text(max_size=8),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "NaN", "2000", " 5 "]),
    st.booleans(),
)


def in_range(budget: Budget) -> None:
    """What every accepted budget must be: finite numbers of the right type, in range."""
    for name in (
        "max_tokens",
        "max_search_steps",
        "answer_tokens",
        "max_reasoning_tokens",
        "reasoning_step_tokens",
        "width",
    ):
        value = getattr(budget, name)
        if value is not None:
            assert type(value) is int, (name, value)
    if budget.max_tokens is not None:
        assert MIN_MAX_TOKENS <= budget.max_tokens <= MAX_MAX_TOKENS
    if budget.max_search_steps is not None:
        assert 0 <= budget.max_search_steps <= MAX_MAX_SEARCH_STEPS
    if budget.max_compute is not None:
        assert math.isfinite(budget.max_compute) and 0 < budget.max_compute <= MAX_MAX_COMPUTE
    assert 16 <= budget.answer_tokens <= 4096
    if budget.max_reasoning_tokens is not None:
        assert 0 <= budget.max_reasoning_tokens <= MAX_MAX_TOKENS
    if budget.reasoning_step_tokens is not None:
        step = budget.reasoning_step_tokens
        assert MIN_REASONING_STEP_TOKENS <= step <= MAX_REASONING_STEP_TOKENS
    assert 1 <= budget.width <= MAX_WIDTH
    rate = budget.cached_token_rate
    assert type(rate) is float and math.isfinite(rate) and 0.0 <= rate <= 1.0


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(FIELDS), value=values)
def test_python_budgets(name: str, value: Any) -> None:
    try:
        budget = Budget(**{name: value})
    except BudgetError:
        return
    in_range(budget)
    assert getattr(budget, name) == value


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(FIELDS), value=values)
def test_api_bodies_within_the_server_maxima(name: str, value: Any) -> None:
    """The research body and the chat endpoint's `leadline.budget` share this validation."""
    try:
        body = BudgetRequest.model_validate({name: value})
        budget = SERVER.bound_budget(body.model_dump(exclude_unset=True))
    except (ValidationError, BudgetError):
        return
    in_range(budget)
    assert budget.max_tokens is not None and budget.max_tokens <= SERVER.max_tokens
    assert budget.max_search_steps is not None
    assert budget.max_search_steps <= SERVER.max_search_steps
    assert budget.max_compute is not None and budget.max_compute <= 2000
    assert budget.answer_tokens <= SERVER.max_answer_tokens
    assert budget.max_reasoning_tokens is not None
    assert budget.max_reasoning_tokens <= SERVER.max_reasoning_tokens  # type: ignore[operator]
    assert budget.width <= SERVER.max_width
    # a request may count cached tokens more than the server does, never less
    assert budget.cached_token_rate >= SERVER.cached_token_rate


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(CLI_FIELDS), value=values)
def test_cli_flags(name: str, value: Any) -> None:
    flag = "--" + name.replace("_", "-")
    try:
        args = build_parser().parse_args(["ask", "q", flag, str(value)])
    except SystemExit:  # argparse refused the text (exit status 2)
        return
    try:
        budget = budget_from_args(args)
    except BudgetError:
        return
    in_range(budget)


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(FIELDS), value=values)
def test_batch_rows(name: str, value: Any) -> None:
    try:
        item = parse_row({"id": 1, "question": "q?", "budget": {name: value}}, Budget())
    except ConfigError:
        return
    assert item.budget is not None
    in_range(item.budget)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_rates_must_be_finite(value: float) -> None:
    with pytest.raises(BudgetError, match="finite"):
        Budget.from_dict({"rates": {"search_step": value}})
