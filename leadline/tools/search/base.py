"""The one search contract every backend implements, and the passage record they all return.

The searcher agent, the cache and the evals only ever see `SearchBackend.search(query, k)` and
`Passage`, so a local corpus, a web engine, a test double or a user's own search are
interchangeable: `research(question, search=backend)` takes any object with
`async search(query, k) -> list[Passage]` (built-ins use the same path). Passage ids are derived
from content here, in one place, so that ingestion, the benchmark and the evals agree on what
"the same paragraph" means.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from leadline.errors import ConfigError

ID_HEX_CHARS = 16
_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class Passage:
    """One retrieved piece of evidence.

    `id` is stable across runs (content hash or a caller-given id), `source` says where the text
    came from (file path and line, document path, or URL), `score` is backend-specific (higher is
    better) and `backend` names what produced it.
    """

    id: str
    title: str
    text: str
    source: str = ""
    score: float = 0.0
    backend: str = ""


@runtime_checkable
class SearchBackend(Protocol):
    """Anything that can answer a query with up to `k` passages, best first.

    Raise `leadline.SearchError` (or an `OSError`) for a failure the run should note and go on
    from; any other exception is a bug and ends the run. Built-in backends also have a `name`.
    """

    async def search(self, query: str, k: int) -> list[Passage]: ...


@runtime_checkable
class LinkFollower(Protocol):
    """A backend that also knows which passages each passage points at (a link graph).

    `follow` returns up to `k` passages that the `sources` link to (or are linked from), best
    first for `question`, never the sources themselves. See `leadline.precompute.search`.
    """

    async def follow(self, sources: Sequence[str], question: str, k: int) -> list[Passage]: ...


def check_backend(backend: object) -> SearchBackend:
    """`backend` if it has an `async search(query, k)` method, else a ConfigError saying so."""
    method = getattr(backend, "search", None)
    if not inspect.iscoroutinefunction(method):
        raise ConfigError(
            f"a search backend needs a method `async def search(self, query: str, k: int) -> "
            f"list[Passage]`; {type(backend).__name__} has none"
        )
    return backend  # type: ignore[return-value]


def check_passages(backend: object, passages: object) -> list[Passage]:
    """What a backend returned, as a list of `Passage`; a TypeError naming the backend if not."""
    if isinstance(passages, list | tuple) and all(isinstance(p, Passage) for p in passages):
        return list(passages)
    got = type(passages).__name__
    if isinstance(passages, list | tuple):
        got = f"{got} holding {', '.join(sorted({type(p).__name__ for p in passages}))}"
    raise TypeError(
        f"{type(backend).__name__}.search must return a list of leadline.Passage, got {got}"
    )


def normalize_whitespace(text: str) -> str:
    """Collapse runs of whitespace, so layout differences do not change a passage's identity."""
    return _WS.sub(" ", text).strip()


def content_id(title: str, text: str) -> str:
    """Stable id of a passage from its title and text (whitespace-insensitive).

    The same paragraph under many HotpotQA questions, or in both HotpotQA layouts (whose sentence
    joins differ only in spacing), gets one id and is stored once.
    """
    digest = ContentHash(title)
    digest.update(text)
    return digest.id()


class ContentHash:
    """`content_id` of a text given in pieces, so a file too big to hold can still be named.

    It hashes what `normalize_whitespace` would return for the whole text: words joined by
    single spaces, a run of whitespace split between two pieces still counting once.
    """

    def __init__(self, title: str) -> None:
        self._sha = hashlib.sha256((normalize_whitespace(title) + "\x1f").encode("utf-8"))
        self._words = False  # any non-space text hashed yet
        self._space = False  # whitespace seen since the last word

    def update(self, piece: str) -> None:
        collapsed = _WS.sub(" ", piece)
        core = collapsed.strip(" ")
        if not core:
            self._space = self._space or bool(collapsed)
            return
        if self._words and (self._space or collapsed[0] == " "):
            self._sha.update(b" ")
        self._sha.update(core.encode("utf-8"))
        self._words = True
        self._space = collapsed[-1] == " "

    def through(self, pieces: Iterable[str]) -> Iterator[str]:
        """Pass `pieces` on, hashing each: the hash is complete once they are consumed."""
        for piece in pieces:
            self.update(piece)
            yield piece

    @property
    def empty(self) -> bool:
        """Nothing but whitespace so far (the text would strip to "")."""
        return not self._words

    def id(self) -> str:
        return self._sha.hexdigest()[:ID_HEX_CHARS]
