"""Streaming file readers for ingestion: text in pieces, lines, and the items of a JSON list.

Nothing here holds a whole file, so ingest memory does not grow with file size. UTF-8 is decoded
incrementally with universal newlines (what `Path.read_text` does, so offsets and ids match a
whole-file read), a byte that is not UTF-8 is reported with its offset in the file, and every
read reports the bytes it consumed to an optional `meter`, so progress can be shown over bytes.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn

from leadline.errors import IngestError

PIECE_BYTES = 1 << 20
Meter = Callable[[int], None]  # called with the number of bytes just read
_JSON_NON_SPACE = re.compile(r"[^ \t\n\r]")
_DECODER = json.JSONDecoder()


def read_pieces(path: Path, meter: Meter | None = None) -> Iterator[str]:
    """The file's text in pieces of about PIECE_BYTES; IngestError on bytes that are not UTF-8."""
    utf8 = codecs.getincrementaldecoder("utf-8")()
    decoder = io.IncrementalNewlineDecoder(utf8, translate=True)
    offset = 0
    try:
        with path.open("rb") as fh:
            while True:
                chunk = fh.read(PIECE_BYTES)
                pending = len(utf8.getstate()[0])  # bytes of a character split between reads
                try:
                    text = decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    at = offset - pending + exc.start
                    raise IngestError(
                        f"{path}: not UTF-8 text ({exc.reason} at byte {at})"
                    ) from exc
                offset += len(chunk)
                if meter is not None and chunk:
                    meter(len(chunk))
                if text:
                    yield text
                if not chunk:
                    return
    except OSError as exc:
        raise IngestError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def stripped(pieces: Iterable[str]) -> Iterator[str]:
    """The pieces of `"".join(pieces).strip()`, without joining them."""
    started = False
    held: list[str] = []  # whitespace that is only kept if more text follows
    for piece in pieces:
        if not started:
            piece = piece.lstrip()
            started = bool(piece)
        body = piece.rstrip()
        if body:
            yield "".join(held) + body if held else body
            held = []
        held.append(piece[len(body) :])


def read_lines(path: Path, meter: Meter | None = None) -> Iterator[str]:
    """The file's lines without their ends (split at newlines after translation). `meter`
    counts each line's bytes as it is handed out: progress follows the lines used, not the
    piece read ahead."""
    newline = 0  # the newline before a line is counted with it: a last line may have none
    for line in _split_lines(read_pieces(path)):
        if meter is not None:
            meter(newline + len(line.encode("utf-8")))
            newline = 1
        yield line


def _split_lines(pieces: Iterable[str]) -> Iterator[str]:
    head: list[str] = []  # the unfinished line, in parts, so a long line is joined only once
    for piece in pieces:
        parts = piece.split("\n")
        if len(parts) > 1:
            head.append(parts[0])
            yield "".join(head)
            yield from parts[1:-1]
            head = []
        head.append(parts[-1])
    tail = "".join(head)
    if tail:
        yield tail


def read_json_list(path: Path, meter: Meter | None = None) -> Iterator[Any]:
    """The items of a file holding one JSON list, parsed one at a time.

    IngestError with the file's line and column for invalid JSON, and naming the type when the
    file holds valid JSON that is not a list. `meter` counts each item's bytes as it is handed
    out.
    """
    return _JsonList(path, read_pieces(path), meter).items()


class _JsonList:
    """An incremental parser of one JSON list: a buffer that is refilled from the file and
    trimmed behind each item, with the lines and columns trimmed counted for error messages."""

    def __init__(self, path: Path, pieces: Iterator[str], meter: Meter | None) -> None:
        self.path = path
        self._pieces = pieces
        self._meter = meter
        self._buf = ""
        self._pos = 0
        self._trimmed = 0  # characters trimmed from the buffer's front so far
        self._lines_before = 0  # newlines in the text trimmed from the buffer
        self._column_before = 0  # characters of the buffer's first line that were trimmed
        self._eof = False

    def items(self) -> Iterator[Any]:
        if self._next_char() != "[":
            value = self._value()  # an invalid document raises here; a valid one is no list
            raise IngestError(
                f"{self.path}: expected a JSON list of records, got {type(value).__name__}"
            )
        self._pos += 1
        if self._next_char() == "]":
            self._pos += 1
        else:
            while True:
                if self._next_char() in ("]", ""):
                    self._fail("Expecting value")
                start = self._trimmed + self._pos
                value = self._value()
                if self._meter is not None:
                    item = self._buf[start - self._trimmed : self._pos]
                    self._meter(len(item.encode("utf-8")))
                yield value
                char = self._next_char()
                self._pos += 1
                if char == "]":
                    break
                if char != ",":
                    self._pos -= 1
                    self._fail("Expecting ',' delimiter")
        if self._next_char():
            self._fail("Extra data")

    def _next_char(self) -> str:
        """The next non-space character, left at the read position ("" at the end)."""
        while True:
            found = _JSON_NON_SPACE.search(self._buf, self._pos)
            if found:
                self._pos = found.start()
                return self._buf[self._pos]
            self._pos = len(self._buf)
            if not self._read(1):
                return ""

    def _value(self) -> Any:
        """The JSON value at the read position, reading on until it is whole."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buf, self._pos)
                if end < len(self._buf) or self._eof:  # a number may go on in the next piece
                    self._pos = end
                    return value
            except json.JSONDecodeError as exc:
                if self._eof:
                    raise self._error(exc) from exc
            # Double what is buffered: a large item is re-parsed a few times, not once per piece.
            self._read(max(1, 2 * (len(self._buf) - self._pos)))

    def _read(self, at_least: int) -> bool:
        """Trim what was parsed and append at least `at_least` more characters (less at the
        end of the file); False when nothing was left to read."""
        self._trim()
        parts, size = [self._buf], 0
        while size < at_least:
            piece = next(self._pieces, None)
            if piece is None:
                self._eof = True
                break
            parts.append(piece)
            size += len(piece)
        self._buf = "".join(parts)
        return size > 0

    def _trim(self) -> None:
        done = self._buf[: self._pos]
        newlines = done.count("\n")
        if newlines:
            self._lines_before += newlines
            self._column_before = len(done) - done.rfind("\n") - 1
        else:
            self._column_before += len(done)
        self._buf = self._buf[self._pos :]
        self._trimmed += self._pos
        self._pos = 0

    def _fail(self, message: str) -> NoReturn:
        raise self._error(json.JSONDecodeError(message, self._buf, self._pos))

    def _error(self, exc: json.JSONDecodeError) -> IngestError:
        line = self._lines_before + exc.lineno
        column = exc.colno + (self._column_before if exc.lineno == 1 else 0)
        return IngestError(f"{self.path}:{line}: invalid JSON ({exc.msg}, column {column})")
