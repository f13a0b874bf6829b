"""Ingestion streams: readers that never hold a file, a chunker that holds a section or two,
passages written in batches, progress over bytes and passages, and a BM25 index built from term
counts. Each streaming piece is checked against what reading everything at once gives."""

from __future__ import annotations

import importlib
import json
import random
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np
import pytest

from leadline.errors import IngestError
from leadline.tools.search import bm25, chunking, reading
from leadline.tools.search.base import ContentHash, Passage, content_id
from leadline.tools.search.bm25 import BM25Builder, tokenize
from leadline.tools.search.chunking import TokenWindow, encode_sections, split_sections
from leadline.tools.search.formats import Document
from leadline.tools.search.ingest import IngestProgress, ingest
from leadline.tools.search.minilm import load_tokenizer
from leadline.tools.search.reading import read_json_list, read_lines, read_pieces, stripped
from tests.tools.search.conftest import write
from tests.tools.search.whole_text_chunker import whole_text_passages

ingest_module = importlib.import_module("leadline.tools.search.ingest")  # the package's
# `ingest` attribute is the function


class ListSink:
    """A PassageSink that keeps what it is given: passages, batch sizes, index syncs."""

    collection = "list"

    def __init__(self) -> None:
        self.passages: list[Passage] = []
        self.batches: list[int] = []
        self.synced: list[bool] = []

    def store(self, passages: Sequence[Passage]) -> int:
        known = {p.id for p in self.passages}
        new = [p for p in passages if p.id not in known]
        self.passages.extend(new)
        self.batches.append(len(passages))
        return len(new)

    def sync_index(self, changed: bool) -> None:
        self.synced.append(changed)


def prose(words: int, seed: int = 3) -> str:
    """Text with long words, accents, punctuation and paragraph breaks: WordPiece splits words
    into several tokens, so window edges must be moved off word interiors."""
    rng = random.Random(seed)
    vocab = ["antidisestablishmentarianism", "naïve", "café", "Zürich", "river,", "the", "of"]
    vocab += ["1848.", "Ōsaka", "station", "(film)", "x", "Hotpot-QA", "—", "don't"]
    out = []
    for i in range(words):
        out.append(rng.choice(vocab))
        if i % 97 == 96:
            out.append("\n\n")
    return " ".join(out)


# --- chunking: identical to the whole-text chunker -------------------------------------------


