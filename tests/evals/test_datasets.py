from __future__ import annotations

import json
from pathlib import Path

import pytest

from leadline.errors import ConfigError, IngestError
from leadline.evals.datasets import join_sentences, load_dataset, parse_spec
from leadline.tools.search.base import content_id

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "hotpotqa"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def ircot_row(
    qid: str, question: str, answer: str, paragraphs: list[tuple[str, str, bool]]
) -> dict:
    return {
        "question_id": qid,
        "question_text": question,
        "answers_objects": [
            {"number": "", "date": {"day": "", "month": "", "year": ""}, "spans": [answer]}
        ],
        "contexts": [
            {"id": str(i), "title": t, "paragraph_text": p, "is_supporting": s}
            for i, (t, p, s) in enumerate(paragraphs)
        ],
    }


def test_hotpot_ircot_layout(tmp_path: Path) -> None:
    shared = ("Paris", "Paris is the capital of France.", True)
    path = write_jsonl(
        tmp_path / "mini.jsonl",
        [
            ircot_row(
                "a", "Capital of France?", "Paris", [shared, ("Lyon", "Lyon is a city.", False)]
            ),
            ircot_row(
                "b",
                "Where is the Louvre?",
                "Paris",
                [shared, ("Louvre", "The Louvre  is in Paris.", True)],
            ),
        ],
    )
    ds = load_dataset(f"hotpotqa:{path}")
    assert [e.id for e in ds.examples] == ["a", "b"]
    assert ds.examples[0].answers == ("Paris",)
    assert ds.examples[1].supporting_titles == ("Paris", "Louvre")
    assert len(ds.corpus) == 3  # the shared paragraph is pooled once
    assert ds.corpus[0].id == content_id("Paris", "Paris is the capital of France.")
    assert ds.collection == "hotpotqa-mini"
    assert len(ds.head(1).examples) == 1 and len(ds.head(1).corpus) == 3


def test_hotpot_official_layout(tmp_path: Path) -> None:
    path = tmp_path / "official.json"
    path.write_text(
        json.dumps(
            [
                {
                    "_id": "q1",
                    "question": "Same nationality?",
                    "answer": "yes",
                    "type": "comparison",
                    "level": "hard",
                    "supporting_facts": [["A", 0], ["B", 1], ["A", 1]],
                    "context": [
                        ["A", ["A was born.", " A is American."]],
                        ["B", ["B too.", " B is American."]],
                        ["C", ["Noise."]],
                    ],
                }
            ]
        )
    )
    ds = load_dataset(f"hotpotqa:{path}")
    (ex,) = ds.examples
    assert ex.answers == ("yes",) and ex.supporting_titles == ("A", "B") and ex.kind == "comparison"
    assert [d.text for d in ds.corpus][0] == "A was born. A is American."


def test_musique_layout(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "musique_dev.jsonl",
        [
            {
                "id": "2hop__1_2",
                "question": "Who founded the label of X?",
                "answer": "John Smith",
                "answer_aliases": ["J. Smith", "Smith"],
                "answerable": True,
                "paragraphs": [
                    {
                        "idx": 0,
                        "title": "X",
                        "paragraph_text": "X is signed to Y Records.",
                        "is_supporting": True,
                    },
                    {
                        "idx": 1,
                        "title": "Y Records",
                        "paragraph_text": "Y Records was founded by John Smith.",
                        "is_supporting": True,
                    },
                    {
                        "idx": 2,
                        "title": "Z",
                        "paragraph_text": "Unrelated.",
                        "is_supporting": False,
                    },
                ],
            }
        ],
    )
    (ex,) = load_dataset(f"musique:{path}").examples
    assert ex.answers == ("John Smith", "J. Smith", "Smith")
    assert ex.supporting_titles == ("X", "Y Records") and ex.kind == "2hop"


def test_2wiki_layout(tmp_path: Path) -> None:
    path = tmp_path / "2wiki_dev.json"
    path.write_text(
        json.dumps(
            [
                {
                    "_id": "w1",
                    "type": "compositional",
                    "question": "Who is the father of the director of F?",
                    "context": [
                        ["F", ["F is a film.", "It was directed by D."]],
                        ["D", ["D is the son of P."]],
                    ],
                    "supporting_facts": [["F", 1], ["D", 0]],
                    "evidences": [],
                    "answer": "P",
                }
            ]
        )
    )
    ds = load_dataset(f"2wiki:{path}")
    assert ds.examples[0].supporting_titles == ("F", "D")
    assert ds.corpus[0].text == "F is a film. It was directed by D."  # 2Wiki sentences lack spaces


def test_plain_qa_jsonl(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "qa.jsonl",
        [
            {"question": "2+2?", "answer": "4"},
            {"id": "x", "question": "Colour of the sky?", "answers": ["blue", "azure"]},
        ],
    )
    ds = load_dataset(f"qa:{path}")
    assert [e.id for e in ds.examples] == ["q0", "x"]
    assert ds.examples[1].answers == ("blue", "azure") and ds.corpus == ()


def test_errors_name_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "a"}\n{"question": "no answer"}\n')
    with pytest.raises(IngestError, match=r"bad.jsonl:2"):
        load_dataset(f"qa:{bad}")
    with pytest.raises(ConfigError, match="KIND:PATH"):
        parse_spec("nonsense")
    with pytest.raises(ConfigError, match="does not exist"):
        load_dataset(f"hotpotqa:{tmp_path / 'missing.jsonl'}")
    with pytest.raises(IngestError, match="not a HotpotQA record"):
        load_dataset(
            f"hotpotqa:{write_jsonl(tmp_path / 'x.jsonl', [{'question': 'q', 'answer': 'a'}])}"
        )


def test_join_sentences() -> None:
    assert join_sentences(["A.", " B."]) == "A. B."
    assert join_sentences(["A.", "B."]) == "A. B."
    assert join_sentences([]) == ""


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/hotpotqa is not present")
def test_shared_hotpot_files_agree() -> None:
    dev = load_dataset(f"hotpotqa:{SHARED / 'dev300.jsonl'}")
    official = load_dataset(f"hotpotqa:{SHARED / 'hotpot_dev_distractor_first100.json'}")
    assert len(dev.examples) == 300 and len(official.examples) == 100
    assert 2500 < len(dev.corpus) < 3100
    assert all(len(e.supporting_titles) == 2 for e in dev.examples)
    by_id = {e.id: e for e in dev.examples}
    for ex in official.examples:  # all 100 are in dev300, with the same gold
        assert set(ex.supporting_titles) == set(by_id[ex.id].supporting_titles)
        assert ex.answers[0] == by_id[ex.id].answers[0]
    # Both layouts give the same paragraph the same id, so one collection serves both.
    assert {d.id for d in official.corpus} <= {d.id for d in dev.corpus}


def test_skip_selects_a_held_out_slice_and_keeps_the_whole_corpus(tmp_path: Path) -> None:
    from tests.evals.helpers import write_dataset

    spec = f"hotpotqa:{write_dataset(tmp_path / 'mini.jsonl')}"
    whole = load_dataset(spec)
    sliced = load_dataset(spec, 2, skip=1)
    assert [e.id for e in sliced.examples] == [e.id for e in whole.examples[1:3]]
    assert sliced.corpus == whole.corpus
    assert [e.id for e in load_dataset(spec, None, skip=3).examples] == [whole.examples[3].id]
    with pytest.raises(ConfigError, match="--skip"):
        load_dataset(spec, 2, skip=-1)
