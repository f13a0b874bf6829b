"""Budget arithmetic: caps on tokens and search steps, exchange rates, and what fits.

All functions here are pure. A `Spend` counts what a run has used on both axes; a `Budget` holds
the caps. Before any call the caller asks `fits(budget, spent, estimate)` with a conservative
estimate of the call; a call that might break a cap is never issued, so caps are hard limits.
Total tokens = prompt tokens (cached or not) + completion tokens; cached tokens are discounted
only in the optional single `compute` cost, where `Rates` converts everything into
token-equivalents.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from leadline.errors import BudgetError
from leadline.usage import TokenUsage

DEFAULT_MAX_TOKENS = 16_000
DEFAULT_MAX_SEARCH_STEPS = 6
DEFAULT_ANSWER_TOKENS = 160
# Below this a run cannot even plan and answer; refusing early beats a run that spends nothing.
MIN_MAX_TOKENS = 400
# Upper bounds: far beyond any real run, low enough that no arithmetic on them overflows or
# loses precision. A cap must be a finite number in range: NaN compares false with everything,
# so a NaN cap would silently be no cap at all.
MAX_MAX_TOKENS = 10**12
MAX_MAX_SEARCH_STEPS = 10**6
MAX_MAX_COMPUTE = 1e15
MAX_RATE = 1e6


def check_int(name: str, value: Any, low: int, high: int) -> int:
    """`value` as a budget integer in low..high, or a BudgetError saying what is wrong."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise BudgetError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise BudgetError(f"{name} must be in {low}..{high:,}, got {value}")
    return value


