"""In-memory search backend for unit tests: ranks passages by word overlap with the query."""

from __future__ import annotations

import re

from leadline.errors import SearchError
from leadline.tools.search.base import Passage
from leadline.tools.search.catalog import CollectionInfo

_WORD = re.compile(r"\w+")


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


class MemorySearch:
    name = "memory"

    def __init__(self, passages: list[Passage], *, fail: bool = False) -> None:
        self.passages = passages
        self.fail = fail
        self.queries: list[str] = []

    async def search(self, query: str, k: int) -> list[Passage]:
        self.queries.append(query)
        if self.fail:
            raise SearchError("memory backend is down")
        q = _words(query)
        scored = [
            (len(q & _words(p.title + " " + p.text)), i, p) for i, p in enumerate(self.passages)
        ]
        scored.sort(key=lambda t: (-t[0], t[1]))
        return [p for s, _, p in scored[:k] if s > 0]


def make_passages(n: int = 12) -> list[Passage]:
    return [
        Passage(
            id=f"p{i}",
            title=f"Topic {i}",
            text=f"Fact number {i} about topic {i}. " * 3,
            source=f"mem://{i}",
        )
        for i in range(n)
    ]


class MemoryCatalog:
    """Collections with sizes, as `StoreCatalog` lists a real store (for `Services.catalog`)."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.sizes = sizes

    async def collections(self) -> list[CollectionInfo]:
        return [CollectionInfo(name, n) for name, n in sorted(self.sizes.items())]
