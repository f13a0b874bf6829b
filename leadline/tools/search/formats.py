"""Readers for the corpus layouts leadline ingests, each turning a file into `Document`s.

Layouts: plain-text and Markdown files (one document each); JSONL of `{id?, title?, text}`;
HotpotQA in the IRCoT JSONL layout (`question_id`, `contexts[{title, paragraph_text}]`); the
official HotpotQA JSON list (`context: [[title, [sentences]]]`, sentences joined as the
official scripts do); and a JSON list of `{id?, title?, text}`. The layout is told apart by
extension and by the keys present, per line, so a typo'd key is an error rather than a silently
empty corpus. Readers only parse and validate, and stream (reading.py): a file is never held
whole. Ingest reads every file through them once to check it before anything is written (see
ingest.py), which is what keeps a bad line from leaving a half-ingested corpus.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leadline.errors import IngestError
from leadline.tools.search.reading import (
    Meter,
    read_json_list,
    read_lines,
    read_pieces,
    stripped,
)

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown"})
JSON_SUFFIXES = frozenset({".jsonl", ".json"})
SUFFIXES = TEXT_SUFFIXES | JSON_SUFFIXES


@dataclass(frozen=True)
class Document:
    """A unit of text before chunking; `id` only when the input named one.

    A JSON record's text is held (`text`); a text file's is not: `path` names the file and
    `pieces` streams it, so a file of any size is read a piece at a time.
    """

    title: str
    text: str
    source: str
    id: str | None = None
    path: Path | None = None

    def pieces(self, meter: Meter | None = None) -> Iterator[str]:
        """The text in pieces (a text file stripped, as a whole read would be)."""
        if self.path is not None:
            return stripped(read_pieces(self.path, meter))
        return iter((self.text,) if self.text else ())

    @property
    def max_chars(self) -> int:
        """An upper bound on the text's length, known without reading it."""
        return len(self.text) if self.path is None else self.path.stat().st_size

    def read_text(self) -> str:
        """The whole text (for callers that hold small inputs anyway)."""
        return "".join(self.pieces())


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files to read: given files as-is, folders walked (sorted) for supported, non-hidden files."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and p.suffix.lower() in SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                raise IngestError(
                    f"{path}: unsupported file type {path.suffix or '(none)'!r}; expected one of "
                    + ", ".join(sorted(SUFFIXES))
                )
            files.append(path)
        else:
            raise IngestError(f"{path}: no such file or directory")
    return files


def read_documents(path: Path, meter: Meter | None = None) -> Iterator[Document]:
    """The documents in one file, read as they are needed; IngestError naming the file (and
    line) on malformed input. A text file's document streams its text when that is read."""
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        yield _text_document(path)
    elif suffix == ".jsonl":
        for where, obj in jsonl_values(path, read_lines(path, meter)):
            yield from _record(obj, where, where)
    else:
        for i, obj in enumerate(read_json_list(path, meter)):
            yield from _record(obj, f"{path}: item {i}", f"{path}#{i}")


def read_file(path: Path) -> list[Document]:
    """All documents in one file, at once (for small inputs)."""
    return list(read_documents(path))


def _text_document(path: Path) -> Document:
    title = path.stem
    if path.suffix.lower() != ".txt":
        for line in read_lines(path):
            if line.startswith("# "):
                title = line[2:].strip() or title
                break
    return Document(title=title, text="", source=str(path), path=path)


def jsonl_values(path: Path, lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """Each non-blank line's JSON value with its `file:line`; a bad line is an IngestError."""
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as exc:
            raise IngestError(f"{where}: invalid JSON ({exc.msg}, column {exc.colno})") from exc


def _record(obj: Any, where: str, source: str) -> Iterator[Document]:
    """One JSON record of any supported layout; `where` names it in errors."""
    if not isinstance(obj, dict):
        raise IngestError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if "contexts" in obj:
        yield from _ircot(obj, where, source)
    elif "context" in obj:
        yield from _official(obj, where, source)
    elif "text" in obj:
        text = _string(obj, "text", where)
        title = _string(obj, "title", where) if obj.get("title") is not None else ""
        pid = obj.get("id")
        if pid is not None and (isinstance(pid, bool) or not isinstance(pid, str | int)):
            raise IngestError(f"{where}: 'id' must be a string or integer")
        yield Document(title, text, source, None if pid in (None, "") else str(pid))
    else:
        raise IngestError(
            f"{where}: unknown record layout (keys: {', '.join(sorted(obj)) or 'none'}); "
            "expected 'text', HotpotQA 'contexts' (IRCoT) or 'context' (official)"
        )


def _ircot(obj: dict[str, Any], where: str, source: str) -> Iterator[Document]:
    contexts = obj["contexts"]
    if not isinstance(contexts, list):
        raise IngestError(f"{where}: 'contexts' must be a list")
    for j, ctx in enumerate(contexts):
        at = f"{where}: contexts[{j}]"
        if not isinstance(ctx, dict):
            raise IngestError(f"{at}: expected an object with 'title' and 'paragraph_text'")
        yield Document(_string(ctx, "title", at), _string(ctx, "paragraph_text", at), source)


def _official(obj: dict[str, Any], where: str, source: str) -> Iterator[Document]:
    context = obj["context"]
    if not isinstance(context, list):
        raise IngestError(f"{where}: 'context' must be a list of [title, sentences]")
    for j, entry in enumerate(context):
        at = f"{where}: context[{j}]"
        if (
            not isinstance(entry, list)
            or len(entry) != 2
            or not isinstance(entry[0], str)
            or not isinstance(entry[1], list)
            or not all(isinstance(s, str) for s in entry[1])
        ):
            raise IngestError(f"{at}: expected [title, [sentence, ...]]")
        yield Document(entry[0], "".join(entry[1]), source)


def _string(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        got = "missing" if key not in obj else type(value).__name__
        raise IngestError(f"{where}: '{key}' must be a string ({got})")
    return value
