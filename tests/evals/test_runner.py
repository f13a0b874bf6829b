from __future__ import annotations

import json
from pathlib import Path

import pytest

from leadline.budgets.budget import Budget
from leadline.cli import main
from leadline.errors import ConfigError
from leadline.evals.baselines import parse_system
from leadline.evals.runner import evaluate, load_records, run_eval
from tests.evals.helpers import (
    ScriptedModel,
    load_mini,
    scripted_services,
    search_for,
    write_dataset,
)
from tests.fakes.llm_server import ScriptedLLMServer

SYSTEMS = ["closed-book", "rag", "ircot", "leadline-fixed-sequential", "leadline-adaptive-auto"]


async def test_run_eval_compares_systems_and_resumes(tmp_path: Path) -> None:
    dataset = load_mini(tmp_path)
    systems = [parse_system(s) for s in SYSTEMS]
    budget = Budget(max_tokens=4000, max_search_steps=3)
    out = tmp_path / "out"
    with ScriptedLLMServer(ScriptedModel()) as server:
        async with scripted_services(server.base_url, dataset, tmp_path / "data") as services:
            result = await run_eval(
                dataset,
                systems,
                budget,
                out,
                settings=services.settings,
                services=services,
                progress=False,
            )
            calls = len(server.requests)
            again = await run_eval(
                dataset,
                systems,
                budget,
                out,
                settings=services.settings,
                services=services,
                progress=False,
            )
    assert len(server.requests) == calls  # everything was finished: nothing re-run
    assert again["systems"] == result["systems"]
    s = result["systems"]
    assert set(s) == {parse_system(n).name for n in SYSTEMS}
    assert s["closed-book"]["em"] == 0.0 and s["closed-book"]["mean_search_steps"] == 0
    assert s["rag"]["em"] == 1.0 and s["rag"]["support_recall"] == 1.0
    assert s["leadline-fixed-sequential"]["n"] == 4
    for name, summary in s.items():
        assert summary["mean_total_tokens"] <= 4000 and summary["mean_search_steps"] <= 3, name
    records = load_records(out / "leadline-fixed-sequential.jsonl")
    assert len(records) == 4
    r = records[0]
    assert {
        "id",
        "prediction",
        "em",
        "f1",
        "support_recall",
        "cost",
        "anytime",
        "config_key",
    } <= set(r)
    assert r["anytime"] and {"em", "f1", "compute", "search_steps"} <= set(r["anytime"][0])
    assert (out / "summary.md").read_text().count("|") > 20
    assert json.loads((out / "summary.json").read_text())["systems"]["rag"]["n"] == 4


async def test_resume_skips_finished_ids_and_refuses_other_configs(tmp_path: Path) -> None:
    dataset = load_mini(tmp_path)
    path = tmp_path / "rag.jsonl"
    with ScriptedLLMServer(ScriptedModel()) as server:
        async with scripted_services(server.base_url, dataset, tmp_path / "data") as services:
            await evaluate(
                dataset.head(2),
                parse_system("rag"),
                Budget(),
                path,
                services=services,
                progress=False,
            )
            path.write_text(path.read_text() + '{"torn line')  # a crash mid-write
            before = len(server.requests)
            records = await evaluate(
                dataset, parse_system("rag"), Budget(), path, services=services, progress=False
            )
            assert len(server.requests) - before == 2  # only the two unfinished questions
            assert [r["id"] for r in records] == ["q0", "q1", "q2", "q3"]
            # the torn line was cut off, so the record written after it reads back whole
            assert sorted(r["id"] for r in load_records(path)) == ["q0", "q1", "q2", "q3"]
            with pytest.raises(ConfigError, match="another configuration"):
                await evaluate(
                    dataset,
                    parse_system("rag"),
                    Budget(max_tokens=5000),
                    path,
                    services=services,
                    progress=False,
                )


def test_cli_eval_json_and_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_dataset(tmp_path / "mini.jsonl")
    monkeypatch.chdir(tmp_path)
    with ScriptedLLMServer(ScriptedModel()) as server:
        monkeypatch.setenv("LEADLINE_BASE_URL", server.base_url)
        monkeypatch.setenv("LEADLINE_MODEL", "scripted")
        monkeypatch.setenv("LEADLINE_DATA_DIR", str(tmp_path / "data"))
        argv = [
            "eval",
            "--dataset",
            f"hotpotqa:{data}",
            "-n",
            "3",
            "--system",
            "closed-book",
            "--max-tokens",
            "1000",
            "--out",
            str(tmp_path / "out"),
            "--json",
            "--no-progress",
        ]
        assert main(argv) == 0
        first = capsys.readouterr().out.strip().splitlines()
        assert main(argv) == 0
        second = capsys.readouterr().out.strip().splitlines()
        assert len(server.requests) == 3
    summary = json.loads(first[-1])
    assert summary["n"] == 3 and summary["em"] == 0.0 and "f1" in summary
    assert summary["mean_total_tokens"] > 0 and summary["mean_search_steps"] == 0
    assert json.loads(second[-1])["n"] == 3
    assert any(line.startswith("| closed-book") for line in first)


def test_cli_eval_rejects_unknown_system(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_dataset(tmp_path / "mini.jsonl")
    assert (
        main(["eval", "--dataset", f"hotpotqa:{data}", "--system", "bm25", "--out", str(tmp_path)])
        == 2
    )
    assert "unknown system" in capsys.readouterr().err


async def test_allocate_runs_in_an_eval_with_the_law_it_was_given(tmp_path: Path) -> None:
    from leadline.config import load_settings
    from leadline.services import Services
    from leadline.tools.llm import LLMClient

    law = json.loads(
        (Path(__file__).parents[2] / "leadline/budgets/data/default_law.json").read_text()
    )
    law["label"] = "a test law"
    path = tmp_path / "law.json"
    path.write_text(json.dumps(law))
    dataset = load_mini(tmp_path)
    (tmp_path / "empty.toml").write_text("")
    settings = load_settings(
        config_file=tmp_path / "empty.toml",
        environ={},
        data_dir=tmp_path / "data",
        allocation_model=path,
    )
    with ScriptedLLMServer(ScriptedModel()) as server:
        llm = LLMClient(base_url=server.base_url, model="scripted", max_retries=0, timeout_s=10)
        services = Services(settings=settings, llm=llm, search=search_for(dataset))
        try:
            records = await evaluate(
                dataset,
                parse_system("leadline-allocate-sequential"),
                Budget(max_tokens=8000, max_search_steps=4),
                tmp_path / "allocate.jsonl",
                services=services,
                progress=False,
            )
        finally:
            await llm.aclose()
    assert len(records) == 4
    for r in records:
        chosen = r["allocation"]
        assert chosen["search_steps"] >= 2  # the plan says two hops: both get searched
        assert r["cost"]["search_steps"] <= chosen["search_steps"] <= 4
    assert records[0]["config"]["allocation"].endswith("a test law")
