"""A small real collection (embedded chromadb, hashed embeddings) to precompute over."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from leadline.tools.search.base import Passage
from leadline.tools.search.corpus import LocalCorpus
from tests.tools.search.conftest import HashEmbedding

PASSAGES = [
    Passage(
        "kiss",
        "Kiss and Tell (1945 film)",
        "Kiss and Tell is a comedy starring Shirley Temple.",
        "m",
    ),
    Passage(
        "shirley",
        "Shirley Temple",
        "Shirley Temple was an actress, later ambassador to Ghana.",
        "m",
    ),
    Passage("ghana", "Ghana", "Ghana is a country in West Africa.", "m"),
    Passage("corliss", "Corliss Archer", "Corliss Archer is a character in Kiss and Tell.", "m"),
    Passage("capra", "Frank Capra", "Frank Capra directed films.", "m"),
    Passage("music", "Music", "Music is an art; music is sound.", "m"),
]

MakeCorpus = Callable[..., LocalCorpus]


@pytest.fixture
def corpus(tmp_path: Path) -> Iterator[LocalCorpus]:
    c = LocalCorpus.embedded(tmp_path / "store", "tiny", embedding=HashEmbedding())
    c.add(PASSAGES, progress=False)
    try:
        yield c
    finally:
        c.close()
