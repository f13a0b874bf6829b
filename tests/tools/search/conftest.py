"""Fixtures for the search tests: real embedded chromadb in tmp dirs, a fast stand-in embedding.

Most tests use the real offline MiniLM on a handful of passages (tens of milliseconds each).
Tests that push thousands of passages through real chromadb (the shared HotpotQA files) use
`HashEmbedding`, a deterministic bag-of-words hash, because embedding ~3,000 paragraphs with
MiniLM takes minutes on two cores and those tests are about parsing, ids and storage.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from leadline.tools.search.corpus import LocalCorpus

HOTPOTQA_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "hotpotqa"


@register_embedding_function
class HashEmbedding(EmbeddingFunction[Documents]):
    """Hashed bag of words, L2-normalised: cheap, deterministic, still topical."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim

    def __call__(self, input: Documents) -> Embeddings:
        out = []
        for text in input:
            v = np.zeros(self.dim, dtype=np.float32)
            for word in re.findall(r"\w+", text.lower()):
                v[int(hashlib.md5(word.encode()).hexdigest()[:8], 16) % self.dim] += 1.0
            norm = float(np.linalg.norm(v))
            out.append(v / norm if norm else v + 1.0 / np.sqrt(self.dim))
        return out

    @staticmethod
    def name() -> str:
        return "leadline-test-hash"

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> HashEmbedding:
        return HashEmbedding(int(config.get("dim", 64)))

    def get_config(self) -> dict[str, Any]:
        return {"dim": self.dim}


MakeCorpus = Callable[..., LocalCorpus]


@pytest.fixture
def make_corpus(tmp_path: Path) -> MakeCorpus:
    """Factory: `make_corpus("name", mode="hybrid", fast=False)` -> LocalCorpus under tmp_path."""

    def make(
        collection: str = "test",
        *,
        mode: str = "hybrid",
        fast: bool = False,
        root: Path | None = None,
    ) -> LocalCorpus:
        kwargs: dict[str, Any] = {"embedding": HashEmbedding()} if fast else {}
        return LocalCorpus.embedded(root or tmp_path / "store", collection, mode=mode, **kwargs)

    return make


@pytest.fixture
def hotpotqa_dir() -> Path:
    if not (HOTPOTQA_DIR / "dev300.jsonl").exists():
        pytest.skip(f"shared HotpotQA data not present at {HOTPOTQA_DIR}")
    return HOTPOTQA_DIR


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
