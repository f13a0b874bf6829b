"""Search tools: the backend protocol, the local corpus, ingestion, web search and the cache.

Everything the agents need goes through `SearchBackend.search(query, k) -> list[Passage]`;
`open_search_backend(settings, ...)` builds the configured one. Heavy modules (chromadb,
onnxruntime) load on first use of the names that need them (PEP 562 `__getattr__`), so
importing this package for the protocol, or running `leadline --help`, stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from leadline.errors import ConfigError
from leadline.tools.search.base import Passage, SearchBackend

# Imported eagerly (it is light: no chromadb): the submodule shares the function's name, and a
# lazily imported submodule would replace the package attribute `ingest` with the module.
from leadline.tools.search.ingest import IngestProgress, IngestSummary, ingest

if TYPE_CHECKING:
    from leadline.config import Settings
    from leadline.tools.search.cache import CachedBackend
    from leadline.tools.search.corpus import LocalCorpus
    from leadline.tools.search.web import SearxngBackend, fetch_page

__all__ = [
    "CachedBackend",
    "IngestProgress",
    "IngestSummary",
    "LocalCorpus",
    "Passage",
    "SearchBackend",
    "SearxngBackend",
    "fetch_page",
    "ingest",
    "open_search_backend",
]

_LAZY = {
    "CachedBackend": "leadline.tools.search.cache",
    "LocalCorpus": "leadline.tools.search.corpus",
    "SearxngBackend": "leadline.tools.search.web",
    "fetch_page": "leadline.tools.search.web",
}
SEARCH_MODES = ("bm25", "dense", "hybrid", "web")
CACHE_FILE = "search-cache.sqlite"


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_search_backend(
    settings: Settings,
    collection: str | None = None,
    mode: str = "hybrid",
    use_cache: bool = True,
    precompute: bool = True,
) -> SearchBackend:
    """The configured backend: the local corpus in `mode`, or SearXNG when `mode="web"`.

    With `use_cache`, results go through a `CachedBackend` in `settings.data_dir`, so a run can
    be replayed exactly. With `precompute`, a local collection's sleep-time results (link
    graph, distilled questions; see `leadline precompute`) are used when there are any.
    """
    from leadline.tools.search.cache import CachedBackend
    from leadline.tools.search.corpus import LocalCorpus
    from leadline.tools.search.web import SearxngBackend

    backend: SearchBackend
    corpus: LocalCorpus | None = None
    if mode == "web":
        if not settings.searxng_url:
            raise ConfigError("web search needs a SearXNG URL: set LEADLINE_SEARXNG_URL")
        backend = SearxngBackend(
            settings.searxng_url,
            timeout_s=min(settings.request_timeout_s, 30.0),
            max_retries=settings.max_retries,
        )
    elif mode in SEARCH_MODES:
        # Searching never creates a collection: a typo must be an error, not an empty corpus.
        local_mode: Any = mode
        backend = corpus = LocalCorpus.from_settings(settings, collection, local_mode, create=False)
    else:
        raise ConfigError(f"unknown search mode {mode!r}; choose one of {', '.join(SEARCH_MODES)}")
    if use_cache:
        backend = CachedBackend(backend, settings.data_dir / "cache" / CACHE_FILE)
    if precompute and corpus is not None:
        from leadline.precompute.search import attach_precompute

        backend = attach_precompute(backend, corpus)
    return backend
