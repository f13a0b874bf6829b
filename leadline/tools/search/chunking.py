"""Cutting a document into passages of at most N embedding tokens, one section at a time.

MiniLM reads at most 256 tokens and silently ignores the rest, so a long document becomes
overlapping windows of the embedding tokenizer's tokens. The text is tokenized in sections of
about SECTION_CHARS cut at spaces, for two reasons: the tokenizer's memory and time grow faster
than its input (measured: one 5 MB string took 654 MB and 110 s; the same text in 100,000-
character sections, 76 MB and 33 s, on a busy 2-core VM), and the chunker then holds only the
sections its current window lies in, whatever the document's size. Cutting at a space moves no
token, so passages and ids are those of tokenizing the whole text at once. Windows are balanced,
which needs the document's token count before the first cut: a document of one section is read
and tokenized once, a longer one twice (counting, then cutting).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from leadline.errors import IngestError
from leadline.tools.search.base import ContentHash, Passage
from leadline.tools.search.formats import Document
from leadline.tools.search.reading import Meter

SECTION_CHARS = 50_000


@dataclass(frozen=True)
class Section:
    """One section's tokens: spans in the section's text, and whether each token continues the
    word of the one before (a window must not start or end there)."""

    start: int  # where the section's text begins in the document
    text: str
    offsets: list[tuple[int, int]]
    joins: list[bool]

    def __len__(self) -> int:
        return len(self.offsets)


def document_passages(
    doc: Document, tokenizer: Any, chunk_tokens: int, meter: Meter | None = None
) -> Iterator[Passage]:
    """The document's passages in order (none if it is empty); `meter` counts the bytes of the
    read that produces them."""
    digest = ContentHash(doc.title)
    if doc.max_chars <= SECTION_CHARS:
        held = list(encode_sections(tokenizer, digest.through(doc.pieces(meter))))
        count = sum(len(s) for s in held)
        sections: Iterator[Section] = iter(held)
    else:
        count = count_tokens(tokenizer, digest.through(doc.pieces()))
        sections = encode_sections(tokenizer, doc.pieces(meter))
    if digest.empty:
        return
    base = doc.id or digest.id()
    title = doc.title.strip()
    if count <= chunk_tokens:
        yield Passage(base, title, "".join(s.text for s in sections).strip(), doc.source)
        return
    tokens = TokenWindow(sections, doc.source)
    for i, (start, end) in enumerate(chunk_spans(tokens, count, chunk_tokens)):
        yield Passage(f"{base}#{i}", title, tokens.text(start, end).strip(), doc.source)


def split_sections(pieces: Iterable[str]) -> Iterator[str]:
    """The text cut into sections of at most SECTION_CHARS, each (but the last) ending at the
    last space of its second half, or hard at SECTION_CHARS when that half has none."""
    buf, start = "", 0
    for piece in pieces:
        buf = buf[start:] + piece if start < len(buf) else piece
        start = 0
        while len(buf) - start > SECTION_CHARS:
            cut = buf.rfind(" ", start + SECTION_CHARS // 2, start + SECTION_CHARS)
            end = cut + 1 if cut >= 0 else start + SECTION_CHARS
            yield buf[start:end]
            start = end
    if start < len(buf):
        yield buf[start:]


def count_tokens(tokenizer: Any, pieces: Iterable[str]) -> int:
    """How many tokens the text has, a section at a time."""
    return sum(len(tokenizer.encode(s, add_special_tokens=False)) for s in split_sections(pieces))


def encode_sections(tokenizer: Any, pieces: Iterable[str]) -> Iterator[Section]:
    """Each section of the text with its tokens."""
    start = 0
    for text in split_sections(pieces):
        encoding = tokenizer.encode(text, add_special_tokens=False)
        words = encoding.word_ids
        joins = [i > 0 and w is not None and w == words[i - 1] for i, w in enumerate(words)]
        yield Section(start, text, encoding.offsets, joins)
        start += len(text)


class TokenWindow:
    """A document's tokens by index, pulled from its sections as the chunker reaches them.

    Sections wholly before the current window are dropped (`forget_before`), so only the one or
    two the window lies in are held, with their text.
    """

    def __init__(self, sections: Iterator[Section], source: str) -> None:
        self._pending = sections
        self._source = source  # for the error if the document changed since it was counted
        self._held: deque[Section] = deque()
        self._first = 0  # index of the first token of the first held section
        self._end = 0  # one past the last token held

    def span(self, i: int) -> tuple[int, int]:
        """Token `i`'s character span in the document."""
        section, j = self._locate(i)
        start, end = section.offsets[j]
        return section.start + start, section.start + end

    def joins(self, i: int) -> bool:
        """Whether token `i` continues the word of token `i - 1`."""
        section, j = self._locate(i)
        return section.joins[j]

    def text(self, start: int, end: int) -> str:
        """The document's characters `start:end`, within the held sections."""
        return "".join(s.text[max(start - s.start, 0) : max(end - s.start, 0)] for s in self._held)

    def forget_before(self, i: int) -> None:
        """Drop the sections whose tokens all come before token `i`."""
        while self._held and self._first + len(self._held[0]) <= i:
            self._first += len(self._held.popleft())

    def _locate(self, i: int) -> tuple[Section, int]:
        while i >= self._end:
            section = next(self._pending, None)
            if section is None:
                raise IngestError(f"{self._source}: changed while it was being ingested")
            self._held.append(section)
            self._end += len(section)
        first = self._first
        for section in self._held:
            if i < first + len(section):
                return section, i - first
            first += len(section)
        raise IndexError(i)  # before the window: the chunker never looks back


def chunk_spans(tokens: TokenWindow, count: int, chunk_tokens: int) -> Iterator[tuple[int, int]]:
    """Character spans of overlapping windows of at most `chunk_tokens` of `count` tokens
    (more than `chunk_tokens`). Read each span's text before asking for the next: the window
    forgets what lies before it as it moves on.

    Windows are balanced (a 230-token text becomes two of ~125, not 200 + 30), end and start on
    word boundaries (never inside a WordPiece word) and overlap by about an eighth, so a fact
    straddling a cut is whole in at least one chunk.
    """
    overlap = chunk_tokens // 8
    windows = -(-(count - overlap) // (chunk_tokens - overlap))
    width = min(chunk_tokens, -(-(count + (windows - 1) * overlap) // windows))
    start = 0
    while True:
        tokens.forget_before(start)
        end = min(start + width, count)
        while end < count and end > start + 1 and tokens.joins(end):
            end -= 1
        yield tokens.span(start)[0], tokens.span(end - 1)[1]
        if end >= count:
            return
        nxt = max(end - overlap, start + 1)
        while nxt < end and tokens.joins(nxt):
            nxt += 1
        start = nxt
