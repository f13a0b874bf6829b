"""Server-side settings of the research API: keys, limits, budget maxima and where jobs live.

Kept apart from `leadline.config.Settings` (which says where the model and the data are) because
these only matter to a running server. Precedence as everywhere in leadline: explicit argument >
environment (`LEADLINE_API_KEYS`, `LEADLINE_API_DB`, `LEADLINE_API_MAX_JOBS_PER_KEY`) > default.
The budget maxima bound every request; a request that leaves a budget field out gets leadline's
default for it, lowered to the maximum when the operator set a smaller one.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leadline.budgets.budget import (
    CACHED_PROMPT_RATE,
    DEFAULT_ANSWER_TOKENS,
    DEFAULT_MAX_SEARCH_STEPS,
    DEFAULT_MAX_TOKENS,
    MAX_MAX_COMPUTE,
    MAX_MAX_SEARCH_STEPS,
    MAX_MAX_TOKENS,
    MAX_WIDTH,
    MIN_MAX_TOKENS,
    Budget,
    check_field,
)
from leadline.budgets.controller import Policy, ShapeMode
from leadline.config import KVMode
from leadline.errors import BudgetError, ConfigError

DEFAULT_MAX_BODY_BYTES = 128 * 1024
DEFAULT_MAX_JOBS_PER_KEY = 8
DEFAULT_MAX_ANSWER_TOKENS = 1024
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_KEEPALIVE_S = 15.0

ENV_VARS: dict[str, str] = {
    "LEADLINE_API_KEYS": "api_keys",
    "LEADLINE_API_DB": "db_url",
    "LEADLINE_API_MAX_JOBS_PER_KEY": "max_jobs_per_key",
    "LEADLINE_API_ALLOWED_HOSTS": "allowed_hosts",
}


LIST_SETTINGS = frozenset({"api_keys", "allowed_hosts"})


class ApiConfig(BaseModel):
    """Limits and storage of one API server."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    api_keys: tuple[str, ...] = Field((), description="Accepted Bearer keys; empty = no auth.")
    allowed_hosts: tuple[str, ...] = Field(
        (),
        description="Host names requests may be addressed to besides loopback ones; checked "
        "(with Origin) when there are no keys or when this is set, against DNS rebinding.",
    )
    db_url: str | None = Field(
        None, description="None: SQLite under data_dir/api; 'sqlite:///path' or 'postgresql://…'."
    )
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1024)
    max_jobs_per_key: int = Field(DEFAULT_MAX_JOBS_PER_KEY, ge=1)
    max_tokens: int = Field(DEFAULT_MAX_TOKENS, ge=MIN_MAX_TOKENS, le=MAX_MAX_TOKENS)
    max_search_steps: int = Field(DEFAULT_MAX_SEARCH_STEPS, ge=0, le=MAX_MAX_SEARCH_STEPS)
    max_compute: float | None = Field(None, gt=0, le=MAX_MAX_COMPUTE)
    max_answer_tokens: int = Field(DEFAULT_MAX_ANSWER_TOKENS, ge=16, le=4096)
    max_reasoning_tokens: int | None = Field(None, ge=0, le=MAX_MAX_TOKENS)
    max_width: int = Field(MAX_WIDTH, ge=1, le=MAX_WIDTH)
    cached_token_rate: float = Field(
        CACHED_PROMPT_RATE,
        ge=0.0,
        le=1.0,
        description="The server's token unit: what a cached prompt token counts for against "
        "max_tokens. A request may count cached tokens more (a stricter unit), never less.",
    )
    default_policy: Policy = "adaptive"
    default_shape: ShapeMode = "auto"
    default_kv_mode: KVMode | None = None
    default_collection: str | None = None
    resume_interrupted: bool = Field(True, description="Resume jobs a restart interrupted.")
    max_attempts: int = Field(DEFAULT_MAX_ATTEMPTS, ge=1, description="Starts before giving up.")
    keepalive_s: float = Field(DEFAULT_KEEPALIVE_S, gt=0)
    precompute_collections: tuple[str, ...] = Field(
        (), description="Collections to precompute in idle time (`leadline serve` adds its own)."
    )
    precompute_max_tokens: int = Field(
        0, ge=0, description="Model tokens idle-time precompute may spend; 0: link graphs only."
    )

    def __repr__(self) -> str:  # never print the keys themselves
        shown = self.model_dump(exclude={"api_keys"})
        fields = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"ApiConfig(api_keys=<{len(self.api_keys)} key(s)>, {fields})"

    __str__ = __repr__

    def bound_budget(self, requested: dict[str, Any]) -> Budget:
        """The budget a request may have: its own fields, defaults for the rest, within maxima.

        `requested` holds only the fields the client sent; an explicit null means "no cap",
        which a server with a maximum on that axis refuses. Every value is checked (type,
        finite, in range) before it is compared with a maximum: NaN compares false with
        everything, so an unchecked NaN would pass as "not above the maximum" and lift it.
        `cached_token_rate` is bounded from below instead: a request counting cached tokens for
        less than the server does would stretch the server's token maximum.
        """
        defaults = {
            "max_tokens": min(DEFAULT_MAX_TOKENS, self.max_tokens),
            "max_search_steps": min(DEFAULT_MAX_SEARCH_STEPS, self.max_search_steps),
            "answer_tokens": min(DEFAULT_ANSWER_TOKENS, self.max_answer_tokens),
            "max_compute": self.max_compute,
            "max_reasoning_tokens": self.max_reasoning_tokens,
            "reasoning_step_tokens": None,
            "width": 1,
            "cached_token_rate": self.cached_token_rate,
        }
        maxima: dict[str, float | None] = {
            "max_tokens": self.max_tokens,
            "max_search_steps": self.max_search_steps,
            "answer_tokens": self.max_answer_tokens,
            "max_compute": self.max_compute,
            "max_reasoning_tokens": self.max_reasoning_tokens,
            "reasoning_step_tokens": None,
            "width": self.max_width,
            "cached_token_rate": None,
        }
        always_set = ("answer_tokens", "width", "cached_token_rate")  # null: the default
        values: dict[str, Any] = {}
        for name, default in defaults.items():
            value = requested.get(name, default)
            if name in always_set and value is None:
                value = default
            cap = maxima[name]
            if cap is not None and value is None:
                raise BudgetError(f"budget.{name} cannot be unlimited here; the maximum is {cap:g}")
            if value is not None:
                check_field(name, value, label=f"budget.{name}")
            if cap is not None and value > cap:
                raise BudgetError(
                    f"budget.{name}={value:g} is above this server's maximum of {cap:g}"
                )
            if name == "cached_token_rate" and value < self.cached_token_rate:
                raise BudgetError(
                    f"budget.cached_token_rate={value:g} is below this server's rate of "
                    f"{self.cached_token_rate:g} (cached prompt tokens cannot count for less)"
                )
            values[name] = value
        return Budget(**values)


def parse_keys(raw: str) -> tuple[str, ...]:
    """`LEADLINE_API_KEYS`: comma-separated, blanks ignored."""
    return tuple(k.strip() for k in raw.split(",") if k.strip())


def load_api_config(environ: dict[str, str] | None = None, **overrides: Any) -> ApiConfig:
    """Resolve an `ApiConfig` from defaults, the environment and explicit overrides."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    for var, name in ENV_VARS.items():
        if env.get(var):
            values[name] = parse_keys(env[var]) if name in LIST_SETTINGS else env[var]
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ApiConfig(**values)
    except ValidationError as exc:
        raise ConfigError(f"invalid API settings: {exc}") from exc
