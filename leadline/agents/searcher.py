"""Searcher: runs one query against the backend; its hits go to the pool and the workspace.

No model call: ranking comes from the backend. Every one of the query's top `pool_size` hits
goes into the evidence pool, in full, with its rank (the final reader chooses from the whole
pool); only the best two unseen ones, trimmed, are shown in the workspace, which keeps the
reasoner's prompt lean (small models read well when evidence is short).
A backend failure is returned as data (an error string), never raised into the graph.

`rank_pool` ranks the pool for the original question: reciprocal-rank fusion of each query's
ranks with a BM25 relevance rank for the question itself. The final reader reads its top K
(`graph/read.py`); the link step follows links from its top few.

A *link step* is a search whose hits come from the collection's link graph instead of a query:
the passages that the best evidence so far names (or is named by), ranked for the question. It
goes into the pool and the workspace exactly as a query's hits do, and costs one search step.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from leadline.agents.workspace import EVIDENCE_LINE_OVERHEAD, Evidence, PoolHit
from leadline.errors import LeadlineError
from leadline.tools.search.base import LinkFollower, Passage, SearchBackend, check_passages
from leadline.tools.search.rank import bm25_ranks
from leadline.tools.tokens import truncate_to_tokens

TITLE_MAX_TOKENS = 24
WORKSPACE_PER_QUERY = 2  # new passages per query the reasoner's workspace shows
POOL_PASSAGE_TOKENS = 256  # a pool passage is kept whole up to this (ingest chunks are 200)
# A link step follows links from the pool's best LINK_SOURCES passages for the question; on dev300
# questions 1-100, 3 sources found both gold paragraphs for 0.92 vs 0.88 (2) and 0.86 (1), with
# 5 linked hits kept (benchmarks/README.md, "Link graph").
LINK_SOURCES = 3
LINK_QUERY_PREFIX = "links from "
RRF_K = 60  # the usual reciprocal-rank-fusion constant (Cormack et al. 2009)
QUESTION_WEIGHT = 1.0  # weight of the question's own BM25 rank among the fused ranks


def evidence_line_tokens(max_passage_tokens: int) -> int:
    """The most tokens one evidence line can take in a prompt: title, text and its markup."""
    return max_passage_tokens + TITLE_MAX_TOKENS + EVIDENCE_LINE_OVERHEAD


@dataclass(frozen=True)
class SearchOutcome:
    query: str
    evidence: list[Evidence]
    latency_s: float
    error: str = ""
    pool: list[PoolHit] = field(default_factory=list)


def select_evidence(
    passages: list[Passage], seen_ids: Collection[str], keep: int, max_tokens: int, step: int = 0
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
                score=p.score,
                step=step,
            )
        )
        if len(chosen) == keep:
            break
    return chosen


def pool_hits(passages: list[Passage], query: str, step: int, size: int) -> list[PoolHit]:
    """The query's top `size` hits at their ranks, seen before or not (a rank is a vote)."""
    return [
        PoolHit(
            passage_id=p.id,
            title=truncate_to_tokens(p.title, TITLE_MAX_TOKENS),
            text=truncate_to_tokens(" ".join(p.text.split()), POOL_PASSAGE_TOKENS),
            source=p.source,
            query=query,
            rank=rank,
            step=step,
        )
        for rank, p in enumerate(passages[:size], start=1)
    ]


async def run_search(
    backend: SearchBackend,
    query: str,
    seen_ids: Collection[str],
    *,
    keep: int,
    max_tokens: int,
    pool_size: int = 0,
    step: int = 0,
) -> SearchOutcome:
    started = time.perf_counter()
    try:
        # Ask for extra candidates so passages already in the workspace don't crowd out new ones.
        found = await backend.search(query, max(keep + len(seen_ids) + 2, pool_size))
    except (LeadlineError, OSError) as exc:
        return SearchOutcome(
            query, [], time.perf_counter() - started, f"{type(exc).__name__}: {exc}"
        )
    passages = check_passages(backend, found)  # a backend returning anything else is a bug
    evidence = select_evidence(passages, seen_ids, keep, max_tokens, step)
    pool = pool_hits(passages, query, step, pool_size)
    return SearchOutcome(query, evidence, time.perf_counter() - started, pool=pool)


def rank_pool(
    question: str, hits: Sequence[PoolHit], up_to_step: int | None = None
) -> list[PoolHit]:
    """The pool's distinct passages, best first, for answering `question`.

    Each query's ranking counts once per passage (its best rank there); the question's own BM25
    ranking over the pool is fused in, so a passage many queries found, or one that matches the
    question's words, comes first. `up_to_step` ranks the pool as it was after that step.
    """
    hits = [h for h in hits if up_to_step is None or h.step <= up_to_step]
    best_rank: dict[tuple[str, str], int] = {}
    first: dict[str, PoolHit] = {}
    for h in hits:
        first.setdefault(h.passage_id, h)
        key = (h.passage_id, h.query)
        best_rank[key] = min(best_rank.get(key, h.rank), h.rank)
    fused: dict[str, float] = defaultdict(float)
    for (pid, _), rank in best_rank.items():
        fused[pid] += 1.0 / (RRF_K + rank)
    passages = list(first.values())
    for p, rank in zip(
        passages, bm25_ranks(question, [f"{p.title} {p.text}" for p in passages]), strict=True
    ):
        fused[p.passage_id] += QUESTION_WEIGHT / (RRF_K + rank)
    order = {p.passage_id: i for i, p in enumerate(passages)}
    return sorted(passages, key=lambda p: (-fused[p.passage_id], order[p.passage_id]))


def link_sources(
    question: str, pool: Sequence[PoolHit], followed: Collection[str], n: int = LINK_SOURCES
) -> list[PoolHit]:
    """The pool's best `n` passages for the question, less those already followed from."""
    return [h for h in rank_pool(question, pool)[:n] if h.passage_id not in followed]


async def run_link_step(
    follower: LinkFollower,
    sources: Sequence[PoolHit],
    question: str,
    seen_ids: Collection[str],
    *,
    keep: int,
    max_tokens: int,
    pool_size: int,
    step: int,
) -> SearchOutcome:
    """Follow the sources' links; the hits are labelled with the sources' titles as their query."""
    label = LINK_QUERY_PREFIX + "; ".join(h.title for h in sources)
    started = time.perf_counter()
    try:
        passages = await follower.follow([h.passage_id for h in sources], question, pool_size)
    except (LeadlineError, OSError) as exc:
        return SearchOutcome(
            label, [], time.perf_counter() - started, f"{type(exc).__name__}: {exc}"
        )
    evidence = select_evidence(passages, seen_ids, keep, max_tokens, step)
    pool = pool_hits(passages, label, step, pool_size)
    return SearchOutcome(label, evidence, time.perf_counter() - started, pool=pool)
