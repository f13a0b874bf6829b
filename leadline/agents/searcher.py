"""Searcher: runs one query against the backend and keeps the best new passages as evidence.

No model call: ranking comes from the backend. Keeping only a few short, unseen passages per
query keeps the workspace lean, which small models need (they read well when evidence is short).
A backend failure is returned as data (an error string), never raised into the graph.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass

from leadline.agents.workspace import Evidence
from leadline.errors import LeadlineError
from leadline.tools.search.base import Passage, SearchBackend
from leadline.tools.tokens import truncate_to_tokens

TITLE_MAX_TOKENS = 24


@dataclass(frozen=True)
class SearchOutcome:
    query: str
    evidence: list[Evidence]
    latency_s: float
    error: str = ""


def select_evidence(
    passages: list[Passage], query: str, seen_ids: Collection[str], keep: int, max_tokens: int
) -> list[Evidence]:
    """The top `keep` passages not already in the workspace, trimmed to `max_tokens` each."""
    chosen: list[Evidence] = []
    for p in passages:
        if p.id in seen_ids or any(e.passage_id == p.id for e in chosen):
            continue
        chosen.append(
            Evidence(
                n=0,
                passage_id=p.id,
                title=truncate_to_tokens(p.title, TITLE_MAX_TOKENS),
                text=truncate_to_tokens(" ".join(p.text.split()), max_tokens),
                source=p.source,
                query=query,
                score=p.score,
            )
        )
        if len(chosen) == keep:
            break
    return chosen


async def run_search(
    backend: SearchBackend, query: str, seen_ids: Collection[str], *, keep: int, max_tokens: int
) -> SearchOutcome:
    started = time.perf_counter()
    try:
        # Ask for extra candidates so passages already in the workspace don't crowd out new ones.
        passages = await backend.search(query, keep + len(seen_ids) + 2)
    except (LeadlineError, OSError) as exc:
        return SearchOutcome(
            query, [], time.perf_counter() - started, f"{type(exc).__name__}: {exc}"
        )
    evidence = select_evidence(passages, query, seen_ids, keep, max_tokens)
    return SearchOutcome(query, evidence, time.perf_counter() - started)
