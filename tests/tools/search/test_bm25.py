"""The BM25 half on its own: tokenisation, ranking, atomic save and staleness checks."""

from __future__ import annotations

import json
from pathlib import Path

from leadline.tools.search.bm25 import MANIFEST, BM25Index, tokenize


def test_tokenize_folds_case_plurals_and_stopwords() -> None:
    assert tokenize("The Cities of Brazil's rivers, and a bus!") == [
        "city",
        "brazil",
        "river",
        "bus",
    ]
    assert tokenize("Queries query horses horse") == ["query", "query", "horse", "horse"]
    assert tokenize("a I") == []


def test_ranking_and_unknown_words() -> None:
    index = BM25Index.build(["a", "b", "c"], ["red apples and pears", "green apples", "blue sky"])
    assert [pid for pid, _ in index.search("apple", 5)] == ["b", "a"]
    assert index.search("zebra", 5) == [] and index.search("the", 5) == []
    assert BM25Index.build([], []).search("apple", 3) == []


def test_save_load_and_staleness(tmp_path: Path) -> None:
    index = BM25Index.build(["a", "b"], ["one fish", "two fish"])
    index.save(tmp_path)
    index.save(tmp_path)  # the second build replaces the first; old directories are removed
    assert len(list(tmp_path.glob("index-*"))) == 1
    loaded = BM25Index.load(tmp_path, expected_count=2)
    assert loaded is not None and loaded.search("two", 1) == index.search("two", 1)
    assert BM25Index.load(tmp_path, expected_count=3) is None  # someone else added passages
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    (tmp_path / MANIFEST).write_text(json.dumps({**manifest, "tokenizer": -1}))
    assert BM25Index.load(tmp_path, expected_count=2) is None  # built by another tokenizer
    (tmp_path / MANIFEST).write_text("{broken")
    assert BM25Index.load(tmp_path, expected_count=2) is None
    assert BM25Index.load(tmp_path / "missing", expected_count=0) is None