@pytest.mark.parametrize("section_chars", [700, 3_000, chunking.SECTION_CHARS])
def test_passages_match_the_whole_text_chunker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section_chars: int
) -> None:
    """Documents cut into many sections, in every layout, give the passages, ids and order of
    tokenizing each document whole."""
    monkeypatch.setattr(chunking, "SECTION_CHARS", section_chars)
    monkeypatch.setattr(reading, "PIECE_BYTES", 1_000)  # pieces end mid-word and mid-character
    long_text = prose(14_000)  # ~120,000 characters: several sections even at the default
    records = [
        {"id": "caller", "title": "Given", "text": prose(900, seed=5)},
        {"title": "Short", "text": "A short paragraph."},
        {"title": "Spaced", "text": "  padded   text\n"},
        {"title": "Empty", "text": "   "},
        {"title": "Short", "text": "A  short paragraph. "},  # the same passage: a repeat
    ]
    text_file = write(tmp_path / "long.txt", "\n  " + long_text + "  \n")
    md_file = write(tmp_path / "notes.md", "Intro.\n# Heading  \n" + prose(400, seed=9))
    jsonl = write(tmp_path / "r.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    sink = ListSink()
    ingest([text_file, md_file, jsonl], sink, chunk_tokens=60, progress=False)

    md_text = md_file.read_text().strip()
    expected = whole_text_passages(
        [("long", text_file.read_text().strip(), str(text_file), None)]
        + [("Heading", md_text, str(md_file), None)]
        + [(r["title"], r["text"], f"{jsonl}:{i}", r.get("id")) for i, r in enumerate(records, 1)],
        chunk_tokens=60,
    )
    assert len(expected) > 200
    assert sink.passages == expected


def test_windows_cross_section_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    """A window that spans a cut between sections holds text from both, as one passage."""
    monkeypatch.setattr(chunking, "SECTION_CHARS", 500)
    text = prose(2_000)
    cuts, at = [], 0
    for section in split_sections([text]):
        at += len(section)
        cuts.append(at)
    doc = Document("T", text, "src")
    passages = list(chunking.document_passages(doc, load_tokenizer(False), 50))
    spans, at = [], 0
    for p in passages:
        start = text.index(p.text, at)
        spans.append((start, start + len(p.text)))
        at = start + 1
    crossing = [c for c in cuts[:-1] if any(a < c < b for a, b in spans)]
    assert len(crossing) >= len(cuts) // 2
    assert [p.text for p in passages] == [
        p.text for p in whole_text_passages([("T", text, "src", None)], 50)
    ]


def test_the_chunker_holds_at_most_the_sections_its_window_spans(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(chunking, "SECTION_CHARS", 400)
    sections = list(encode_sections(load_tokenizer(False), [prose(3_000)]))
    assert len(sections) > 40
    window = TokenWindow(iter(sections), "src")
    held = []
    count = sum(len(s) for s in sections)
    for start, end in chunking.chunk_spans(window, count, 60):
        assert window.text(start, end)
        held.append(len(window._held))
    assert max(held) <= 3  # a 60-token window fits in at most three ~90-token sections


def test_a_file_that_changes_between_counting_and_cutting_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "PIECE_BYTES", 1_000)
    path = write(tmp_path / "big.txt", prose(12_000))
    doc = Document("big", "", str(path), path=path)
    passages = chunking.document_passages(doc, load_tokenizer(False), 60)
    next(passages)
    path.write_text("short now")
    with pytest.raises(IngestError, match="changed while it was being ingested"):
        list(passages)


# --- writing: batches and progress ----------------------------------------------------------


def test_passages_are_written_in_batches_with_progress_over_bytes_and_passages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "WRITE_BATCH", 16)
    monkeypatch.setattr(reading, "PIECE_BYTES", 4_096)
    big = write(tmp_path / "a.txt", prose(8_000))
    rows = [{"title": f"T{i}", "text": f"Fact number {i} about rivers."} for i in range(50)]
    jsonl = write(tmp_path / "b.jsonl", "".join(json.dumps(r) + "\n" for r in rows * 2))
    total = big.stat().st_size + jsonl.stat().st_size
    seen: list[IngestProgress] = []
    sink = ListSink()

    summary = ingest([big, jsonl], sink, chunk_tokens=60, progress=seen.append)

    assert sink.batches and max(sink.batches) <= 16 and len(sink.batches) > 5
    assert sink.synced == [True]
    checking = [p for p in seen if p.stage == "checking"]
    writing = [p for p in seen if p.stage == "writing"]
    assert checking and writing and seen.index(writing[0]) > seen.index(checking[-1])
    for stage in (checking, writing):
        done = [p.bytes_done for p in stage]
        assert done == sorted(done) and done[-1] == total and stage[0].bytes_total == total
        assert any(0 < d < big.stat().st_size for d in done)  # bytes move within a file
    assert [p.passages for p in writing] == sorted(p.passages for p in writing)
    assert any(0 < p.passages < summary.passages for p in writing)  # counted as they go
    assert (writing[-1].passages, writing[-1].added) == (summary.passages, summary.added)
    assert summary.duplicates == 50 and summary.added == len(sink.passages)


