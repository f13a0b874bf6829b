"""The lexical half of the local corpus: a bm25s index kept on disk beside the chroma store.

chromadb is the source of truth for passages; this index is derived data, rebuilt from it after
every ingest and whenever its recorded passage count disagrees with the collection (another
process ingested, or a crash came between the two writes). bm25s cannot add documents to an
existing index, and a rebuild is cheap next to embedding (a second or two per 100k passages).
The rebuild streams: `BM25Builder` takes passages one at a time and keeps only each one's term
counts, spilled to a temporary file, until it lays out the score matrix bm25s searches (bm25s's
own `index` wants every passage's token list in memory at once, about ten times the text).
Saving is atomic: each build goes into a fresh sub-directory and a manifest written with
`os.replace` points at it, so a reader never sees half an index.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import uuid
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST = "manifest.json"
# Bump when tokenisation changes, so indexes built the old way are rebuilt instead of misread.
TOKENIZER_VERSION = 2
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


_STOP = _stopwords()


def _stem(word: str) -> str:
    """Harman's S-stemmer: fold English plurals only.

    Measured on the HotpotQA pool it helps recall slightly, and unlike a full Porter stemmer it
    needs no extra package and almost never conflates unrelated words.
    """
    if len(word) > 3 and word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
        return word[:-1]
    if len(word) > 2 and word.endswith("s") and not word.endswith(("us", "ss")):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without stopwords, plural-folded; the same for docs and queries."""
    return [_stem(t) for t in _TOKEN.findall(text.lower()) if t not in _STOP]


class BM25Index:
    """An immutable BM25 index over passage ids; `search` returns (id, score) best first."""

    def __init__(self, ids: list[str], model: Any | None) -> None:
        self.ids = ids
        self._model = model

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, ids: Sequence[str], texts: Sequence[str]) -> BM25Index:
        """Index `texts` (title and body already joined) under `ids`."""
        if len(ids) != len(texts):
            raise ValueError("ids and texts differ in length")
        builder = BM25Builder()
        for pid, text in zip(ids, texts, strict=True):
            builder.add(pid, text)
        return builder.build()

    def search(self, query: str, n: int) -> list[tuple[str, float]]:
        """Top `n` passages with a positive score (a query of only unknown words finds nothing)."""
        tokens = tokenize(query)
        if self._model is None or not tokens or n <= 0:
            return []
        known = self._model.get_tokens_ids(tokens)
        if not known:
            return []
        scores = np.asarray(self._model.get_scores(known))
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def save(self, directory: Path) -> None:
        """Write atomically under `directory` (see the module docstring)."""
        directory.mkdir(parents=True, exist_ok=True)
        sub = f"index-{uuid.uuid4().hex[:12]}"
        target = directory / sub
        target.mkdir()
        if self._model is not None:
            self._model.save(str(target))
        (target / "ids.json").write_text(json.dumps(self.ids), encoding="utf-8")
        manifest = {"dir": sub, "count": len(self.ids), "tokenizer": TOKENIZER_VERSION}
        tmp = directory / f".{MANIFEST}.{sub}"
        tmp.write_text(json.dumps(manifest), encoding="utf-8")
        os.replace(tmp, directory / MANIFEST)
        for old in directory.glob("index-*"):
            if old.name != sub:
                shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path, expected_count: int) -> BM25Index | None:
        """The saved index, or None when absent, unreadable or stale (count or tokenizer)."""
        try:
            manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
            if (
                manifest.get("tokenizer") != TOKENIZER_VERSION
                or manifest.get("count") != expected_count
            ):
                return None
            target = directory / str(manifest["dir"])
            ids = json.loads((target / "ids.json").read_text(encoding="utf-8"))
            if not ids:
                return cls([], None)
            import bm25s

            model = bm25s.BM25.load(str(target), mmap=False)
        except (OSError, ValueError, KeyError):
            return None
        return cls(list(ids), model)


SPILL_PAIRS = 1 << 20  # (passage, term) pairs buffered before they go to the temporary file


