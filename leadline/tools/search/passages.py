"""A corpus from one JSONL file of passages, searched with BM25 in memory: no ingest step."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path

from leadline.errors import ConfigError
from leadline.tools.search.base import Passage, content_id
from leadline.tools.search.bm25 import BM25Index


class PassageFileSearch:
    """BM25 in memory over a JSONL file of passages `{id?, title?, text}`: no ingest step."""

    name = "passages"

    def __init__(self, passages: list[Passage]) -> None:
        self.passages = {p.id: p for p in passages}
        ids = list(self.passages)
        self._index = BM25Index.build(ids, [f"{p.title} {p.text}" for p in self.passages.values()])

    @classmethod
    def from_jsonl(cls, path: Path | str) -> PassageFileSearch:
        path = Path(path)
        passages = []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read passages from {path}: {exc}") from exc
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            with contextlib.suppress(ValueError):
                row = json.loads(line)
                if isinstance(row, dict) and isinstance(row.get("text"), str):
                    title = str(row.get("title") or "")
                    pid = str(row.get("id") or content_id(title, row["text"]))
                    passages.append(Passage(pid, title, row["text"], f"{path}:{n}"))
                    continue
            raise ConfigError(f"{path}:{n} is not a passage row {{id?, title?, text}}")
        return cls(passages)

    async def search(self, query: str, k: int) -> list[Passage]:
        return [
            dataclasses.replace(self.passages[pid], score=score, backend=self.name)
            for pid, score in self._index.search(query, k)
        ]
