"""Ingestion of every supported layout, ids and dedup, chunking, and refusal of bad input."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from leadline.errors import ConfigError, IngestError
from leadline.tools.search.base import content_id
from leadline.tools.search.ingest import ingest
from leadline.tools.search.minilm import load_tokenizer
from tests.tools.search.conftest import MakeCorpus, write
from tests.tools.search.test_streaming import ListSink

IRCOT = {
    "question_id": "q1",
    "question_text": "Who wrote the song?",
    "contexts": [
        {
            "id": "0",
            "title": "Song A",
            "paragraph_text": "Song A was written by Ann.  It charted.",
            "is_supporting": True,
        },
        {
            "id": "1",
            "title": "Ann",
            "paragraph_text": "Ann is a songwriter from Oslo.",
            "is_supporting": True,
        },
    ],
}
OFFICIAL = [
    {
        "_id": "q1",
        "question": "Who wrote the song?",
        "answer": "Ann",
        "supporting_facts": [["Song A", 0]],
        # Same paragraph as IRCOT's first context, in the official sentence layout.
        "context": [
            ["Song A", ["Song A was written by Ann.", " It charted."]],
            ["Other", ["Something else entirely."]],
        ],
    }
]


async def test_each_layout(tmp_path: Path, make_corpus: MakeCorpus) -> None:
    docs = tmp_path / "docs"
    write(docs / "notes.md", "# Tides\n\nTides are caused by the Moon's gravity.\n")
    write(docs / "plain.txt", "Basalt is a volcanic rock.")
    write(docs / "sub" / "deep.markdown", "Octopuses have three hearts.")
    write(docs / ".hidden" / "skip.txt", "never read")
    write(docs / "ignored.csv", "a,b")
    generic = write(
        tmp_path / "generic.jsonl",
        '{"id": "g1", "title": "Kiwi", "text": "Kiwi birds cannot fly."}\n\n'
        '{"text": "An untitled fact about comets."}\n',
    )
    ircot = write(tmp_path / "ircot.jsonl", json.dumps(IRCOT) + "\n" + json.dumps(IRCOT) + "\n")
    official = write(tmp_path / "official.json", json.dumps(OFFICIAL))
    corpus = make_corpus("layouts", mode="bm25")

    summary = ingest([docs, generic, ircot, official], corpus, progress=False)
    # 3 docs + 2 generic + 4 IRCoT (2 repeated) + 2 official (1 same as IRCoT's first).
    assert (summary.files, summary.documents) == (6, 11)
    assert (summary.passages, summary.added, summary.duplicates) == (8, 8, 3)
    assert corpus.count() == 8

    tides = (await corpus.search("moon gravity", 1))[0]
    assert (tides.title, tides.source) == ("Tides", str(docs / "notes.md"))
    assert (await corpus.search("basalt", 1))[0].title == "plain"
    kiwi = corpus.get("g1")
    assert kiwi is not None and kiwi.source == f"{generic}:1"
    song = corpus.get(content_id("Song A", "Song A was written by Ann. It charted."))
    assert song is not None and song.source == f"{ircot}:1"
    other = (await corpus.search("something else entirely", 1))[0]
    assert other.source == f"{official}#0"

    again = ingest([docs, generic, ircot, official], corpus, progress=False)
    assert (again.added, again.skipped) == (0, 8)
    assert corpus.count() == 8


def test_malformed_jsonl_names_the_line_and_writes_nothing(
    tmp_path: Path, make_corpus: MakeCorpus
) -> None:
    good = write(tmp_path / "a.jsonl", '{"text": "fine"}\n')
    bad = write(tmp_path / "b.jsonl", '{"text": "ok"}\n{"text": "ok too"}\n{"text": broken\n')
    corpus = make_corpus("strict", fast=True)
    with pytest.raises(IngestError, match=r"b\.jsonl:3: invalid JSON"):
        ingest([good, bad], corpus, progress=False)
    assert corpus.count() == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.jsonl", '{"title": "no text"}\n', r"x\.jsonl:1: unknown record layout"),
        ("x.jsonl", '{"text": 5}\n', r"x\.jsonl:1: 'text' must be a string"),
        ("x.jsonl", "[1, 2]\n", r"x\.jsonl:1: expected a JSON object"),
        (
            "x.jsonl",
            '{"contexts": [{"title": "T"}]}\n',
            r"x\.jsonl:1: contexts\[0\]: 'paragraph_text' must be a string \(missing\)",
        ),
        ("x.json", '{"context": []}', r"x\.json: expected a JSON list"),
        ("x.json", '[{"context": [["T", "not a list"]]}]', r"x\.json: item 0: context\[0\]"),
        ("x.json", '[\n{"text": "a"},\n{oops}\n]', r"x\.json:3: invalid JSON"),
        ("x.jsonl", '{"id": true, "text": "a"}\n', r"'id' must be a string or integer"),
        (
            "x.jsonl",
            '{"id": "d", "text": "a"}\n{"id": "d", "text": "b"}\n',
            r"x\.jsonl:2: id 'd' was already used for different text at .*x\.jsonl:1",
        ),
    ],
)
def test_bad_inputs(
    tmp_path: Path, make_corpus: MakeCorpus, name: str, content: str, message: str
) -> None:
    path = write(tmp_path / name, content)
    corpus = make_corpus("bad", fast=True)
    with pytest.raises(IngestError, match=message):
        ingest([path], corpus, progress=False)
    assert corpus.count() == 0


def test_bad_paths_and_options(tmp_path: Path, make_corpus: MakeCorpus) -> None:
    corpus = make_corpus("paths", fast=True)
    with pytest.raises(IngestError, match="no such file"):
        ingest([tmp_path / "missing"], corpus, progress=False)
    with pytest.raises(IngestError, match="unsupported file type '.pdf'"):
        ingest([write(tmp_path / "a.pdf", "x")], corpus, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(IngestError, match="no .* files found"):
        ingest([tmp_path / "empty"], corpus, progress=False)
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(IngestError, match=r"latin1\.txt: not UTF-8"):
        ingest([tmp_path / "latin1.txt"], corpus, progress=False)
    with pytest.raises(ConfigError, match="chunk_tokens"):
        ingest([tmp_path], corpus, chunk_tokens=1000, progress=False)


def test_empty_documents_are_skipped(tmp_path: Path, make_corpus: MakeCorpus) -> None:
    path = write(tmp_path / "e.jsonl", '{"text": "   "}\n{"text": "real"}\n')
    summary = ingest(path, make_corpus("empties", fast=True), progress=False)
    assert (summary.passages, summary.added, summary.skipped) == (1, 1, 1)


async def test_long_documents_are_chunked(tmp_path: Path, make_corpus: MakeCorpus) -> None:
    sentences = [f"Sentence {i} mentions the keyword item{i} once." for i in range(120)]
    path = write(tmp_path / "long.txt", " ".join(sentences))
    corpus = make_corpus("chunks", mode="bm25", fast=True)
    summary = ingest([path], corpus, chunk_tokens=64, progress=False)
    assert summary.documents == 1 and summary.passages > 10
    tokenizer = load_tokenizer(False)
    base = content_id("long", path.read_text())
    for i in range(summary.passages):
        chunk = corpus.get(f"{base}#{i}")
        assert chunk is not None and chunk.title == "long"
        assert len(tokenizer.encode(chunk.text, add_special_tokens=False).ids) <= 64
    hit = (await corpus.search("item77", 1))[0]
    assert "item77" in hit.text and hit.id.startswith(base + "#")
    again = ingest([path], corpus, chunk_tokens=64, progress=False)
    assert again.added == 0


def test_chunks_respect_words_and_cover_the_text(tmp_path: Path) -> None:
    text = " ".join(f"w{i} antidisestablishmentarianism" for i in range(100))
    sink = ListSink()
    ingest([write(tmp_path / "words.txt", text)], sink, chunk_tokens=50, progress=False)
    chunks = [p.text for p in sink.passages]
    assert len(chunks) > 2
    assert text.startswith(chunks[0]) and text.endswith(chunks[-1])
    start, end = -1, 0
    for chunk in chunks:
        previous_end = end
        start = text.index(chunk, start + 1)
        end = start + len(chunk)
        assert start == 0 or text[start - 1] == " "  # never starts inside a word
        assert end == len(text) or text[end] == " "  # never ends inside one
        assert start < previous_end or start == 0  # windows overlap


def test_shared_hotpotqa_files(hotpotqa_dir: Path, tmp_path: Path, make_corpus: MakeCorpus) -> None:
    """Both shared files parse in full; the official one is ingested in full, and dev300
    questions it also holds add (almost) nothing, because their paragraphs share ids."""
    dev300_path = hotpotqa_dir / "dev300.jsonl"
    official_path = hotpotqa_dir / "hotpot_dev_distractor_first100.json"
    sink = ListSink()
    pooled = ingest([dev300_path], sink, progress=False)
    assert len({p.id for p in sink.passages}) == pooled.passages > 2900
    assert pooled.duplicates > 0 and pooled.skipped == 0

    corpus = make_corpus("hotpotqa", mode="bm25", fast=True)
    official = json.loads(official_path.read_text(encoding="utf-8"))
    summary = ingest([official_path], corpus, progress=False)
    assert summary.documents == sum(len(q["context"]) for q in official)
    assert corpus.count() == summary.added == summary.passages

    ids = {q["_id"] for q in official}
    lines = [
        line
        for line in dev300_path.read_text(encoding="utf-8").splitlines()
        if json.loads(line)["question_id"] in ids
    ][:20]
    subset = write(tmp_path / "dev300_subset.jsonl", "\n".join(lines) + "\n")
    again = ingest([subset], corpus, progress=False)
    assert again.skipped >= 0.9 * again.passages
    first = json.loads(lines[0])
    gold = next(c for c in first["contexts"] if c["is_supporting"])
    hits = corpus.search_sync(gold["title"] + " " + gold["paragraph_text"][:200], 3)
    assert content_id(gold["title"], gold["paragraph_text"]) in {p.id.split("#")[0] for p in hits}


def test_package_exports_the_function_not_the_submodule() -> None:
    module = importlib.import_module("leadline.tools.search.ingest")  # already imported above
    from leadline.tools.search import ingest as exported

    assert exported is module.ingest
