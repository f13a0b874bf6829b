"""Reasoner and final answer: read the workspace, note what is known, answer or ask for more.

`reasoner_messages`/`ReasonerOutput` drive each reasoning step (note, anytime answer, confidence,
done, next queries); `answer_messages`/`AnswerOutput` the final answer with citations.
`cited_numbers` also recovers citations written inline as [n], since small models often do that.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, Field

from leadline.agents.prompting import MAX_NEXT_QUERIES, KVMode, build_messages
from leadline.agents.workspace import Entry

MAX_COMPLETION_TOKENS = 260
UNKNOWN = "unknown"


class ReasonerOutput(BaseModel):
    note: str = Field("", max_length=600)
    answer: str = Field(UNKNOWN, max_length=200)
    confidence: float = Field(0.0, allow_inf_nan=False)  # NaN would make our JSON invalid
    done: bool = False
    next_queries: list[str] = Field(default_factory=list, max_length=MAX_NEXT_QUERIES)

    @property
    def clamped_confidence(self) -> float:
        return min(max(float(self.confidence), 0.0), 1.0)


class AnswerOutput(BaseModel):
    # Reasoning first, so a small model links the facts before committing to an answer span.
    reasoning: str = Field("", max_length=600)
    answer: str = Field("", max_length=300)
    citations: list[int] = Field(default_factory=list, max_length=10)


def reasoner_messages(
    question: str, entries: Sequence[Entry], kv_mode: KVMode
) -> list[dict[str, str]]:
    return build_messages("reasoner", question, entries, kv_mode)


def answer_messages(
    question: str, entries: Sequence[Entry], kv_mode: KVMode
) -> list[dict[str, str]]:
    return build_messages("answer", question, entries, kv_mode)


_CITE = re.compile(r"\[(\d{1,3})\]")


def cited_numbers(text: str, listed: Sequence[int], valid: Sequence[int]) -> list[int]:
    """Citations the model listed plus those written inline as [n], restricted to real evidence."""
    valid_set = set(valid)
    numbers = [*listed, *(int(m) for m in _CITE.findall(text))]
    return list(dict.fromkeys(n for n in numbers if n in valid_set))


def strip_citations(text: str) -> str:
    return " ".join(_CITE.sub("", text).split()).strip(" .")


def proposed_queries(question: str, decision: ReasonerOutput | None) -> list[str]:
    """The reasoner's next queries; failing those, its interim answer searched with the question.

    An interim answer is often the bridge entity of a multi-hop question, so searching it next
    to the question's own terms finds the passage about that entity that the next hop needs.
    """
    if decision is None:
        return []
    if decision.next_queries:
        return list(decision.next_queries)
    answer = strip_citations(decision.answer)
    return [] if is_unknown(answer) else [f"{answer} {question}"]


def is_unknown(answer: str) -> bool:
    return not answer.strip() or answer.strip().lower().rstrip(".") in {
        UNKNOWN,
        "none",
        "n/a",
        "not found",
    }
