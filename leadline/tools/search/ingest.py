"""Ingestion: files in, deduplicated and chunked passages into a `LocalCorpus`, with a summary.

Order matters for safety: every file is read and validated first (formats.py), then chunked and
deduplicated in memory, and only then written, so malformed input raises an `IngestError`
naming the file and line with nothing written. Passage ids come from content (title + text,
whitespace-insensitive) unless the input names one, so the same HotpotQA paragraph under many
questions is stored once and re-ingesting the same files adds nothing. Long documents are cut
into overlapping windows of the embedding tokenizer's tokens, because MiniLM reads at most 256
tokens and silently ignores the rest.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from leadline.errors import ConfigError, IngestError
from leadline.tools.search.base import Passage, content_id, normalize_whitespace
from leadline.tools.search.formats import SUFFIXES, Document, expand_paths, read_file
from leadline.tools.search.minilm import MAX_TOKENS, load_tokenizer

DEFAULT_CHUNK_TOKENS = 200  # leaves room for the title within MiniLM's 256 tokens
MIN_CHUNK_TOKENS = 16


class PassageSink(Protocol):
    """What ingest writes to (LocalCorpus implements it)."""

    collection: str

    def add(self, passages: Sequence[Passage], *, progress: bool = True) -> int: ...


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
class PreparedPassages:
    """Input read, validated, chunked and deduplicated; nothing written yet."""

    files: int
    documents: int
    passages: list[Passage]
    duplicates: int
    empty: int
    started: float  # perf_counter() when reading began, for the summary's elapsed time

    def add_to(self, corpus: PassageSink, *, progress: bool = True) -> IngestSummary:
        added = corpus.add(self.passages, progress=progress)
        return IngestSummary(
            collection=corpus.collection,
            files=self.files,
            documents=self.documents,
            passages=len(self.passages),
            added=added,
            skipped=len(self.passages) - added + self.empty,
            duplicates=self.duplicates,
            elapsed_s=round(time.perf_counter() - self.started, 3),
        )


def prepare(
    paths: Iterable[Path | str] | Path | str, chunk_tokens: int = DEFAULT_CHUNK_TOKENS
) -> PreparedPassages:
    """Everything ingest does before writing; raises on bad input, so a caller can open (and
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
    documents: list[Document] = []
    for path in files:
        documents.extend(read_file(path))
    passages, duplicates, empty = make_passages(documents, chunk_tokens)
    return PreparedPassages(len(files), len(documents), passages, duplicates, empty, started)


def ingest(
    paths: Iterable[Path | str] | Path | str,
    corpus: PassageSink,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
    *,
    progress: bool = True,
) -> IngestSummary:
    """Read, validate, chunk and deduplicate `paths`, then add the new passages to `corpus`."""
    return prepare(paths, chunk_tokens).add_to(corpus, progress=progress)


def make_passages(
    documents: Sequence[Document], chunk_tokens: int = DEFAULT_CHUNK_TOKENS
) -> tuple[list[Passage], int, int]:
    """Chunk and deduplicate: (unique passages in input order, duplicates, empty documents).

    Two documents with the same caller-given id but different text are an error: silently
    keeping one would make results depend on file order.
    """
    kept = [d for d in documents if d.text.strip()]
    empty = len(documents) - len(kept)
    tokenizer = load_tokenizer(False) if kept else None
    unique: dict[str, Passage] = {}
    origin: dict[str, Document] = {}
    duplicates = 0
    for doc in kept:
        base = doc.id or content_id(doc.title, doc.text)
        spans = chunk_spans(tokenize(tokenizer, doc.text), len(doc.text), chunk_tokens)
        for i, (start, end) in enumerate(spans):
            pid = base if len(spans) == 1 else f"{base}#{i}"
            text = doc.text[start:end].strip()
            if pid in unique:
                first = origin[pid]
                if doc.id and normalize_whitespace(first.text) != normalize_whitespace(doc.text):
                    raise IngestError(
                        f"{doc.source}: id {doc.id!r} was already used for different text "
                        f"at {first.source}"
                    )
                duplicates += 1
                continue
            unique[pid] = Passage(id=pid, title=doc.title.strip(), text=text, source=doc.source)
            origin[pid] = doc
    return list(unique.values()), duplicates, empty


# Long texts are tokenized in sections of about this many characters, cut at whitespace: the
# tokenizer's memory and time grow faster than the text (measured: one 5 MB string took 654 MB
# and 110 s; the same text in 100,000-character sections, 76 MB and 33 s, on a busy 2-core VM).
SECTION_CHARS = 50_000


@dataclass(frozen=True)
class Tokens:
    """Each token's character span in the text and the word it belongs to (None: no word)."""

    offsets: list[tuple[int, int]]
    word_ids: list[Any]


def tokenize(tokenizer: Any, text: str) -> Tokens:
    """Token offsets and word ids of `text`, tokenized section by section (bounded memory)."""
    offsets: list[tuple[int, int]] = []
    word_ids: list[Any] = []
    start, words_before = 0, 0
    while start < len(text):
        end = min(start + SECTION_CHARS, len(text))
        if end < len(text):
            cut = text.rfind(" ", start + SECTION_CHARS // 2, end)
            end = cut + 1 if cut > start else end
        encoding = tokenizer.encode(text[start:end], add_special_tokens=False)
        offsets.extend((a + start, b + start) for a, b in encoding.offsets)
        section_words = [None if w is None else w + words_before for w in encoding.word_ids]
        word_ids.extend(section_words)
        words_before = 1 + max(
            (w for w in section_words if w is not None), default=words_before - 1
        )
        start = end
    return Tokens(offsets, word_ids)


def chunk_spans(encoding: Tokens, text_len: int, chunk_tokens: int) -> list[tuple[int, int]]:
    """Character spans of overlapping windows of at most `chunk_tokens` tokens.

    Windows are balanced (a 230-token text becomes two of ~125, not 200 + 30), end and start on
    word boundaries (never inside a WordPiece word) and overlap by about an eighth, so a fact
    straddling a cut is whole in at least one chunk.
    """
    n = len(encoding.offsets)
    if n <= chunk_tokens:
        return [(0, text_len)]
    offsets = encoding.offsets
    words = encoding.word_ids
    overlap = chunk_tokens // 8
    count = -(-(n - overlap) // (chunk_tokens - overlap))
    width = min(chunk_tokens, -(-(n + (count - 1) * overlap) // count))

    def inside_word(i: int) -> bool:
        return 0 < i < n and words[i] is not None and words[i] == words[i - 1]

    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        end = min(start + width, n)
        while end < n and end > start + 1 and inside_word(end):
            end -= 1
        spans.append((offsets[start][0], offsets[end - 1][1]))
        if end >= n:
            return spans
        nxt = max(end - overlap, start + 1)
        while nxt < end and inside_word(nxt):
            nxt += 1
        start = nxt
