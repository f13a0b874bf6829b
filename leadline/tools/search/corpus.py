"""The local corpus: chromadb for dense retrieval, bm25s beside it, fused by reciprocal rank.

Why hybrid: on multi-hop questions BM25 finds the paragraph that shares rare names with the
question and dense retrieval finds the paraphrased one; reciprocal-rank fusion (RRF) needs no
score calibration between the two and, with a candidate pool deeper than k, recovers passages
that either list alone ranks just below the cut (benchmarks/README.md has the figures).
chromadb is the source of truth (embedded `PersistentClient` by default, `HttpClient` against a
`chroma run` server for shared deployments); the BM25 index is derived from it (see bm25.py).
Embeddings are computed here with the packaged offline MiniLM and passed to chroma explicitly,
so chroma's downloading default is never used. Blocking work runs in `asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from leadline.errors import ConfigError, SearchError
from leadline.tools.search.base import Passage
from leadline.tools.search.bm25 import BM25Builder, BM25Index
from leadline.tools.search.stores import STORE_ERRORS, close_client, http_client, persistent_client

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from leadline.config import Settings

Mode = Literal["bm25", "dense", "hybrid"]
MODES: tuple[str, ...] = get_args(Mode)
# Fusion settings, from `benchmarks/retrieval.py --sweep` on the dev300 pool (grid over rrf_k
# 1-100, depth 10-100, dense weight 0.5-1.25; chosen on half the questions, confirmed on the
# other half). With two lists cut at a small k, a small rrf_k (near round-robin interleaving,
# consensus still first) beats the customary 60: recall@10 0.800 vs 0.763, on a plateau for
# rrf_k 3-5 and depth >= 40. Equal weights: the sweep gave no robust reason to prefer either.
RRF_K = 5
CANDIDATE_DEPTH = 40
DENSE_WEIGHT = 1.0  # weight of the dense list against BM25's 1.0 in the fusion
ADD_BATCH = 128  # passages embedded and written per chroma call
PAGE = 1000  # passages per chroma read: a 5,000 page held ~60 MB more at peak (10k passages)
_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")
# File systems allow 255 bytes per name; collection names may be 512 characters. Names up to
# this length are their own directory (as they always were); longer ones are shortened.
MAX_DIR_NAME = 120


def rrf_fuse(
    rankings: Sequence[Sequence[str]], *, k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion: score(d) = sum_i w_i / (k + rank_i(d)), ranks from 1; best first.

    Ties keep the order in which ids were first seen, so results are deterministic.
    """
    scores: dict[str, float] = {}
    for i, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[i]
        for rank, pid in enumerate(ranking, start=1):
            scores[pid] = scores.get(pid, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def embedding_text(title: str, text: str) -> str:
    """What gets embedded and BM25-indexed: the title is part of a passage's meaning."""
    return f"{title}\n{text}" if title else text


def check_collection_name(name: str) -> str:
    if not _COLLECTION_NAME.match(name) or ".." in name:
        raise ConfigError(
            f"invalid collection name {name!r}: use 3-512 characters from letters, digits, '.', "
            "'_' and '-', starting and ending with a letter or digit"
        )
    return name


def dir_name(name: str) -> str:
    """A directory name for `name` that any file system accepts: the name itself when short,
    else its first 80 characters and a hash of all of it (so two long names never collide)."""
    if len(name.encode()) <= MAX_DIR_NAME:
        return name
    return f"{name[:80]}-{hashlib.sha256(name.encode()).hexdigest()[:16]}"


@dataclass
class _IndexState:
    """BM25 state shared by every mode-view of one collection (see `with_mode`)."""

    directory: Path
    lock: threading.Lock = field(default_factory=threading.Lock)
    bm25: BM25Index | None = None
    count: int = -1


class LocalCorpus:
    """A named collection searchable by `bm25`, `dense` or `hybrid` (default); a SearchBackend."""

    name = "local"

    def __init__(
        self,
        client: ClientAPI,
        collection: str,
        *,
        bm25_dir: Path,
        mode: Mode = "hybrid",
        embedding: Any | None = None,
        rrf_k: int = RRF_K,
        depth: int = CANDIDATE_DEPTH,
        dense_weight: float = DENSE_WEIGHT,
        create: bool = True,
        precompute_dir: Path | None = None,
    ) -> None:
        """`embedding` is a chromadb EmbeddingFunction (default: the offline MiniLM).

        `precompute_dir` is where sleep-time results for this collection live (link graph,
        distilled facts; see `leadline.precompute`); default: beside the BM25 index.

        `create=False` (searching) refuses a collection that does not exist: a typo must not
        quietly search an empty corpus and answer from the model's memory.
        """
        if mode not in MODES:
            raise ConfigError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
        if embedding is None:
            from leadline.tools.search.embeddings import MiniLMEmbedding

            embedding = MiniLMEmbedding()
        self.collection = check_collection_name(collection)
        self.mode: Mode = mode
        self.rrf_k = rrf_k
        self.depth = depth
        self.dense_weight = dense_weight
        self._client = client
        self._owns_client = False  # set by the constructors that create the client
        self._embedding = embedding
        try:
            if not create and collection not in collection_names(client):
                known = ", ".join(sorted(collection_names(client))) or "none yet"
                raise ConfigError(
                    f"no collection {collection!r} to search (collections: {known}); "
                    f"ingest documents first: leadline ingest PATH --collection {collection}"
                )
            self._col: Collection = client.get_or_create_collection(
                collection,
                embedding_function=embedding,
                configuration={"hnsw": {"space": "cosine"}},
            )
        except ValueError as exc:  # e.g. the collection was built with another embedding
            raise ConfigError(f"cannot open collection {collection!r}: {exc}") from exc
        except STORE_ERRORS as exc:
            raise SearchError(f"cannot open collection {collection!r}: {exc}") from exc
        self._state = _IndexState(Path(bm25_dir))
        # '@' cannot occur in a collection name, so this never collides with another collection.
        self.precompute_dir = Path(precompute_dir or f"{bm25_dir}@precompute")

    def __repr__(self) -> str:
        return f"LocalCorpus(collection={self.collection!r}, mode={self.mode!r})"

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def embedded(
        cls, root: Path | str, collection: str, *, mode: Mode = "hybrid", **kwargs: Any
    ) -> LocalCorpus:
        """An embedded store under `root` (chroma in root/chroma, BM25 in root/bm25/local)."""
        root = Path(root)
        client = persistent_client(root / "chroma")
        try:
            corpus = cls(
                client,
                collection,
                bm25_dir=root / "bm25" / "local" / dir_name(collection),
                precompute_dir=root / "precompute" / "local" / dir_name(collection),
                mode=mode,
                **kwargs,
            )
        except BaseException:
            close_client(client)
            raise
        corpus._owns_client = True
        return corpus

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        collection: str | None = None,
        mode: Mode = "hybrid",
        *,
        create: bool = True,
    ) -> LocalCorpus:
        """The configured store: `HttpClient` when `chroma_url` is set, else embedded."""
        name = collection or settings.collection
        if not settings.chroma_url:
            return cls.embedded(settings.data_dir, name, mode=mode, create=create)
        client = http_client(settings.chroma_url)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", settings.chroma_url.split("://", 1)[-1])
        server = dir_name(slug.strip("_"))
        bm25_dir = settings.data_dir / "bm25" / server / dir_name(name)
        derived = settings.data_dir / "precompute" / server / dir_name(name)
        try:
            corpus = cls(
                client, name, bm25_dir=bm25_dir, precompute_dir=derived, mode=mode, create=create
            )
        except BaseException:
            close_client(client)
            raise
        corpus._owns_client = True
        return corpus

    def with_mode(self, mode: Mode) -> LocalCorpus:
        """The same collection and BM25 index searched in another mode (no reload)."""
        if mode not in MODES:
            raise ConfigError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
        view = object.__new__(LocalCorpus)
        view.__dict__.update(self.__dict__)
        view.mode = mode
        view._owns_client = False  # the original closes the shared client
        return view

    def close(self) -> None:
        """Release the chroma client if this corpus created it (idempotent)."""
        if not self._owns_client:
            return
        self._owns_client = False
        close_client(self._client)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    # --- reading --------------------------------------------------------------------------

    async def search(self, query: str, k: int) -> list[Passage]:
        return await asyncio.to_thread(self.search_sync, query, k)

    def search_sync(self, query: str, k: int) -> list[Passage]:
        """Blocking search; `search` runs this in a worker thread."""
        if k <= 0 or not query.strip():
            return []
        try:
            if self.mode == "bm25":
                return self._fetch(self._bm25().search(query, k))
            if self.mode == "dense":
                return self._dense(query, k)
            lexical, dense = self.candidates(query, max(k, self.depth))
            fused = rrf_fuse(
                [[pid for pid, _ in lexical], [pid for pid, _ in dense]],
                k=self.rrf_k,
                weights=[1.0, self.dense_weight],
            )
            return self._fetch(fused[:k])
        except STORE_ERRORS as exc:  # a dead chroma server is a recoverable search failure
            raise SearchError(f"search in collection {self.collection!r} failed: {exc}") from exc

    def candidates(
        self, query: str, depth: int
    ) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """The two ranked lists hybrid fuses, `depth` each: BM25 and dense (id, score).

        Ids only: fetching 40 documents with the query costs more than the whole BM25 search,
        and only the fused top k are read. Public so fusion can be studied offline
        (benchmarks/retrieval.py --sweep) on exactly the lists `search` sees.
        """
        return self._bm25().search(query, depth), self._dense_ids(query, depth)

    def count(self) -> int:
        """Passages stored in the collection."""
        return int(self._col.count())

    def get(self, passage_id: str) -> Passage | None:
        """One passage by id, or None."""
        found = self._get_many([passage_id])
        return found.get(passage_id)

    def get_many(self, ids: Sequence[str]) -> dict[str, Passage]:
        """Passages by id (ids not stored are left out), in one chroma call."""
        try:
            return self._get_many(list(ids))
        except STORE_ERRORS as exc:
            raise SearchError(f"reading collection {self.collection!r} failed: {exc}") from exc

    def iter_passages(self, page: int = PAGE) -> Iterator[Passage]:
        """Every stored passage, a page at a time (precompute reads the whole corpus)."""
        offset = 0
        while True:
            got = self._col.get(include=["documents", "metadatas"], limit=page, offset=offset)
            if not got["ids"]:
                return
            metas = got.get("metadatas") or [None] * len(got["ids"])
            for pid, doc, meta in zip(got["ids"], got.get("documents") or [], metas, strict=True):
                yield self._passage(pid, doc, meta, 0.0)
            offset += len(got["ids"])

    def fingerprint(self) -> str:
        """A hash of the sorted passage ids: ids hash their content, so this changes exactly
        when the collection's content does (what invalidates precomputed results)."""
        ids: list[str] = []
        offset = 0
        while True:
            got = self._col.get(include=[], limit=PAGE, offset=offset)
            if not got["ids"]:
                break
            ids.extend(got["ids"])
            offset += len(got["ids"])
        digest = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]
        return f"{len(ids)}-{digest}"

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` are already stored (ingestion skips those)."""
        present: set[str] = set()
        for start in range(0, len(ids), PAGE):
            got = self._col.get(ids=list(ids[start : start + PAGE]), include=[])
            present.update(got["ids"])
        return present

    def _bm25(self) -> BM25Index:
        state = self._state
        with state.lock:
            if state.bm25 is None:
                count = self.count()
                state.bm25 = BM25Index.load(state.directory, count) or self._rebuild_locked()
                state.count = len(state.bm25)
            return state.bm25

    def _dense_query(self, query: str, n: int, include: list[Any]) -> dict[str, Any] | None:
        limit = self._state.count if self._state.count >= 0 else self.count()
        n = min(n, limit)
        if n <= 0:
            return None
        vector = self._embedding([query])[0]
        return dict(self._col.query(query_embeddings=[vector], n_results=n, include=include))

    def _dense_ids(self, query: str, n: int) -> list[tuple[str, float]]:
        result = self._dense_query(query, n, ["distances"])
        if result is None:
            return []
        dists = (result.get("distances") or [[]])[0]
        return [(pid, 1.0 - float(d)) for pid, d in zip(result["ids"][0], dists, strict=True)]

    def _dense(self, query: str, n: int) -> list[Passage]:
        result = self._dense_query(query, n, ["documents", "metadatas", "distances"])
        if result is None:
            return []
        ids = result["ids"][0]
        docs = (result.get("documents") or [[]])[0]
        metas = (result.get("metadatas") or [[]])[0]
        dists = (result.get("distances") or [[]])[0]
        return [
            self._passage(pid, doc, meta, 1.0 - float(dist))  # cosine distance -> similarity
            for pid, doc, meta, dist in zip(ids, docs, metas, dists, strict=True)
        ]

    def _fetch(self, ranked: list[tuple[str, float]]) -> list[Passage]:
        """Passages for ranked (id, score) pairs, in order, carrying those scores."""
        found = self._get_many([pid for pid, _ in ranked])
        out = []
        for pid, score in ranked:
            p = found.get(pid)
            if p is not None:  # an id the BM25 index knows but chroma lost: skip, don't fail
                out.append(Passage(p.id, p.title, p.text, p.source, score, self.name))
        return out

    def _get_many(self, ids: list[str]) -> dict[str, Passage]:
        if not ids:
            return {}
        got = self._col.get(ids=ids, include=["documents", "metadatas"])
        docs = got.get("documents") or []
        metas = got.get("metadatas") or []
        return {
            pid: self._passage(pid, doc, meta, 0.0)
            for pid, doc, meta in zip(got["ids"], docs, metas, strict=True)
        }

    def _passage(self, pid: str, doc: Any, meta: Any, score: float) -> Passage:
        meta = meta or {}
        return Passage(
            id=pid,
            title=str(meta.get("title", "")),
            text=str(doc or ""),
            source=str(meta.get("source", "")),
            score=score,
            backend=self.name,
        )

    # --- writing --------------------------------------------------------------------------

    def add(self, passages: Sequence[Passage], *, progress: bool = True) -> int:
        """Embed and store the passages not already present, then bring the BM25 index up to
        date; returns how many were added. Ingest uses `store` and `sync_index` instead, to
        write a batch at a time.
        """
        from tqdm import tqdm

        added = 0
        with tqdm(
            total=len(passages),
            desc=f"embedding into {self.collection}",
            unit="passage",
            file=sys.stderr,
            disable=not progress or not passages,
        ) as bar:
            for chunk in _batches(list(passages), ADD_BATCH):
                added += self.store(chunk)
                bar.update(len(chunk))
        self.sync_index(changed=added > 0)
        return added

    def store(self, passages: Sequence[Passage]) -> int:
        """Embed and store the passages not already present; how many were new. The BM25 index
        is not touched: call `sync_index` once writing is done.

        Callers validate everything before calling (ingest does), so a failure here is an I/O
        problem; re-running is safe because ids already stored are skipped.
        """
        try:  # before anything is written to chroma: a corpus whose index cannot be saved
            self._state.directory.mkdir(parents=True, exist_ok=True)  # is not searchable
        except OSError as exc:
            raise SearchError(
                f"cannot create the BM25 index directory {self._state.directory}: "
                f"{exc.strerror or exc}; nothing was written"
            ) from exc
        present = self.existing_ids([p.id for p in passages])
        new: list[Passage] = []
        for p in passages:
            if p.id not in present:
                present.add(p.id)
                new.append(p)
        batch = max(1, min(ADD_BATCH, int(self._client.get_max_batch_size())))
        for chunk in _batches(new, batch):
            vectors = self._embedding([embedding_text(p.title, p.text) for p in chunk])
            self._col.add(
                ids=[p.id for p in chunk],
                embeddings=vectors,
                documents=[p.text for p in chunk],
                metadatas=[{"title": p.title, "source": p.source} for p in chunk],
            )
        return len(new)

    def sync_index(self, changed: bool) -> None:
        """Rebuild the BM25 index if passages were added (`changed`), or if it is missing or
        stale (another process wrote to the collection)."""
        with self._state.lock:
            if changed or self._state.bm25 is None or self._state.count != self.count():
                self._state.bm25 = self._rebuild_locked()
                self._state.count = len(self._state.bm25)

    def _rebuild_locked(self) -> BM25Index:
        """Read the collection a page at a time into a `BM25Builder` (bounded by its term
        counts, not by the text) and save the result."""
        builder = BM25Builder()
        offset = 0
        while True:
            page = self._col.get(include=["documents", "metadatas"], limit=PAGE, offset=offset)
            if not page["ids"]:
                break
            metas = page.get("metadatas") or [None] * len(page["ids"])
            for pid, doc, meta in zip(page["ids"], page.get("documents") or [], metas, strict=True):
                builder.add(pid, embedding_text(str((meta or {}).get("title", "")), str(doc or "")))
            offset += len(page["ids"])
        index = builder.build()
        index.save(self._state.directory)
        return index


def _batches(items: Sequence[Passage], size: int) -> Iterator[Sequence[Passage]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def collection_names(client: ClientAPI) -> list[str]:
    """Names of the store's collections (chromadb returns names or Collection objects)."""
    return [c if isinstance(c, str) else c.name for c in client.list_collections()]
