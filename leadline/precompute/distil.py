"""LLM precompute: distil a passage into short facts and the questions it answers (doc2query).

Why: a question worded unlike its passage ("who played Corliss Archer" against "starred as
Corliss Archer") is missed by both BM25 and a small embedding model; the questions a model
imagines for the passage ahead of time are worded like real questions, so indexing them lets a
question find its passage (Nogueira et al. 2019, doc2query). Everything is paid before any
question arrives and is bounded by a token allowance that no call may break.

Pure parts (prompt, cleaning) plus one async call per passage; the job does the bookkeeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pydantic import BaseModel, Field

from leadline.agents.prompting import render
from leadline.budgets.budget import Spend, call_estimate
from leadline.errors import BudgetError
from leadline.precompute.store import Distillation
from leadline.tools.llm import Completion, LLMClient, Message
from leadline.tools.search.base import Passage
from leadline.tools.tokens import estimate_prompt_tokens, truncate_to_tokens

MAX_FACTS = 3
MAX_QUESTIONS = 3
MAX_ITEM_CHARS = 200
PASSAGE_TOKENS = 256
COMPLETION_TOKENS = 200


class DistilOutput(BaseModel):
    facts: list[str] = Field(default_factory=list, max_length=8)
    questions: list[str] = Field(default_factory=list, max_length=8)


class AllowanceSpent(BudgetError):
    """The next call could go past the precompute's token allowance; stop here."""


class TokenAllowance:
    """A `CallGuard` over one token total: refuses a call whose worst case could break it.

    Unlike a research `Budget` it has no floor (an allowance of 300 tokens is a valid order).
    """

    def __init__(self, max_tokens: int | None) -> None:
        self.max_tokens = max_tokens
        self.spent = Spend()
        self.calls = 0

    def fits(self, estimate: Spend) -> bool:
        return self.max_tokens is None or (
            self.spent.total_tokens + estimate.total_tokens <= self.max_tokens
        )

    def before(self, messages: Sequence[Message], max_tokens: int) -> None:
        estimate = call_estimate(estimate_prompt_tokens(messages), max_tokens)
        if not self.fits(estimate):
            raise AllowanceSpent(
                f"the next distillation needs up to {estimate.total_tokens} tokens, and "
                f"{self.spent.total_tokens} of {self.max_tokens} are spent"
            )

    def after(self, completion: Completion) -> None:
        u = completion.usage
        self.calls += 1
        self.spent = self.spent + Spend(u.prompt_tokens, u.cached_tokens, u.completion_tokens)

    def unanswered(self, messages: Sequence[Message], max_tokens: int) -> None:
        self.calls += 1
        self.spent = self.spent + call_estimate(estimate_prompt_tokens(messages), max_tokens)


def distil_messages(passage: Passage) -> list[Message]:
    text = truncate_to_tokens(" ".join(passage.text.split()), PASSAGE_TOKENS)
    return [
        {"role": "system", "content": render("baseline_system")},
        {
            "role": "user",
            "content": render(
                "distil",
                title=passage.title or "(untitled)",
                text=text,
                max_facts=MAX_FACTS,
                max_questions=MAX_QUESTIONS,
            ),
        },
    ]


def clean(items: Sequence[str], limit: int) -> tuple[str, ...]:
    """Distinct, non-empty, one-line items, each cut to a sane length."""
    out: list[str] = []
    for item in items:
        text = " ".join(str(item).split())[:MAX_ITEM_CHARS]
        if text and text.lower() not in {o.lower() for o in out}:
            out.append(text)
    return tuple(out[:limit])


async def distil(
    llm: LLMClient, passage: Passage, allowance: TokenAllowance, extra_body: dict[str, object]
) -> Distillation:
    """One passage's facts and questions; raises AllowanceSpent or an LLMError."""
    messages = distil_messages(passage)
    try:
        output, _ = await llm.chat_json(
            messages,
            DistilOutput,
            max_tokens=COMPLETION_TOKENS,
            extra_body=dict(extra_body),
            guard=allowance,
        )
    except asyncio.CancelledError:
        # Abandoned mid-call (the host paused the job): the server may have run it, so its
        # worst case is booked, as for a call that timed out.
        allowance.unanswered(messages, COMPLETION_TOKENS)
        raise
    return Distillation(clean(output.facts, MAX_FACTS), clean(output.questions, MAX_QUESTIONS))
