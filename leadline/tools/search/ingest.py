"""Ingestion: files in, deduplicated and chunked passages into a `LocalCorpus`, with a summary.

Two streaming passes over the input, so memory does not grow with file size. The first
(`prepare`) reads and validates every file and writes nothing, so malformed input raises an
`IngestError` naming the file and line before a collection is even created. The second
(`PreparedInput.add_to`) reads the files again, cuts each document into passages
(chunking.py) and writes them in batches of WRITE_BATCH, reporting progress over bytes and
passages. Passage ids come from content (title + text, whitespace-insensitive) unless the input
names one, so the same HotpotQA paragraph under many questions is stored once and re-ingesting
the same files adds nothing. What is kept across the whole input is small: one id per passage
(to count repeats) and one digest per caller-given document id (to refuse one id for two texts).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from leadline.errors import ConfigError, IngestError
from leadline.tools.search.base import Passage, content_id
from leadline.tools.search.chunking import document_passages
from leadline.tools.search.formats import SUFFIXES, expand_paths, read_documents
from leadline.tools.search.minilm import MAX_TOKENS, load_tokenizer

DEFAULT_CHUNK_TOKENS = 200  # leaves room for the title within MiniLM's 256 tokens
MIN_CHUNK_TOKENS = 16
WRITE_BATCH = 128  # passages embedded and written at a time: what bounds the writing side


class PassageSink(Protocol):
    """What ingest writes to (LocalCorpus implements it)."""

    collection: str

    def store(self, passages: Sequence[Passage]) -> int:
        """Write the passages not already stored; how many were new."""
        ...

    def sync_index(self, changed: bool) -> None:
        """Bring derived indexes up to date once writing is done."""
        ...


@dataclass(frozen=True)
class IngestSummary:
    """What one ingest did. `skipped`: already stored, or empty; `duplicates`: repeats in input."""

    collection: str
    files: int
    documents: int
    passages: int
    added: int
    skipped: int
    duplicates: int
    elapsed_s: float

    def __str__(self) -> str:
        return (
            f"{self.collection}: {self.files} file(s), {self.documents} document(s) -> "
            f"{self.passages} passage(s): {self.added} added, {self.skipped} skipped, "
            f"{self.duplicates} duplicate(s) in {self.elapsed_s:.1f}s"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class IngestProgress:
    """Where an ingest stands: `checking` reads everything once, `writing` chunks and stores."""

    stage: Literal["checking", "writing"]
    bytes_done: int
    bytes_total: int
    passages: int = 0  # distinct passages produced so far (writing)
    added: int = 0  # of which new to the collection


ProgressFn = Callable[[IngestProgress], None]


@dataclass(frozen=True)
class PreparedInput:
    """Input found and validated; nothing chunked or written yet."""

    files: list[Path]
    sizes: list[int]
    chunk_tokens: int
    started: float  # perf_counter() when reading began, for the summary's elapsed time

    def add_to(self, corpus: PassageSink, *, progress: bool | ProgressFn = True) -> IngestSummary:
        """Chunk every document and write its new passages to `corpus`, a batch at a time."""
        tokenizer = load_tokenizer(False)
        with _reporter(progress) as report:
            tracker = _Tracker("writing", sum(self.sizes), report)
            tracker.emit()
            writer = _Writer(corpus, tracker)
            for path, size in zip(self.files, self.sizes, strict=True):
                for doc in read_documents(path, tracker.read):
                    writer.document(
                        document_passages(doc, tokenizer, self.chunk_tokens, tracker.read)
                    )
                tracker.file_done(size)
            writer.flush()
        corpus.sync_index(changed=writer.added > 0)
        return writer.summary(corpus.collection, len(self.files), self.started)


def prepare(
    paths: Iterable[Path | str] | Path | str,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
    *,
    progress: bool | ProgressFn = False,
) -> PreparedInput:
    """Everything ingest checks before writing; raises on bad input, so a caller can open (and
    create) the collection only once the input is known to be good."""
    started = time.perf_counter()
    if not MIN_CHUNK_TOKENS <= chunk_tokens <= MAX_TOKENS:
        raise ConfigError(
            f"chunk_tokens must be between {MIN_CHUNK_TOKENS} and {MAX_TOKENS} "
            f"(the embedding model reads at most {MAX_TOKENS} tokens), got {chunk_tokens}"
        )
    path_list = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    files = expand_paths(path_list)
    if not files:
        where = ", ".join(str(p) for p in path_list)
        raise IngestError(f"no {'/'.join(sorted(SUFFIXES))} files found in {where}")
    sizes = [path.stat().st_size for path in files]
    first_use: dict[str, tuple[str, str]] = {}
    with _reporter(progress) as report:
        tracker = _Tracker("checking", sum(sizes), report, live=True)
        tracker.emit()
        for path, size in zip(files, sizes, strict=True):
            check_file(path, tracker.read, first_use)
            tracker.file_done(size)
    return PreparedInput(files, sizes, chunk_tokens, started)


def ingest(
    paths: Iterable[Path | str] | Path | str,
    corpus: PassageSink,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
    *,
    progress: bool | ProgressFn = True,
) -> IngestSummary:
    """Check `paths`, then chunk them and add the new passages to `corpus`."""
    return prepare(paths, chunk_tokens, progress=progress).add_to(corpus, progress=progress)


def check_file(
    path: Path, meter: Callable[[int], None], first_use: dict[str, tuple[str, str]]
) -> None:
    """Read every document of `path` once, so that malformed input fails before anything is
    written.

    Two documents with the same caller-given id but different text are an error: silently
    keeping one would make results depend on file order. `first_use` keeps, across files, only
    a digest and the source of each id's first text.
    """
    for doc in read_documents(path, meter):
        if doc.path is not None:
            for _ in doc.pieces(meter):  # decodes the file: a bad byte fails now
                pass
        elif doc.id is not None and doc.text.strip():
            digest = content_id("", doc.text)
            first_digest, first_source = first_use.setdefault(doc.id, (digest, doc.source))
            if digest != first_digest:
                raise IngestError(
                    f"{doc.source}: id {doc.id!r} was already used for different text "
                    f"at {first_source}"
                )


@dataclass
class _Tracker:
    """One stage's progress. A file counts for its size once done, so a file read twice, or not
    to its end, never counts for more or less than itself. `live`: report every read (checking);
    otherwise the writer reports after each batch it stores, so the bytes shown are those whose
    passages are written, not those read ahead of the embedding."""

    stage: Literal["checking", "writing"]
    total: int
    report: ProgressFn
    live: bool = False
    done: int = 0  # bytes of the files finished
    current: int = 0  # bytes read of the file in hand
    passages: int = 0
    added: int = 0

    def read(self, n: int) -> None:
        self.current += n
        if self.live:
            self.emit()

    def file_done(self, size: int) -> None:
        self.done += size
        self.current = 0
        if self.live:
            self.emit()

    def emit(self) -> None:
        done = min(self.done + self.current, self.total)
        self.report(IngestProgress(self.stage, done, self.total, self.passages, self.added))


@dataclass
class _Writer:
    """The writing side: drops repeats, batches passages, stores them, and counts."""

    corpus: PassageSink
    tracker: _Tracker
    seen: set[str] = field(default_factory=set)
    batch: list[Passage] = field(default_factory=list)
    documents: int = 0
    empty: int = 0
    duplicates: int = 0
    added: int = 0

    def document(self, passages: Iterable[Passage]) -> None:
        self.documents += 1
        produced = False
        for passage in passages:
            produced = True
            if passage.id in self.seen:
                self.duplicates += 1
                continue
            self.seen.add(passage.id)
            self.batch.append(passage)
            if len(self.batch) >= WRITE_BATCH:
                self.flush()
        self.empty += not produced

    def flush(self) -> None:
        if self.batch:
            self.added += self.corpus.store(self.batch)
            self.batch = []
        self.tracker.passages, self.tracker.added = len(self.seen), self.added
        self.tracker.emit()

    def summary(self, collection: str, files: int, started: float) -> IngestSummary:
        passages = len(self.seen)
        return IngestSummary(
            collection=collection,
            files=files,
            documents=self.documents,
            passages=passages,
            added=self.added,
            skipped=passages - self.added + self.empty,
            duplicates=self.duplicates,
            elapsed_s=round(time.perf_counter() - started, 3),
        )


@contextmanager
def _reporter(progress: bool | ProgressFn) -> Iterator[ProgressFn]:
    """`progress` as a callback: the caller's, a tqdm bar on stderr (True), or none (False)."""
    if callable(progress) or not progress:
        yield progress if callable(progress) else _ignore
        return
    from tqdm import tqdm

    bars: list[Any] = []

    def show(p: IngestProgress) -> None:
        if not bars:
            bars.append(
                tqdm(
                    total=p.bytes_total,
                    desc=p.stage,
                    unit="B",
                    unit_scale=True,
                    file=sys.stderr,
                    mininterval=0.5,
                )
            )
        if p.stage == "writing":  # before the update, which redraws the bar
            bars[0].set_postfix(passages=p.passages, added=p.added, refresh=False)
        bars[0].update(p.bytes_done - bars[0].n)

    try:
        yield show
    finally:
        for bar in bars:
            bar.close()


def _ignore(progress: IngestProgress) -> None:
    pass
