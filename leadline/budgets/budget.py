"""Budget arithmetic: caps on the compute axes, exchange rates, and what fits.

All functions here are pure. A `Spend` counts what a run has used; a `Budget` holds the caps.
Before any call the caller asks `fits(budget, spent, estimate)` with a conservative estimate of
the call; a call that might break a cap is never issued, so caps are hard limits.

The axes: **search steps** (`max_search_steps`), **reasoning tokens** (`max_reasoning_tokens`:
completion tokens of the reasoner's calls over the run, `reasoning_step_tokens` per call) and
**width** (`width`: reader samples combined by vote), all inside one token cap (`max_tokens`)
and an optional compute cost (`max_compute`).

The token unit: `max_tokens` counts *weighted* tokens, uncached prompt tokens + completion tokens
+ cached prompt tokens × `cached_token_rate` (default 0.1, as OpenAI, Anthropic and others bill a
cache read), so a shared prompt prefix buys more search within the same cap. `cached_token_rate=1`
is the unit leadline used before (every prompt token counted in full). The one weighting
function, `weigh`, also gives the compute cost, where `Rates` converts everything, search steps
included, into token-equivalents.
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
# What a cached prompt token costs against an uncached one: OpenAI bills cache reads at 0.1-0.5 of
# the input price, Anthropic at 0.1, Google at 0.25; 0.1 is the common figure. Both the token cap
# (`Budget.cached_token_rate`) and the compute cost (`Rates.cached_prompt`) default to it.
CACHED_PROMPT_RATE = 0.1
# The token unit leadline had before cached tokens were weighted (every prompt token in full).
LEGACY_CACHED_TOKEN_RATE = 1.0
DEFAULT_WIDTH = 1
MAX_WIDTH = 16
MIN_REASONING_STEP_TOKENS, MAX_REASONING_STEP_TOKENS = 16, 4096
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


# Each budget field's range: (low, high) for integers, and for numbers whether low is excluded.
INT_RANGES: dict[str, tuple[int, int]] = {
    "max_tokens": (0, MAX_MAX_TOKENS),
    "max_search_steps": (0, MAX_MAX_SEARCH_STEPS),
    "max_reasoning_tokens": (0, MAX_MAX_TOKENS),
    "reasoning_step_tokens": (MIN_REASONING_STEP_TOKENS, MAX_REASONING_STEP_TOKENS),
    "answer_tokens": (16, 4096),
    "width": (1, MAX_WIDTH),
}
NUMBER_RANGES: dict[str, tuple[float, float, bool]] = {
    "max_compute": (0.0, MAX_MAX_COMPUTE, True),
    "cached_token_rate": (0.0, 1.0, False),
}
BUDGET_FIELDS = (*INT_RANGES, *NUMBER_RANGES)
# Fields that may be None ("no cap"); the others always hold a value.
OPTIONAL_FIELDS = frozenset(
    {
        "max_tokens",
        "max_search_steps",
        "max_compute",
        "max_reasoning_tokens",
        "reasoning_step_tokens",
    }
)


def check_field(name: str, value: Any, *, label: str | None = None) -> None:
    """Check one budget field (see `INT_RANGES`, `NUMBER_RANGES`) for type and range; `label`
    names it in the message (default: `name`)."""
    label = label or name
    if name in NUMBER_RANGES:
        low, high, above = NUMBER_RANGES[name]
        check_number(label, value, low, high, above=above)
    else:
        low_i, high_i = INT_RANGES[name]
        check_int(label, value, low_i, high_i)


@dataclass(frozen=True, kw_only=True)
class Rates:
    """Exchange rates into one compute unit (token-equivalents)."""

    prompt: float = 1.0
    cached_prompt: float = CACHED_PROMPT_RATE
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
        """Token-equivalents at `rates`, search steps included (what `max_compute` caps)."""
        return weigh(
            self,
            prompt=rates.prompt,
            cached_prompt=rates.cached_prompt,
            completion=rates.completion,
            search_step=rates.search_step,
        )

    def weighted_tokens(self, cached_token_rate: float) -> float:
        """Tokens with cached prompt tokens at `cached_token_rate` (what `max_tokens` caps)."""
        return weigh(self, cached_prompt=cached_token_rate)

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "cached_tokens": self.cached_tokens,
            "completion_tokens": self.completion_tokens,
            "search_steps": self.search_steps,
            "total_tokens": self.total_tokens,
        }


def weigh(
    spend: TokenUsage,
    *,
    prompt: float = 1.0,
    cached_prompt: float = 1.0,
    completion: float = 1.0,
    search_step: float = 0.0,
) -> float:
    """One spend in one unit: each kind of token (and each search step) times its rate.

    The single place a spend is weighted: the token cap uses it with only `cached_prompt` set,
    the compute cost with every rate (`Rates`).
    """
    steps = getattr(spend, "search_steps", 0)
    return (
        (spend.prompt_tokens - spend.cached_tokens) * prompt
        + spend.cached_tokens * cached_prompt
        + spend.completion_tokens * completion
        + steps * search_step
    )


@dataclass(frozen=True, kw_only=True)
class Budget:
    """Hard caps for one run, and how it may spread them. `None` means no cap on that axis.

    - `max_tokens`: weighted tokens (cached prompt tokens at `cached_token_rate`, see above);
    - `max_search_steps`: queries run (a link step counts as one);
    - `max_compute`: optional token-equivalents at `rates`;
    - `max_reasoning_tokens`: completion tokens all the reasoner's calls may use together;
      `reasoning_step_tokens`: the completion allowance of one reasoner call (None: the
      reasoner's own, 260). With none left, the run goes on searching the plan's queries
      without reasoning; so the axis is a real knob: how many reasoning calls, how long each;
    - `width`: how many reader samples answer the question, combined by majority vote (1: one
      greedy read, as leadline has always answered);
    - `answer_tokens`: the completion allowance of each reader call; the controller holds back
      enough to pay for `width` of them (the reserve), so a run that hits its caps still answers.
    """

    max_tokens: int | None = DEFAULT_MAX_TOKENS
    max_search_steps: int | None = DEFAULT_MAX_SEARCH_STEPS
    max_compute: float | None = None
    rates: Rates = field(default_factory=Rates)
    answer_tokens: int = DEFAULT_ANSWER_TOKENS
    max_reasoning_tokens: int | None = None
    reasoning_step_tokens: int | None = None
    width: int = DEFAULT_WIDTH
    cached_token_rate: float = CACHED_PROMPT_RATE

    def __post_init__(self) -> None:
        if not isinstance(self.rates, Rates):
            raise BudgetError(f"rates must be a Rates object, got {self.rates!r}")
        for name in BUDGET_FIELDS:
            value = getattr(self, name)
            if value is None and name not in OPTIONAL_FIELDS:
                raise BudgetError(f"{name} cannot be None")
            if value is not None:
                check_field(name, value)
        if isinstance(self.cached_token_rate, int):  # 1 and 1.0 are the same budget
            object.__setattr__(self, "cached_token_rate", float(self.cached_token_rate))
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
        unknown = set(data) - set(BUDGET_FIELDS)
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
            max_reasoning_tokens=None
            if self.max_reasoning_tokens is None
            else int(self.max_reasoning_tokens * factor),
            reasoning_step_tokens=self.reasoning_step_tokens,
            width=self.width,
            cached_token_rate=self.cached_token_rate,
        )

    def weighted(self, spend: Spend) -> float:
        """`spend` in this budget's token unit (what `max_tokens` is compared with)."""
        return spend.weighted_tokens(self.cached_token_rate)


def fits(budget: Budget, spent: Spend, extra: Spend) -> bool:
    """Would spending `extra` on top of `spent` stay within every cap?"""
    after = spent + extra
    if budget.max_tokens is not None and budget.weighted(after) > budget.max_tokens:
        return False
    if budget.max_search_steps is not None and after.search_steps > budget.max_search_steps:
        return False
    return not (budget.max_compute is not None and after.compute(budget.rates) > budget.max_compute)


def overrun(budget: Budget, spent: Spend, reasoning_spent: int = 0) -> dict[str, dict[str, float]]:
    """The caps `spent` went past, each with its cap and what was spent; empty when none.

    `reasoning_spent` is the reasoner's completion tokens (what `max_reasoning_tokens` caps).
    Calls are only issued when their worst case fits, so only an endpoint that bills more than
    any estimate allows (a broken or dishonest usage block) can cause this.
    """
    over: dict[str, dict[str, float]] = {}
    weighted = budget.weighted(spent)
    if budget.max_tokens is not None and weighted > budget.max_tokens:
        over["max_tokens"] = {"cap": budget.max_tokens, "spent": round(weighted, 1)}
    if budget.max_reasoning_tokens is not None and reasoning_spent > budget.max_reasoning_tokens:
        over["max_reasoning_tokens"] = {
            "cap": budget.max_reasoning_tokens,
            "spent": reasoning_spent,
        }
    if budget.max_search_steps is not None and spent.search_steps > budget.max_search_steps:
        over["max_search_steps"] = {"cap": budget.max_search_steps, "spent": spent.search_steps}
    compute = spent.compute(budget.rates)
    if budget.max_compute is not None and compute > budget.max_compute:
        over["max_compute"] = {"cap": budget.max_compute, "spent": round(compute, 1)}
    return over


def call_estimate(prompt_tokens: int, max_completion_tokens: int) -> Spend:
    """The worst case of one LLM call: every prompt token uncached, every completion token used."""
    return Spend(prompt_tokens=prompt_tokens, completion_tokens=max_completion_tokens)


def whole_tokens(weighted: float) -> int:
    """Weighted tokens as the whole tokens a pool is charged: rounded up (a spend within an
    integer cap stays within it; float noise below a millionth is not a token)."""
    return math.ceil(round(weighted, 6))


def reasoning_allowance(budget: Budget, reasoning_spent: int, default_step: int) -> int:
    """The completion allowance of the next reasoner call: the per-call allowance
    (`reasoning_step_tokens`, else `default_step`), no more than `max_reasoning_tokens` has left."""
    step = default_step if budget.reasoning_step_tokens is None else budget.reasoning_step_tokens
    if budget.max_reasoning_tokens is None:
        return step
    return max(0, min(step, budget.max_reasoning_tokens - reasoning_spent))
