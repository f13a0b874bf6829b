"""Reasoner: read the workspace, note what each hop established, and ask for the next hop.

`reasoner_messages`/`ReasonerOutput` drive each reasoning step: a note, what the hop *found*
(the bridge entity or fact, kept apart from the answer), the anytime answer to the whole
question with a confidence, done, and next queries. The final answer is not the reasoner's: the
reader (`graph/read.py`) answers from the evidence pool. `resolve_queries` writes the found
name into next queries that still say "the actress" (small models often leave the reference).
`cited_numbers` also recovers citations written inline as [n], since small models often do that.

`UNKNOWN` is the word this prompt asks for when a hop or the question has no answer yet, and
`is_unknown` the one test for it (with the variants small models write): the controller's early
stop, the planner's query filter and the reader's vote all use it.
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
    found: str = Field("", max_length=120)
    answer: str = Field(UNKNOWN, max_length=200)
    confidence: float = Field(0.0, allow_inf_nan=False)  # NaN would make our JSON invalid
    done: bool = False
    next_queries: list[str] = Field(default_factory=list, max_length=MAX_NEXT_QUERIES)

    @property
    def clamped_confidence(self) -> float:
        return min(max(float(self.confidence), 0.0), 1.0)


def reasoner_messages(
    question: str, entries: Sequence[Entry], kv_mode: KVMode
) -> list[dict[str, str]]:
    return build_messages("reasoner", question, entries, kv_mode)


def is_unknown(answer: str) -> bool:
    return not answer.strip() or answer.strip().lower().rstrip(".") in {
        UNKNOWN,
        "none",
        "n/a",
        "not found",
        "not mentioned",
        "not given",
        "no answer",
    }


_CITE = re.compile(r"\[(\d{1,3})\]")


def cited_numbers(text: str, listed: Sequence[int], valid: Sequence[int]) -> list[int]:
    """Citations the model listed plus those written inline as [n], restricted to real evidence."""
    valid_set = set(valid)
    numbers = [*listed, *(int(m) for m in _CITE.findall(text))]
    return list(dict.fromkeys(n for n in numbers if n in valid_set))


def strip_citations(text: str) -> str:
    return " ".join(_CITE.sub("", text).split()).strip(" .")


_NAME_WORD = re.compile(r"\b[A-Z0-9][\w'.-]*")
MAX_NAME_WORDS = 6


def looks_like_name(text: str) -> bool:
    """A short phrase with a capitalised word or a number: a name, title or date, not a clause."""
    words = text.split()
    return 0 < len(words) <= MAX_NAME_WORDS and bool(_NAME_WORD.search(text))


def resolve_queries(queries: Sequence[str], found: str) -> list[str]:
    """Next-hop queries with the found bridge entity written in where a query lacks it."""
    found = strip_citations(found)
    if is_unknown(found) or not looks_like_name(found):
        return list(queries)
    return [q if found.lower() in q.lower() else f"{found} {q}" for q in queries]


def proposed_queries(question: str, decision: ReasonerOutput | None) -> list[str]:
    """The reasoner's next queries, resolved; failing those, the found entity with the question.

    What a hop found is the bridge entity of a multi-hop question, so searching it next to the
    question's own terms finds the passage about that entity that the next hop needs.
    """
    if decision is None:
        return []
    if decision.next_queries:
        return resolve_queries(decision.next_queries, decision.found)
    for lead in (decision.found, decision.answer):
        lead = strip_citations(lead)
        if not is_unknown(lead):
            return [f"{lead} {question}"]
    return []