def check_number(name: str, value: Any, low: float, high: float, *, above: bool = False) -> float:
    """`value` as a finite number in [low, high] (or (low, high] with `above`)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BudgetError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise BudgetError(f"{name} must be a finite number, got {value!r}")
    if value > high or value < low or (above and value == low):
        bound = f"> {low:g}" if above else f">= {low:g}"
        raise BudgetError(f"{name} must be {bound} and <= {high:g}, got {value:g}")
    return float(value)


def check_field(name: str, value: Any, *, label: str | None = None) -> None:
    """Check one budget field (`max_tokens`, `max_search_steps`, `max_compute`, `answer_tokens`)
    for type and range; `label` names it in the message (default: `name`)."""
    label = label or name
    if name == "max_compute":
        check_number(label, value, 0.0, MAX_MAX_COMPUTE, above=True)
    elif name == "answer_tokens":
        check_int(label, value, 16, 4096)
    else:
        high = MAX_MAX_TOKENS if name == "max_tokens" else MAX_MAX_SEARCH_STEPS
        check_int(label, value, 0, high)


@dataclass(frozen=True, kw_only=True)
class Rates:
    """Exchange rates into one compute unit (token-equivalents)."""

    prompt: float = 1.0
    cached_prompt: float = 0.1
    completion: float = 1.0
    search_step: float = 250.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            check_number(f"rate {name}", value, 0.0, MAX_RATE)


@dataclass(frozen=True)
class Spend(TokenUsage):
    """What a run has used, or what a call is estimated to use: tokens and search steps.

    Adding two spends (or any of the records that extend `Spend`) gives a plain `Spend`.
    """

    search_steps: int = 0

    def __add__(self, other: Spend) -> Spend:
        return Spend(
            self.prompt_tokens + other.prompt_tokens,
            self.cached_tokens + other.cached_tokens,
            self.completion_tokens + other.completion_tokens,
            self.search_steps + other.search_steps,
        )

    def compute(self, rates: Rates) -> float:
        return (
            self.uncached_prompt_tokens * rates.prompt
            + self.cached_tokens * rates.cached_prompt
            + self.completion_tokens * rates.completion
            + self.search_steps * rates.search_step
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "cached_tokens": self.cached_tokens,
            "completion_tokens": self.completion_tokens,
            "search_steps": self.search_steps,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True, kw_only=True)
class Budget:
    """Hard caps for one run. `None` means no cap on that axis.

    `answer_tokens` is the completion allowance of the final answer; the controller holds back
    enough to pay for that call (the reserve), so a run that hits its caps still answers.
    """

    max_tokens: int | None = DEFAULT_MAX_TOKENS
    max_search_steps: int | None = DEFAULT_MAX_SEARCH_STEPS
    max_compute: float | None = None
    rates: Rates = field(default_factory=Rates)
    answer_tokens: int = DEFAULT_ANSWER_TOKENS

    def __post_init__(self) -> None:
        if not isinstance(self.rates, Rates):
            raise BudgetError(f"rates must be a Rates object, got {self.rates!r}")
        for name in ("max_tokens", "max_search_steps", "max_compute", "answer_tokens"):
            if getattr(self, name) is not None:
                check_field(name, getattr(self, name))
        if self.max_tokens is not None and self.max_tokens < MIN_MAX_TOKENS:
            raise BudgetError(
                f"max_tokens={self.max_tokens} is too small to plan and answer; "
                f"give at least {MIN_MAX_TOKENS}"
            )
        if self.max_tokens is None and self.max_search_steps is None and self.max_compute is None:
            raise BudgetError(
                "a budget needs at least one cap (max_tokens, max_search_steps or max_compute); "
                "with none, a run that never settles would never stop"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Budget:
        data = dict(data)
        rates = data.pop("rates", None)
        unknown = set(data) - {"max_tokens", "max_search_steps", "max_compute", "answer_tokens"}
        if unknown:
            raise BudgetError(f"unknown budget fields: {sorted(map(ascii, unknown))}")
        if rates is not None and not isinstance(rates, dict):
            raise BudgetError(f"rates must be an object of exchange rates, got {rates!r}")
        try:
            return cls(**data, rates=Rates(**rates) if rates else Rates())
        except TypeError as exc:  # an unknown rate name
            raise BudgetError(f"bad budget rates: {exc}") from exc

    def scaled(self, factor: float) -> Budget:
        """The same budget with token and compute caps scaled (search steps rounded down)."""
        return Budget(
            max_tokens=None
            if self.max_tokens is None
            else max(MIN_MAX_TOKENS, int(self.max_tokens * factor)),
            max_search_steps=None
            if self.max_search_steps is None
            else int(self.max_search_steps * factor),
            max_compute=None if self.max_compute is None else self.max_compute * factor,
            rates=self.rates,
            answer_tokens=self.answer_tokens,
        )


def fits(budget: Budget, spent: Spend, extra: Spend) -> bool:
    """Would spending `extra` on top of `spent` stay within every cap?"""
    after = spent + extra
    if budget.max_tokens is not None and after.total_tokens > budget.max_tokens:
        return False
    if budget.max_search_steps is not None and after.search_steps > budget.max_search_steps:
        return False
    return not (budget.max_compute is not None and after.compute(budget.rates) > budget.max_compute)


def overrun(budget: Budget, spent: Spend) -> dict[str, dict[str, float]]:
    """The caps `spent` went past, each with its cap and what was spent; empty when none.

    Calls are only issued when their worst case fits, so only an endpoint that bills more than
    any estimate allows (a broken or dishonest usage block) can cause this.
    """
    over: dict[str, dict[str, float]] = {}
    if budget.max_tokens is not None and spent.total_tokens > budget.max_tokens:
        over["max_tokens"] = {"cap": budget.max_tokens, "spent": spent.total_tokens}
    if budget.max_search_steps is not None and spent.search_steps > budget.max_search_steps:
        over["max_search_steps"] = {"cap": budget.max_search_steps, "spent": spent.search_steps}
    compute = spent.compute(budget.rates)
    if budget.max_compute is not None and compute > budget.max_compute:
        over["max_compute"] = {"cap": budget.max_compute, "spent": round(compute, 1)}
    return over


def call_estimate(prompt_tokens: int, max_completion_tokens: int) -> Spend:
    """The worst case of one LLM call: every prompt token uncached, every completion token used."""
    return Spend(prompt_tokens=prompt_tokens, completion_tokens=max_completion_tokens)