class BM25Builder:
    """A BM25Index built from passages added one at a time, in memory that grows with the
    index, not with the text: per passage its length and distinct terms with their counts.

    Scores are bm25s's (Lucene variant, its default k1 and b) computed the same way, so an index
    built here ranks exactly as `bm25s.BM25().index` would. A passage id seen before is ignored
    (the chroma pages it is read from could, in principle, overlap).
    """

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._seen: set[str] = set()
        self._vocab: dict[str, int] = {}
        self._lengths = array("i")  # tokens per passage
        self._terms = array("i")  # buffered pairs: term id ...
        self._counts = array("i")  # ... and how often it occurs in the passage
        self._docs = array("i")  # ... and which passage
        self._spill = tempfile.TemporaryFile()  # noqa: SIM115 - closed by build()

    def add(self, pid: str, text: str) -> None:
        if pid in self._seen:
            return
        self._seen.add(pid)
        vocab = self._vocab
        counts = Counter(vocab.setdefault(t, len(vocab)) for t in tokenize(text))
        doc = len(self.ids)
        self.ids.append(pid)
        self._lengths.append(sum(counts.values()))
        self._terms.extend(counts.keys())
        self._counts.extend(counts.values())
        self._docs.extend([doc] * len(counts))
        if len(self._terms) >= SPILL_PAIRS:
            self._write_pairs()

    def build(self) -> BM25Index:
        """The index; the builder is spent."""
        import bm25s

        self._write_pairs()
        self._seen.clear()
        try:
            if not self.ids:
                return BM25Index([], None)
            model = bm25s.BM25()
            model.scores = self._score_matrix(model.k1, model.b)
            model.vocab_dict = {**self._vocab, "": len(self._vocab)}  # as bm25s's index() does
            model.unique_token_ids_set = set(model.vocab_dict.values())
            model.nonoccurrence_array = None
            return BM25Index(self.ids, model)
        finally:
            self._spill.close()

    def _write_pairs(self) -> None:
        for buffered in (self._terms, self._counts, self._docs):
            np.save(self._spill, np.frombuffer(buffered, dtype=np.int32))
            del buffered[:]

    def _pair_blocks(self) -> Iterator[tuple[np.ndarray, ...]]:
        """The spilled (terms, counts, docs) blocks, in the order they were added."""
        self._spill.seek(0)
        while self._spill.tell() < os.fstat(self._spill.fileno()).st_size:
            yield tuple(np.load(self._spill) for _ in range(3))

    def _score_matrix(self, k1: float, b: float) -> dict[str, Any]:
        """bm25s's CSC score matrix (one column per term), filled block by block: each pair goes
        to the next free slot of its term's column, so only the result is held whole."""
        n_docs, n_terms = len(self.ids), len(self._vocab)
        lengths = np.frombuffer(self._lengths, dtype=np.int32)
        avg_length = lengths.mean()
        df = np.zeros(n_terms, dtype=np.int64)
        for terms, _, _ in self._pair_blocks():
            df += np.bincount(terms, minlength=n_terms)
        idf = np.array(
            [math.log(1 + (n_docs - d + 0.5) / (d + 0.5)) for d in df.tolist()], dtype=np.float32
        )
        indptr = np.zeros(n_terms + 1, dtype=np.int32)
        np.cumsum(df, out=indptr[1:])
        data = np.empty(int(indptr[-1]), dtype=np.float32)
        indices = np.empty(int(indptr[-1]), dtype=np.int32)
        free = indptr[:-1].astype(np.int64)  # next free slot in each term's column
        for terms, counts, docs in self._pair_blocks():
            tf = counts.astype(np.float32)
            # The same operations, in the same order and precision, as bm25s's scoring.
            norm = k1 * ((1 - b) + (b * lengths[docs].astype(np.float64)) / avg_length)
            scores = idf[terms] * (tf / (norm + tf))
            order = np.argsort(terms, kind="stable")  # by term; within a term, by passage
            sorted_terms = terms[order]
            starts = np.flatnonzero(np.r_[True, sorted_terms[1:] != sorted_terms[:-1]])
            sizes = np.diff(np.r_[starts, len(order)])
            slots = free[sorted_terms] + np.arange(len(order)) - np.repeat(starts, sizes)
            data[slots] = scores[order]
            indices[slots] = docs[order]
            free[sorted_terms[starts]] += sizes
        return {"data": data, "indices": indices, "indptr": indptr, "num_docs": n_docs}
