"""A corpus from one JSONL file of passages, searched with BM25 in memory: no ingest step."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from leadline.errors import ConfigError, IngestError
from leadline.tools.search.base import Passage, content_id
from leadline.tools.search.bm25 import BM25Index
from leadline.tools.search.formats import read_file


class PassageFileSearch:
    """BM25 in memory over a JSONL file of passages `{id?, title?, text}`: no ingest step."""

    name = "passages"

    def __init__(self, passages: list[Passage]) -> None:
        self.passages = {p.id: p for p in passages}
        ids = list(self.passages)
        self._index = BM25Index.build(ids, [f"{p.title} {p.text}" for p in self.passages.values()])

    @classmethod
    def from_jsonl(cls, path: Path | str) -> PassageFileSearch:
        """Read with the same reader as `leadline ingest`, so both accept the same rows."""
        passages = []
        try:
            for d in read_file(Path(path)):
                text = d.read_text()
                passages.append(Passage(d.id or content_id(d.title, text), d.title, text, d.source))
        except IngestError as exc:
            raise ConfigError(f"cannot read passages: {exc}") from exc
        return cls(passages)

    async def search(self, query: str, k: int) -> list[Passage]:
        return [
            dataclasses.replace(self.passages[pid], score=score, backend=self.name)
            for pid, score in self._index.search(query, k)
        ]
