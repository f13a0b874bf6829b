from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from leadline.cli import main
from leadline.errors import ConfigError
from leadline.evals import runner
from leadline.evals.sweep import SweepGrid, parse_ints, run_sweep
from tests.evals.helpers import (
    ScriptedModel,
    load_mini,
    make_services,
    scripted_services,
    search_for,
    write_dataset,
)
from tests.fakes.llm_server import ScriptedLLMServer

STEPS = (0, 1, 2)
TOKENS = (1500, 4000)


async def test_sweep_writes_curves_plots_and_report_within_budgets(tmp_path: Path) -> None:
    dataset = load_mini(tmp_path)
    out = tmp_path / "sweep"
    grid = SweepGrid(STEPS, TOKENS)
    with ScriptedLLMServer(ScriptedModel()) as server:
        async with scripted_services(server.base_url, dataset, tmp_path / "data") as services:
            summary = await run_sweep(
                dataset,
                grid,
                out,
                settings=services.settings,
                services=services,
                progress=False,
                command="leadline sweep ...",
            )
    assert summary["budget_violations"] == {}
    # every record of every cell within that cell's caps
    for cell in grid.cells():
        for line in (out / "cells" / f"{cell.name}.jsonl").read_text().splitlines():
            cost = json.loads(line)["cost"]
            assert (
                cost["total_tokens"] <= cell.max_tokens
                and cost["search_steps"] <= cell.max_search_steps
            )
    rows = list(csv.DictReader((out / "curves.csv").read_text().splitlines()))
    true = [r for r in rows if r["mode"] == "true"]
    assert len(true) == len(STEPS) * len(TOKENS)
    assert len([r for r in rows if r["mode"] == "anytime"]) == len(STEPS) * len(TOKENS)
    assert [r for r in rows if r["mode"] == "adaptive"]
    big = {int(r["max_search_steps"]): float(r["f1"]) for r in true if r["max_tokens"] == "4000"}
    assert big[2] > big[0]  # the scripted model needs both hops: accuracy rises with search steps
    for name in ("accuracy_vs_search_steps.png", "accuracy_vs_compute.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    report = (out / "report.md").read_text()
    assert "Budgets respected in every cell: **yes**" in report
    assert "per doubling" in report and "Anytime replay" in report and "equal compute" in report
    assert summary["fits"]["steps"] and summary["fits"]["frontier"]
    assert summary["compute_matched"]["auto"]["f1"]["difference_ci"]
    # the fitted law: logit EM against log search steps, written for --policy allocate
    law = json.loads((out / "law.json").read_text())
    assert law["per_axis"]["search_steps"]["coef"]["search_steps"] > 0
    assert law["joint"]["axes"] == ["search_steps"] and law["cost"]["coef"]["search_steps"] > 0
    assert (out / "law_axes.png").read_bytes()[:4] == b"\x89PNG"
    assert "Fitted law" in report
    true_rows = [r for r in rows if r["mode"] == "true"]
    assert all(float(r["em_ci_low"]) <= float(r["em"]) <= float(r["em_ci_high"]) for r in true_rows)


async def test_a_sweep_over_all_three_axes_holds_every_cap(tmp_path: Path) -> None:
    dataset = load_mini(tmp_path)
    out = tmp_path / "sweep3"
    grid = SweepGrid((1, 2), (9000,), ("sequential",), "fixed", (0, None), (1, 2))
    with ScriptedLLMServer(ScriptedModel()) as server:
        async with scripted_services(server.base_url, dataset, tmp_path / "data") as services:
            summary = await run_sweep(
                dataset,
                grid,
                out,
                settings=services.settings,
                services=services,
                compare_adaptive=False,
                progress=False,
            )
    assert summary["budget_violations"] == {} and summary["cells"] == 8
    names = sorted(p.name for p in (out / "cells").iterdir())
    assert "fixed-sequential-s2-t9000-r0-w2.jsonl" in names
    assert "fixed-sequential-s1-t9000.jsonl" in names  # no reasoning cap, width 1: old names
    for line in (out / "cells" / "fixed-sequential-s2-t9000-r0-w2.jsonl").read_text().splitlines():
        record = json.loads(line)
        assert record["cost"]["reasoner_tokens"] == 0 and len(record["reader_samples"]) == 2
    assert grid.varied == ("search_steps", "reasoning_tokens", "width")
    law = json.loads((out / "law.json").read_text())
    assert set(law["joint"]["axes"]) == {"search_steps", "reasoning_tokens", "width"}
    assert (out / "iso_accuracy.png").exists()


def test_grid_validation() -> None:
    assert parse_ints("4,0,2,2", "x") == (0, 2, 4)
    with pytest.raises(ConfigError):
        parse_ints("a,b", "x")
    with pytest.raises(ConfigError, match="shape"):
        SweepGrid((0,), (1000,), ("diagonal",))  # type: ignore[arg-type]
    cells = SweepGrid((0, 4), (1000, 2000)).cells()
    assert cells[0].max_search_steps == 4 and cells[0].max_tokens == 2000  # max-budget cell first


def test_cli_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_dataset(tmp_path / "mini.jsonl")
    dataset = load_mini(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEADLINE_DATA_DIR", str(tmp_path / "data"))

    with ScriptedLLMServer(ScriptedModel()) as server:

        @asynccontextmanager
        async def fake_services(settings: Any) -> AsyncIterator[Any]:
            services = make_services(server.base_url, search_for(dataset), tmp_path / "data")
            yield services
            await services.llm.aclose()

        async def no_ingest(*args: Any) -> str:
            return "corpus: (test)"

        monkeypatch.setattr(runner, "open_eval_services", fake_services)
        monkeypatch.setattr(runner, "prepare_corpus", no_ingest)
        code = main(
            [
                "sweep",
                "--dataset",
                f"hotpotqa:{data}",
                "-n",
                "2",
                "--search-steps",
                "0,1",
                "--token-caps",
                "2000",
                "--no-adaptive",
                "--out",
                str(tmp_path / "s"),
                "--json",
                "--no-progress",
            ]
        )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["cells"] == 2 and summary["n"] == 2 and summary["compute_matched"] == {}
    assert (tmp_path / "s" / "report.md").exists() and (tmp_path / "s" / "curves.csv").exists()


async def test_allocate_is_compared_with_the_fixed_cells_at_equal_compute(tmp_path: Path) -> None:
    dataset = load_mini(tmp_path)
    out = tmp_path / "sweep-policies"
    with ScriptedLLMServer(ScriptedModel()) as server:
        async with scripted_services(server.base_url, dataset, tmp_path / "data") as services:
            summary = await run_sweep(
                dataset,
                SweepGrid((0, 1, 2), (6000,)),
                out,
                settings=services.settings,
                services=services,
                compare_policies=("adaptive", "allocate"),
                progress=False,
            )
    assert set(summary["compute_matched"]) == {"auto", "allocate/auto"}
    allocate = summary["compute_matched"]["allocate/auto"]["em"]
    assert {"difference", "difference_ci", "p_policy_better"} <= set(allocate)
    assert (out / "cells" / "allocate-auto-s2-t6000.jsonl").exists()
    report = (out / "report.md").read_text()
    assert "| allocate/auto | EM |" in report and "| adaptive/auto | EM |" in report
