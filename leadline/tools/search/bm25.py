"""The lexical half of the local corpus: a bm25s index kept on disk beside the chroma store.

chromadb is the source of truth for passages; this index is derived data, rebuilt from it after
every ingest and whenever its recorded passage count disagrees with the collection (another
process ingested, or a crash came between the two writes). bm25s cannot add documents to an
existing index, and a rebuild is cheap next to embedding (a second or two per 100k passages).
Saving is atomic: each build goes into a fresh sub-directory and a manifest written with
`os.replace` points at it, so a reader never sees half an index.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Sequence
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
        if not ids:
            return cls([], None)
        import bm25s

        model = bm25s.BM25()
        model.index([tokenize(t) for t in texts], show_progress=False)
        return cls(list(ids), model)

    def search(self, query: str, n: int) -> list[tuple[str, float]]:
        """Top `n` passages with a positive score (a query of only unknown words finds nothing)."""
        tokens = tokenize(query)
        if self._model is None or not tokens or n <= 0:
            return []
        scores = np.asarray(self._model.get_scores(tokens))
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
