"""Planner: decomposes the question, proposes the first queries, estimates hops and shape.

Pure core: `planner_messages` builds the prompt, `to_plan` turns the model's (possibly sloppy)
output into a clean `PlanEntry`; `fallback_plan` is what a run uses when planning fails or the
budget does not allow it, so the loop can always start.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from leadline.agents.prompting import MAX_PLAN_QUERIES, KVMode, build_messages
from leadline.agents.reasoner import UNKNOWN
from leadline.agents.workspace import Entry, PlanEntry, QuestionShape

MAX_COMPLETION_TOKENS = 220
MAX_HOPS = 4


class PlannerOutput(BaseModel):
    sub_questions: list[str] = Field(default_factory=list, max_length=4)
    queries: list[str] = Field(default_factory=list, max_length=MAX_PLAN_QUERIES)
    hops: int = 2
    shape: str = "bridge"


def planner_messages(
    question: str, entries: Sequence[Entry], kv_mode: KVMode
) -> list[dict[str, str]]:
    return build_messages("planner", question, entries, kv_mode)


# Placeholders small models copy from the instructions instead of writing a query.
NOT_A_QUERY = frozenset({"", "...", UNKNOWN, "none", "n/a", "null", "query", "search query"})


def clean_queries(
    queries: Sequence[str], exclude: Sequence[str] = (), limit: int = MAX_PLAN_QUERIES
) -> list[str]:
    """Strip; drop placeholders and case-insensitive repeats (also of `exclude`); keep `limit`."""
    seen = {q.strip().lower() for q in exclude}
    kept: list[str] = []
    for q in queries:
        q = " ".join(str(q).split())[:200]
        if len(q) > 1 and q.lower().strip(" .\"'") not in NOT_A_QUERY and q.lower() not in seen:
            seen.add(q.lower())
            kept.append(q)
    return kept[:limit]


def to_plan(output: PlannerOutput, question: str) -> PlanEntry:
    shape: QuestionShape = (
        "comparison" if output.shape.strip().lower().startswith("comp") else "bridge"
    )
    # The question itself goes first: it is the strongest single query for the first hop, and
    # the planner's queries then target what it misses.
    queries = clean_queries([question, *output.queries], limit=MAX_PLAN_QUERIES + 1)
    return PlanEntry(
        sub_questions=tuple(s.strip() for s in output.sub_questions if s.strip())[:4],
        queries=tuple(queries),
        hops=min(max(int(output.hops), 1), MAX_HOPS),
        shape=shape,
    )


def fallback_plan(question: str) -> PlanEntry:
    return PlanEntry(sub_questions=(), queries=(question,), hops=2, shape="bridge")
