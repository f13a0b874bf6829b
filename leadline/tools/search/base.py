"""The search contract: a `Passage` and the one-method `SearchBackend` protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    text: str
    source: str
    score: float = 0.0
    backend: str = ""


class SearchBackend(Protocol):
    name: str

    async def search(self, query: str, k: int) -> list[Passage]: ...