def test_the_bytes_shown_are_those_whose_passages_are_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not the bytes read ahead: a file read in one piece must not show as done while its
    passages still wait to be embedded."""
    monkeypatch.setattr(ingest_module, "WRITE_BATCH", 8)
    lines = [json.dumps({"title": f"T{i}", "text": f"Fact {i}, naïve."}) for i in range(40)]
    path = write(tmp_path / "r.jsonl", "\n".join(lines) + "\n")
    seen: list[IngestProgress] = []
    ingest([path], ListSink(), progress=seen.append)
    writing = [p for p in seen if p.stage == "writing"]
    assert [p.passages for p in writing] == [0, 8, 16, 24, 32, 40, 40]
    for p in writing[:-1]:
        assert p.bytes_done == len("\n".join(lines[: p.passages]).encode())
    assert writing[-1].bytes_done == path.stat().st_size


# --- readers ---------------------------------------------------------------------------------


def test_text_pieces_decode_like_read_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "PIECE_BYTES", 7)
    raw = "héllo\r\nwörld\rend\r\n€ and 𝄞 split across pieces\n" * 5
    path = tmp_path / "t.txt"
    path.write_bytes(raw.encode())
    counted: list[int] = []
    assert "".join(read_pieces(path, counted.append)) == path.read_text(encoding="utf-8")
    assert sum(counted) == path.stat().st_size
    assert list(read_lines(path)) == path.read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "bad.txt"
    bad.write_bytes(raw.encode() + b"ok \xff")
    at = len(raw.encode()) + 3
    with pytest.raises(IngestError, match=rf"not UTF-8 text \(.* at byte {at}\)"):
        list(read_pieces(bad))


def test_stripped_pieces_are_the_stripped_text() -> None:
    rng = random.Random(2)
    for _ in range(2_000):
        parts = ["a", " ", "\n", "b c", "\t "]
        text = "".join(rng.choice(parts) for _ in range(rng.randint(0, 12)))
        cuts = sorted(rng.sample(range(len(text) + 1), min(len(text) + 1, 4)))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        assert "".join(stripped(pieces)) == text.strip()


def test_content_hash_over_pieces_is_the_content_id() -> None:
    rng = random.Random(1)
    for _ in range(2_000):
        text = "".join(rng.choice(["a", "b", " ", "\n", "\u2028", "é", "  "]) for _ in range(20))
        cuts = sorted(rng.sample(range(len(text) + 1), 4))
        digest = ContentHash("Title ")
        for piece in (text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)):
            digest.update(piece)
        assert digest.id() == content_id(" Title", text)
        assert digest.empty == (not text.strip())


def test_json_list_items_stream_like_json_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "PIECE_BYTES", 5)
    items = [{"text": "a\n" * i, "n": 10**i, "f": 1.5e-3} for i in range(30)] + [123456789, "s"]
    for layout in (json.dumps(items), json.dumps(items, indent=2)):
        path = write(tmp_path / "l.json", layout)
        assert list(read_json_list(path)) == items
    assert list(read_json_list(write(tmp_path / "e.json", " [ ] \n"))) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[\n{"text": "a"},\n{oops}\n]', r"e\.json:3: invalid JSON \(Expecting property name"),
        ('[{"a": 1}\n  {"b": 2}]', r"e\.json:2: invalid JSON \(Expecting ',' delimiter, column 3"),
        ('[{"a": 1},]', r"e\.json:1: invalid JSON \(Expecting value, column 11"),
        ('[{"a": 1}', r"e\.json:1: invalid JSON \(Expecting ',' delimiter"),
        ('[{"a": 1}] x', r"e\.json:1: invalid JSON \(Extra data, column 12"),
        ("", r"e\.json:1: invalid JSON \(Expecting value, column 1"),
        ('{"context": []}', r"e\.json: expected a JSON list of records, got dict"),
        ('"text"', r"e\.json: expected a JSON list of records, got str"),
    ],
)
def test_json_list_errors_name_the_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, message: str
) -> None:
    monkeypatch.setattr(reading, "PIECE_BYTES", 3)
    path = write(tmp_path / "e.json", content)
    with pytest.raises(IngestError, match=message):
        list(read_json_list(path))


# --- BM25 from term counts ------------------------------------------------------------------


def test_bm25_builder_scores_exactly_as_bm25s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bm25, "SPILL_PAIRS", 50)  # many spilled blocks
    rng = random.Random(4)
    words = [f"w{i}" for i in range(300)] + ["river", "rivers", "city", "the"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 60))) for _ in range(400)]
    ids = [f"p{i}" for i in range(len(texts))]
    builder = BM25Builder()
    for pid, text in zip(ids, texts, strict=True):
        builder.add(pid, text)
    builder.add("p0", "a repeat of an id is ignored")
    built = builder.build()
    reference = bm25s.BM25()
    reference.index([tokenize(t) for t in texts], show_progress=False)
    for query in ["river city", "w1 w2 w3", "w299 rivers the", "nothing known here"]:
        tokens = tokenize(query)
        known = reference.get_tokens_ids(tokens)
        if not known:
            assert built.search(query, 5) == []
            continue
        expected = reference.get_scores(known)
        got = built._model.get_scores(built._model.get_tokens_ids(tokens))
        assert np.array_equal(got, expected), query
        assert built.search(query, 5)
    assert len(built) == len(ids)
