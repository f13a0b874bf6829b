"""CachedBackend: exact replay, key separation, bypass and replay-only policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadline.config import load_settings
from leadline.errors import ConfigError, SearchError
from leadline.tools.search import CachedBackend, LocalCorpus, SearxngBackend, open_search_backend
from leadline.tools.search.base import Passage


class CountingBackend:
    """Returns different scores every call, so a replay is distinguishable from a re-search."""

    name = "counting"

    def __init__(self, collection: str = "c", mode: str = "hybrid") -> None:
        self.collection = collection
        self.mode = mode
        self.calls = 0
        self.fail = False

    async def search(self, query: str, k: int) -> list[Passage]:
        self.calls += 1
        if self.fail:
            raise SearchError("backend down")
        score = 0.1 * self.calls
        return [
            Passage(f"{query}-{i}", "T\u00e9", f"text {i}", f"src:{i}", score + i / 3, self.name)
            for i in range(k)
        ]


async def test_replays_exactly(tmp_path: Path) -> None:
    inner = CountingBackend()
    cached = CachedBackend(inner, tmp_path / "c.sqlite", namespace="run1")
    first = await cached.search("tides", 3)
    again = await cached.search("tides", 3)
    assert again == first and inner.calls == 1 and (cached.hits, cached.misses) == (1, 1)
    # A fresh process (new wrapper, same file) replays the same bytes, floats included.
    reopened = CachedBackend(
        CountingBackend(), tmp_path / "c.sqlite", namespace="run1", policy="replay"
    )
    assert await reopened.search("tides", 3) == first
    assert cached.name == "counting"


async def test_key_covers_query_k_mode_collection_namespace(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    inner = CountingBackend()
    cached = CachedBackend(inner, db)
    await cached.search("q", 2)
    await cached.search("q", 3)
    await cached.search("Q", 2)
    assert inner.calls == 3
    for other in (CountingBackend(mode="bm25"), CountingBackend(collection="d")):
        await CachedBackend(other, db).search("q", 2)
        assert other.calls == 1
    elsewhere = CountingBackend()
    await CachedBackend(elsewhere, db, namespace="other").search("q", 2)
    assert elsewhere.calls == 1


async def test_policies(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    inner = CountingBackend()
    first = await CachedBackend(inner, db).search("q", 2)
    off = CachedBackend(inner, db, policy="off")
    assert await off.search("q", 2) != first and inner.calls == 2
    refresh = CachedBackend(inner, db, policy="refresh")
    refreshed = await refresh.search("q", 2)
    assert refreshed != first and inner.calls == 3
    assert await CachedBackend(inner, db).search("q", 2) == refreshed  # refresh overwrote
    with pytest.raises(SearchError, match="replay cache miss"):
        await CachedBackend(inner, db, policy="replay").search("never asked", 2)
    with pytest.raises(ConfigError, match="cache policy"):
        CachedBackend(inner, db, policy="sometimes")  # type: ignore[arg-type]


async def test_failures_are_not_cached(tmp_path: Path) -> None:
    inner = CountingBackend()
    inner.fail = True
    cached = CachedBackend(inner, tmp_path / "c.sqlite")
    with pytest.raises(SearchError):
        await cached.search("q", 1)
    inner.fail = False
    assert len(await cached.search("q", 1)) == 1 and inner.calls == 2


async def test_open_search_backend(tmp_path: Path) -> None:
    (tmp_path / "leadline.toml").write_text("")
    settings = load_settings(
        config_file=tmp_path / "leadline.toml", environ={}, data_dir=tmp_path / "data"
    )
    with pytest.raises(ConfigError, match=r"no collection 'notes' to search.*leadline ingest"):
        open_search_backend(settings, "notes", mode="bm25")  # searching never creates one
    for name in ("notes", "default"):  # as `leadline ingest` would
        LocalCorpus.from_settings(settings, name, mode="bm25").close()
    backend = open_search_backend(settings, "notes", mode="bm25")
    assert isinstance(backend, CachedBackend) and isinstance(backend.backend, LocalCorpus)
    assert (backend.collection, backend.mode) == ("notes", "bm25")
    raw = open_search_backend(settings, use_cache=False)
    assert isinstance(raw, LocalCorpus) and raw.collection == "default" and raw.mode == "hybrid"
    with pytest.raises(ConfigError, match="LEADLINE_SEARXNG_URL"):
        open_search_backend(settings, mode="web")
    web = open_search_backend(
        settings.model_copy(update={"searxng_url": "http://127.0.0.1:9"}),
        mode="web",
        use_cache=False,
    )
    assert isinstance(web, SearxngBackend)
    await web.aclose()  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="search mode"):
        open_search_backend(settings, mode="psychic")
    await backend.aclose()
