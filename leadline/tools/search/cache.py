"""A replayable search cache: results stored in SQLite by (backend, collection, mode, query, k).

Why: a research run is only reproducible if its searches are. With the cache in front of a
backend, a second run of the same questions sees byte-identical passages (ids, text, scores,
order) whether the backend is a corpus that has since grown or a web engine whose results
drift. Policies: `read_write` (default: hit or search-and-store), `refresh` (always search,
overwrite), `replay` (hits only; a miss is a SearchError, so an eval can prove it ran offline)
and `off` (pass through). Failed searches are never stored. SQLite runs in WAL mode with one
short-lived connection per call, so parallel searches (the searcher fans out) do not contend
on a shared handle; the blocking I/O runs in `asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from dataclasses import asdict
from pathlib import Path
from typing import Literal

from leadline.errors import ConfigError, SearchError
from leadline.tools.search.base import Passage, SearchBackend

CachePolicy = Literal["read_write", "refresh", "replay", "off"]
POLICIES: tuple[str, ...] = ("read_write", "refresh", "replay", "off")
SCHEMA = """
CREATE TABLE IF NOT EXISTS search_cache (
    namespace  TEXT NOT NULL,
    backend    TEXT NOT NULL,
    collection TEXT NOT NULL,
    mode       TEXT NOT NULL,
    query      TEXT NOT NULL,
    k          INTEGER NOT NULL,
    passages   TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (namespace, backend, collection, mode, query, k)
)
"""


class CachedBackend:
    """Wraps any SearchBackend; itself a SearchBackend with the wrapped backend's name."""

    def __init__(
        self,
        backend: SearchBackend,
        db_path: Path | str,
        namespace: str = "default",
        *,
        policy: CachePolicy = "read_write",
    ) -> None:
        if policy not in POLICIES:
            raise ConfigError(f"unknown cache policy {policy!r}; choose one of {POLICIES}")
        self.backend = backend
        self.name = getattr(backend, "name", type(backend).__name__)
        self.collection = str(getattr(backend, "collection", ""))
        self.mode = str(getattr(backend, "mode", ""))
        self.db_path = Path(db_path)
        self.namespace = namespace
        self.policy: CachePolicy = policy
        self.hits = 0
        self.misses = 0
        self._ready = False

    def __repr__(self) -> str:
        return (
            f"CachedBackend({self.backend!r}, db_path={str(self.db_path)!r}, "
            f"policy={self.policy!r})"
        )

    async def aclose(self) -> None:
        closer = getattr(self.backend, "aclose", None)
        if closer is not None:
            await closer()

    async def search(self, query: str, k: int) -> list[Passage]:
        if self.policy == "off":
            return await self.backend.search(query, k)
        key = (self.namespace, self.name, self.collection, self.mode, query, k)
        if self.policy != "refresh":
            cached = await asyncio.to_thread(self._load, key)
            if cached is not None:
                self.hits += 1
                return cached
            if self.policy == "replay":
                raise SearchError(
                    f"replay cache miss for {self.name}/{self.collection}/{self.mode} "
                    f"k={k} query {query!r} in {self.db_path}"
                )
        self.misses += 1
        passages = await self.backend.search(query, k)
        await asyncio.to_thread(self._store, key, passages)
        return passages

    def _connect(self) -> sqlite3.Connection:
        try:
            if not self._ready:
                self.db_path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.db_path, timeout=30.0)
            if not self._ready:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(SCHEMA)
                conn.commit()
                self._ready = True
            return conn
        except (OSError, sqlite3.Error) as exc:
            raise SearchError(f"search cache {self.db_path} unusable: {exc}") from exc

    def _load(self, key: tuple[str, str, str, str, str, int]) -> list[Passage] | None:
        conn = self._connect()
        try:
            row = conn.execute(
                "SELECT passages FROM search_cache WHERE namespace=? AND backend=? AND "
                "collection=? AND mode=? AND query=? AND k=?",
                key,
            ).fetchone()
        finally:
            conn.close()
        if row is None:
            return None
        return [Passage(**item) for item in json.loads(row[0])]

    def _store(self, key: tuple[str, str, str, str, str, int], passages: list[Passage]) -> None:
        # json round-trips Python floats exactly (repr), so replayed scores are identical.
        payload = json.dumps([asdict(p) for p in passages], ensure_ascii=False)
        conn = self._connect()
        try:
            with conn:
                conn.execute(
                    "INSERT OR REPLACE INTO search_cache VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (*key, payload, time.time()),
                )
        finally:
            conn.close()
