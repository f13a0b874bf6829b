"""Which collections a server can search, with their sizes: what a person picks from.

A research request names a collection; a person choosing one wants to see what exists and how
big each is, and a misspelt name should be refused when the request is made, not minutes later
when the run first searches. `StoreCatalog` lists the configured chroma store (embedded, or a
`chroma run` server) over one client that it keeps open, because opening a client per listing
costs more than the listing itself. Anything with an async `collections()` method can stand in
for it (tests, deployments with a fixed backend).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from leadline.errors import SearchError
from leadline.tools.search.stores import STORE_ERRORS, close_client, http_client, persistent_client

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

    from leadline.config import Settings


@dataclass(frozen=True)
class CollectionInfo:
    """One searchable collection: its name and how many passages it holds (None: unknown)."""

    name: str
    passages: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CollectionCatalog(Protocol):
    async def collections(self) -> list[CollectionInfo]: ...


class StoreCatalog:
    """The collections of the configured chroma store, sorted by name."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: ClientAPI | None = None
        self._lock = threading.Lock()

    def _open(self) -> ClientAPI:
        if self._client is None:
            url = self.settings.chroma_url
            self._client = (
                http_client(url) if url else persistent_client(self.settings.data_dir / "chroma")
            )
        return self._client

    def list_sync(self) -> list[CollectionInfo]:
        with self._lock:
            try:
                client = self._open()
                found = []
                for item in client.list_collections():
                    collection = client.get_collection(item) if isinstance(item, str) else item
                    found.append(CollectionInfo(collection.name, collection.count()))
            except STORE_ERRORS as exc:
                raise SearchError(f"cannot list the corpus collections: {exc}") from exc
        return sorted(found, key=lambda c: c.name)

    async def collections(self) -> list[CollectionInfo]:
        return await asyncio.to_thread(self.list_sync)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                close_client(self._client)
                self._client = None

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)
