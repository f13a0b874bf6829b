"""The budget guard: vetoes any LLM call whose worst case could break a cap, and books the rest.

It plugs into `LLMClient.chat`/`chat_json` as their `CallGuard`, so a JSON repair attempt is
checked and booked like any other call. `reserve` is spend held back for later calls (the final
answer), which a non-final call must leave affordable. A reasoner's guard also holds the
reasoning axis: `reasoning_spent` (the reasoner's completion tokens before this step) plus its own
calls' completion allowances must stay within `max_reasoning_tokens`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leadline.budgets.budget import Budget, Spend, call_estimate, fits
from leadline.budgets.ledger import REASONER, LedgerEvent, reasoner_tokens, total_spend
from leadline.errors import BudgetError
from leadline.tools.llm import Completion, Message
from leadline.tools.tokens import estimate_prompt_tokens


class CallRefused(BudgetError):
    """A call was not issued because its worst case would not fit the budget."""


class BudgetGuard:
    def __init__(
        self,
        budget: Budget,
        spent: Spend,
        *,
        reserve: Spend,
        agent: str,
        step: int,
        reasoning_spent: int = 0,
    ) -> None:
        self.budget = budget
        self.spent = spent
        self.reserve = reserve
        self.agent = agent
        self.step = step
        self.reasoning_spent = reasoning_spent
        self.events: list[LedgerEvent] = []

    def before(self, messages: Sequence[Message], max_tokens: int) -> None:
        estimate = call_estimate(estimate_prompt_tokens(messages), max_tokens)
        spent = self.spent + total_spend(self.events)
        if not fits(self.budget, spent, estimate + self.reserve):
            raise CallRefused(
                f"{self.agent} call needs up to {estimate.total_tokens} tokens "
                f"(+{self.reserve.total_tokens} reserved) with "
                f"{self.budget.weighted(spent):,.0f} spent of {self.budget.max_tokens}"
            )
        cap = self.budget.max_reasoning_tokens
        if self.agent == REASONER and cap is not None:
            reasoning = self.reasoning_spent + reasoner_tokens(self.events)
            if reasoning + max_tokens > cap:
                raise CallRefused(
                    f"reasoner call may write {max_tokens} tokens with {reasoning} of "
                    f"max_reasoning_tokens={cap} spent"
                )

    def after(self, completion: Completion) -> None:
        u = completion.usage
        self._book(
            prompt_tokens=u.prompt_tokens,
            cached_tokens=u.cached_tokens,
            completion_tokens=u.completion_tokens,
            reasoning_tokens=u.reasoning_tokens,
            latency_s=round(u.latency_s, 4),
            detail=f"{completion.model} (usage estimated)" if u.estimated else completion.model,
        )

    def unanswered(self, messages: Sequence[Message], max_tokens: int) -> None:
        estimate = call_estimate(estimate_prompt_tokens(messages), max_tokens)
        self._book(
            prompt_tokens=estimate.prompt_tokens,
            completion_tokens=estimate.completion_tokens,
            error="timed out; its worst case is booked, since the server may have run it",
        )

    def _book(self, **fields: Any) -> None:
        self.events.append(LedgerEvent(kind="llm", agent=self.agent, step=self.step, **fields))
