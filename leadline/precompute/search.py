"""Question time: a search backend that uses what was precomputed for its collection.

`PrecomputedSearch` wraps the ordinary backend and adds two things, each only when present:
- `follow(sources, question, k)`: the passages the sources link to or are linked from, ranked
  for the question (the searcher's link step; see `agents/searcher.run_link_step`);
- distilled questions and facts, BM25-indexed and fused into `search` by reciprocal rank, so a
  question worded like the imagined ones finds the passage.
`attach_precompute` decides: a link graph built for another version of the collection is not
used (it would point at the wrong passages), distillations are (they are keyed by content).
Lookups are in memory; only the passages chosen are read from the corpus.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from leadline.precompute.store import PrecomputeStore
from leadline.tools.search.base import Passage, SearchBackend
from leadline.tools.search.bm25 import BM25Index
from leadline.tools.search.corpus import LocalCorpus, rrf_fuse
from leadline.tools.search.rank import bm25_ranks

LINK_RRF_K = 5  # small k: near interleaving of link order and question match (as in hybrid)
EXPANSION_DEPTH = 40  # candidates from each list before fusing distilled questions in
EXPANSION_WEIGHT = 0.5  # the distilled-questions list counts half as much as the backend's


@dataclass(frozen=True)
class PrecomputeInfo:
    """What a question-time backend had: part of every eval record, so results say it."""

    links: bool
    distilled: int
    fingerprint: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LinkGraph:
    """Out-links as built, and in-links derived once; both in memory."""

    def __init__(self, out: dict[str, tuple[str, ...]]) -> None:
        self.out = out
        incoming: dict[str, list[str]] = {}
        for source, targets in out.items():
            for target in targets:
                incoming.setdefault(target, []).append(source)
        self.incoming = {k: tuple(v) for k, v in incoming.items()}

    def neighbours(self, sources: Sequence[str]) -> list[str]:
        """Linked passages in link order: each source's out-links, then its in-links."""
        seen = set(sources)
        order: dict[str, None] = {}
        for source in sources:
            for pid in (*self.out.get(source, ()), *self.incoming.get(source, ())):
                if pid not in seen:
                    order.setdefault(pid)
        return list(order)


def rank_linked(question: str, candidates: Sequence[Passage], k: int) -> list[Passage]:
    """Fuse link order (earlier sources, earlier mentions first) with a BM25 match to the
    question over the candidates: the link says "related", the question says which matters."""
    if not candidates:
        return []
    by_id = {p.id: p for p in candidates}
    link_order = [p.id for p in candidates]
    ranks = bm25_ranks(question, [f"{p.title} {p.text}" for p in candidates])
    by_rank = sorted(zip(ranks, candidates, strict=True), key=lambda t: t[0])
    question_order = [p.id for _, p in by_rank]
    fused = rrf_fuse([link_order, question_order], k=LINK_RRF_K)
    return [
        Passage(pid, by_id[pid].title, by_id[pid].text, by_id[pid].source, score, "links")
        for pid, score in fused[:k]
    ]


class PrecomputedSearch:
    """A SearchBackend and LinkFollower over one collection with its precomputed results."""

    def __init__(
        self,
        backend: SearchBackend,
        corpus: LocalCorpus,
        *,
        links: LinkGraph | None,
        expansions: BM25Index | None,
        info: PrecomputeInfo,
    ) -> None:
        self.backend = backend
        self.name = backend.name
        self.collection = corpus.collection
        self.corpus = corpus
        self.links = links
        self.expansions = expansions
        self.info = info

    def __repr__(self) -> str:
        return f"PrecomputedSearch({self.backend!r}, {self.info})"

    async def aclose(self) -> None:
        closer = getattr(self.backend, "aclose", None)
        if closer is not None:
            await closer()

    async def search(self, query: str, k: int) -> list[Passage]:
        if self.expansions is None or k <= 0:
            return await self.backend.search(query, k)
        base = await self.backend.search(query, max(k, EXPANSION_DEPTH))
        extra = await asyncio.to_thread(self.expansions.search, query, EXPANSION_DEPTH)
        fused = rrf_fuse(
            [[p.id for p in base], [pid for pid, _ in extra]], weights=[1.0, EXPANSION_WEIGHT]
        )[:k]
        known = {p.id: p for p in base}
        missing = [pid for pid, _ in fused if pid not in known]
        if missing:
            known.update(await asyncio.to_thread(self.corpus.get_many, missing))
        return [
            Passage(p.id, p.title, p.text, p.source, score, p.backend)
            for pid, score in fused
            if (p := known.get(pid)) is not None
        ]

    async def follow(self, sources: Sequence[str], question: str, k: int) -> list[Passage]:
        return await asyncio.to_thread(self.follow_sync, sources, question, k)

    def follow_sync(self, sources: Sequence[str], question: str, k: int) -> list[Passage]:
        if self.links is None or k <= 0:
            return []
        ids = self.links.neighbours(sources)
        if not ids:
            return []
        found = self.corpus.get_many(ids)
        return rank_linked(question, [found[i] for i in ids if i in found], k)


def reattach(backend: SearchBackend) -> SearchBackend:
    """`backend` (as `open_search_backend` built it) with the precomputed results as they are
    now: after a precompute finished, or to drop results that went stale."""
    corpus: LocalCorpus | None = None
    base = backend
    if isinstance(backend, PrecomputedSearch):
        base, corpus = backend.backend, backend.corpus
    else:
        inner = getattr(backend, "backend", backend)  # a CachedBackend wraps the corpus
        corpus = inner if isinstance(inner, LocalCorpus) else None
    return backend if corpus is None else attach_precompute(base, corpus)


def attach_precompute(backend: SearchBackend, corpus: LocalCorpus) -> SearchBackend:
    """`backend` with the collection's precomputed results when there are any, else itself."""
    store = PrecomputeStore(corpus.precompute_dir)
    if not store.exists():
        return backend
    fingerprint = corpus.fingerprint()
    fresh = store.links_state(fingerprint) == "fresh"
    distilled = store.load_distilled()
    if not fresh and not distilled:
        return backend
    expansions = None
    if distilled:
        ids = sorted(distilled)
        expansions = BM25Index.build(ids, [distilled[i].text() for i in ids])
    return PrecomputedSearch(
        backend,
        corpus,
        links=LinkGraph(store.load_links()) if fresh else None,
        expansions=expansions,
        info=PrecomputeInfo(links=fresh, distilled=len(distilled), fingerprint=fingerprint),
    )
