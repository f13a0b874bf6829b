"""Question types: guessed, joined or the dataset's own; reports split by type, and the shape
experiment's paired comparison of sequential against parallel per type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leadline.budgets.budget import Budget
from leadline.errors import ConfigError
from leadline.evals.baselines import parse_system
from leadline.evals.datasets import Example
from leadline.evals.records import budget_key, load_records
from leadline.evals.runner import run_eval
from leadline.evals.types import (
    guess_type,
    load_type_labels,
    question_type,
    shape_comparison,
    shape_pairs,
)
from tests.evals.helpers import FACTS, ScriptedModel, load_mini, scripted_services
from tests.fakes.llm_server import ScriptedLLMServer


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Were Scott Derrickson and Ed Wood of the same nationality?", "comparison"),
        ("Which writer was from England, Henry Roth or Robert Erskine Childers?", "comparison"),
        ("What occupation do Chris Menges and Aram Avakian share?", "comparison"),
        ("Is the Elbe longer than the Oder?", "comparison"),
        ("Which city hosts the museum of the painter Anna Berg?", "bridge"),
        ("Who directed the film in which Shirley Temple played Corliss Archer?", "bridge"),
    ],
)
def test_guess_type(question: str, kind: str) -> None:
    assert guess_type(question) == kind


def test_a_types_own_label_beats_a_joined_one_which_beats_a_guess(tmp_path: Path) -> None:
    labelled = Example("a", "Were A and B both poets?", ("yes",), kind="bridge")
    plain = Example("b", "Were A and B both poets?", ("yes",))
    assert question_type(labelled, {"a": "comparison"}) == ("bridge", "dataset")
    assert question_type(plain, {"b": "bridge"}) == ("bridge", "labels")
    assert question_type(plain, None) == ("comparison", "guessed")
    path = tmp_path / "official.json"
    path.write_text(json.dumps([{"_id": "q1", "type": "comparison"}, {"_id": "q2"}]))
    assert load_type_labels(path) == {"q1": "comparison"}
    path.write_text("{}")
    with pytest.raises(ConfigError, match="official HotpotQA layout"):
        load_type_labels(path)


def test_shape_comparison_is_paired_per_type() -> None:
    a = [{"id": i, "em": 1.0, "type": "bridge" if i < 3 else "comparison"} for i in range(5)]
    b = [{"id": i, "em": float(i >= 3), "type": a[i]["type"]} for i in range(5)]
    out = shape_comparison(a, b, "em")
    assert out["bridge"]["difference"] == 1.0 and out["bridge"]["n"] == 3
    assert out["comparison"]["difference"] == 0.0 and out["comparison"]["ci"] == [0.0, 0.0]
    assert out["all"]["n"] == 5
    names = ["leadline-fixed-sequential", "leadline-fixed-parallel", "rag"]
    assert shape_pairs(names) == [("leadline-fixed-sequential", "leadline-fixed-parallel")]


def test_new_budget_fields_at_their_old_values_keep_old_configuration_keys() -> None:
    legacy = Budget(max_tokens=4000, cached_token_rate=1.0)
    assert set(budget_key(legacy)) == {
        "max_tokens",
        "max_search_steps",
        "max_compute",
        "rates",
        "answer_tokens",
    }
    assert budget_key(Budget(max_tokens=4000))["cached_token_rate"] == 0.1  # a new unit
    assert budget_key(Budget(width=3))["width"] == 3


async def test_eval_reports_by_type_and_compares_shapes(tmp_path: Path) -> None:
    dataset = load_mini(tmp_path)
    questions = list(FACTS)
    labels = {
        ex.id: "comparison" if ex.question == questions[0] else "bridge" for ex in dataset.examples
    }
    systems = [parse_system(s) for s in ("leadline-fixed-sequential", "leadline-fixed-parallel")]
    out = tmp_path / "out"
    with ScriptedLLMServer(ScriptedModel()) as server:
        async with scripted_services(server.base_url, dataset, tmp_path / "data") as services:
            result = await run_eval(
                dataset,
                systems,
                Budget(max_tokens=10_000, max_search_steps=3, width=2),
                out,
                settings=services.settings,
                services=services,
                progress=False,
                types=labels,
            )
    by_type = result["by_type"]
    seq = by_type["systems"]["leadline-fixed-sequential"]
    assert seq["comparison"]["n"] == 1 and seq["bridge"]["n"] == 3
    assert seq["bridge"]["guessed"] == 0
    pair = by_type["sequential_vs_parallel"][0]
    assert set(pair["em"]) == {"all", "bridge", "comparison"}
    assert {"difference", "ci", "p_a_better"} <= set(pair["em"]["bridge"])
    summary = (out / "summary.md").read_text()
    assert "## By question type" in summary and "## Sequential against parallel" in summary
    assert "weighted tok" in summary and "0.1 × cached prompt" in summary
    record = load_records(out / "leadline-fixed-sequential.jsonl")[0]
    assert record["type"] in ("bridge", "comparison") and record["type_source"] == "labels"
    assert len(record["reader_samples"]) == 2  # width 2: two reader samples kept
    cost = record["cost"]
    assert cost["weighted_tokens"] < cost["total_tokens"] and cost["reasoner_tokens"] > 0
    assert record["reasoner_after_step"] and record["anytime"][0]["weighted_tokens"] > 0
    assert result["systems"]["leadline-fixed-sequential"]["mean_weighted_tokens"] <= 10_000
