"""LocalCorpus on real embedded chromadb with the real offline MiniLM: modes, fusion, storage."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from leadline.config import load_settings
from leadline.errors import ConfigError
from leadline.tools.search import SearchBackend
from leadline.tools.search.base import Passage, content_id
from leadline.tools.search.corpus import LocalCorpus, rrf_fuse
from leadline.tools.search.embeddings import MiniLMEmbedding
from leadline.tools.search.minilm import EMBEDDING_DIM, embed_texts
from tests.tools.search.conftest import MakeCorpus

FACTS = [
    ("Eiffel Tower", "The Eiffel Tower is a wrought-iron lattice tower in Paris, France."),
    ("Mount Fuji", "Mount Fuji is the highest volcano in Japan, near Tokyo."),
    ("Photosynthesis", "Plants convert sunlight, water and carbon dioxide into sugar and oxygen."),
    ("Zyxwv Corporation", "Zyxwv Corporation manufactures left-handed teapots."),
    ("Great Barrier Reef", "The largest coral reef system lies off the coast of Queensland."),
]


def passages() -> list[Passage]:
    return [
        Passage(content_id(t, x), t, x, f"facts.jsonl:{i + 1}") for i, (t, x) in enumerate(FACTS)
    ]


@pytest.fixture
def corpus(make_corpus: MakeCorpus) -> LocalCorpus:
    c = make_corpus("facts")
    assert c.add(passages(), progress=False) == len(FACTS)
    return c


def test_embeddings_are_unit_length_and_topical() -> None:
    vectors = embed_texts(
        ["A man is eating food.", "A man eats a piece of bread.", "The stock market fell sharply."]
    )
    assert vectors.shape == (3, EMBEDDING_DIM)
    assert abs(float((vectors[0] ** 2).sum()) - 1.0) < 1e-4
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_embedding_never_touches_the_network(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    c = LocalCorpus.embedded(tmp_path, "offline", mode="dense")
    c.add(passages()[:2], progress=False)
    assert len(c.search_sync("Paris tower", 1)) == 1
    assert MiniLMEmbedding.name() == "leadline-minilm-l6-v2-int8"


async def test_modes_find_the_right_passage(corpus: LocalCorpus) -> None:
    assert isinstance(corpus, SearchBackend)
    for mode in ("bm25", "dense", "hybrid"):
        view = corpus.with_mode(mode)  # type: ignore[arg-type]
        hits = await view.search("Which volcano is the tallest in Japan?", 3)
        assert hits[0].title == "Mount Fuji", mode
        assert hits[0].backend == "local" and hits[0].source == "facts.jsonl:2"
        assert [p.score for p in hits] == sorted((p.score for p in hits), reverse=True)


async def test_bm25_finds_rare_names_dense_finds_paraphrases(corpus: LocalCorpus) -> None:
    lexical = await corpus.with_mode("bm25").search("Zyxwv", 2)
    assert [p.title for p in lexical] == ["Zyxwv Corporation"]  # unknown words score nothing
    dense = await corpus.with_mode("dense").search("how do green leaves make food from light", 1)
    assert dense[0].title == "Photosynthesis"
    hybrid = await corpus.search("Zyxwv teapots and how leaves make food from light", 2)
    assert {p.title for p in hybrid} == {"Zyxwv Corporation", "Photosynthesis"}


async def test_edge_cases(corpus: LocalCorpus, make_corpus: MakeCorpus) -> None:
    assert await corpus.search("   ", 5) == []
    assert await corpus.search("Paris", 0) == []
    assert len(await corpus.search("tower", 50)) <= len(FACTS)
    empty = make_corpus("empty")
    assert empty.count() == 0
    for mode in ("bm25", "dense", "hybrid"):
        assert await empty.with_mode(mode).search("anything", 3) == []  # type: ignore[arg-type]


def test_count_get_and_idempotent_add(corpus: LocalCorpus) -> None:
    assert corpus.count() == len(FACTS)
    first = passages()[0]
    got = corpus.get(first.id)
    assert got is not None and (got.title, got.text, got.source) == (
        first.title,
        first.text,
        first.source,
    )
    assert corpus.get("no-such-id") is None
    assert corpus.add(passages(), progress=False) == 0
    assert corpus.count() == len(FACTS)


async def test_bm25_index_persists_and_rebuilds_when_stale(
    tmp_path: Path, corpus: LocalCorpus
) -> None:
    index_dir = tmp_path / "store" / "bm25" / "local" / "facts"
    assert (index_dir / "manifest.json").exists()
    reopened = LocalCorpus.embedded(tmp_path / "store", "facts", mode="bm25")
    assert (await reopened.search("coral reef", 1))[0].title == "Great Barrier Reef"
    # Another writer adds a passage behind this index's back: the count no longer matches.
    other = LocalCorpus.embedded(tmp_path / "store", "facts", mode="bm25")
    other._col.add(
        ids=["extra"],
        documents=["Quokkas live on Rottnest Island."],
        metadatas=[{"title": "Quokka", "source": "x"}],
        embeddings=MiniLMEmbedding()(["Quokka"]),
    )
    fresh = LocalCorpus.embedded(tmp_path / "store", "facts", mode="bm25")
    assert (await fresh.search("quokkas", 1))[0].id == "extra"


def test_rrf_fuse_rewards_agreement() -> None:
    fused = rrf_fuse([["a", "b", "c"], ["b", "d"]], k=60)
    assert [pid for pid, _ in fused][:2] == ["b", "a"]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
    weighted = rrf_fuse([["a"], ["b"]], k=1, weights=[1.0, 2.0])
    assert [pid for pid, _ in weighted] == ["b", "a"]


def test_bad_names_and_modes(make_corpus: MakeCorpus) -> None:
    with pytest.raises(ConfigError, match="collection name"):
        make_corpus("a")
    with pytest.raises(ConfigError, match="collection name"):
        make_corpus("bad name!")
    with pytest.raises(ConfigError, match="search mode"):
        make_corpus("fine", mode="fuzzy")
    make_corpus("hashed", fast=True)
    with pytest.raises(ConfigError, match="cannot open collection 'hashed'.*embedding"):
        make_corpus("hashed")  # built with another embedding: mixing vectors would be garbage


async def test_from_settings_uses_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(
        config_file=_empty_toml(tmp_path),
        environ={},
        data_dir=tmp_path / "data",
        collection="notes",
    )
    c = LocalCorpus.from_settings(settings, mode="bm25")
    assert c.collection == "notes" and c.mode == "bm25"
    c.add(passages()[:1], progress=False)
    assert (tmp_path / "data" / "chroma" / "chroma.sqlite3").exists()
    assert (tmp_path / "data" / "bm25" / "local" / "notes" / "manifest.json").exists()
    other = LocalCorpus.from_settings(settings, collection="other")
    assert other.count() == 0


def _empty_toml(tmp_path: Path) -> Path:
    path = tmp_path / "leadline.toml"
    path.write_text("")
    return path
