"""`TokenUsage`: the one record of prompt, cached and completion tokens; every cost record
extends it, so "total tokens" and "prefill" are worked out in one place.

    TokenUsage                         prompt tokens (cached or not) and completion tokens
    ├── tools.llm.Usage                one LLM call as its server billed it (+ reasoning tokens,
    │                                  latency, whether leadline had to estimate it)
    ├── precompute.store.StageCost     one precompute stage's calls, passages and wall time
    └── budgets.budget.Spend           + search steps: what a run used, or a call's worst case
        ├── budgets.ledger.LedgerEvent     one LLM or search call in the ledger
        ├── budgets.ledger.RunUsage        a run's totals, as `ResearchResult.usage`
        └── evals.metrics.QuestionCost     one evaluated question (+ calls and wall time)

Total tokens are prompt plus completion tokens: cached prompt tokens are counted (servers bill
them, and caps count them); only the optional compute cost discounts them (`budgets.Rates`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenUsage:
    """Tokens of one call or of many: prompt tokens (of which `cached_tokens` were served from
    the server's prefix cache) and completion tokens (reasoning tokens included)."""

    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens: what token caps count."""
        return self.prompt_tokens + self.completion_tokens

    @property
    def uncached_prompt_tokens(self) -> int:
        """Prompt tokens the server had to compute (prefill): not served from its cache."""
        return self.prompt_tokens - self.cached_tokens
