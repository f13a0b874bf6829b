"""`leadline eval --replay`: the reader re-run over stored pools, without search or reasoning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from leadline.budgets.budget import Budget
from leadline.cli import main
from leadline.errors import ConfigError
from leadline.evals.baselines import parse_system
from leadline.evals.replay import replay_reader
from leadline.evals.runner import evaluate
from leadline.graph.state import DEFAULT_READER_PASSAGES
from tests.evals.helpers import (
    ScriptedModel,
    load_mini,
    make_services,
    says_yes_first,
    scripted_services,
)
from tests.fakes.llm_server import ScriptedLLMServer, agent_role


async def _evaluated(tmp_path: Path, server: ScriptedLLMServer) -> list[dict]:
    dataset = load_mini(tmp_path)
    async with scripted_services(server.base_url, dataset, tmp_path / "data") as services:
        return await evaluate(
            dataset,
            parse_system("leadline-fixed-sequential"),
            Budget(max_tokens=6000, max_search_steps=2),
            tmp_path / "eval" / "leadline-fixed-sequential.jsonl",
            services=services,
            progress=False,
        )


async def test_replay_reruns_only_the_reader_and_reads_the_pool_as_it_was(tmp_path: Path) -> None:
    with ScriptedLLMServer(ScriptedModel()) as server:
        records = await _evaluated(tmp_path, server)
        assert all(r["pool"] and r["spend_after_step"] for r in records)
        for r in records:  # each model call, as the ledger billed it
            assert len(r["calls"]) == r["cost"]["llm_calls"] > 0
            assert sum(c["prompt_tokens"] for c in r["calls"]) == r["cost"]["prompt_tokens"]
            answers = [c for c in r["calls"] if c["agent"] == "answer"]
            assert sum(c["prompt_tokens"] for c in answers) == r["reader_cost"]["prompt_tokens"]
        services = make_services(server.base_url, None, tmp_path / "data")

        async def replay(name: str, **options: Any) -> list[dict]:
            return await replay_reader(
                records,
                tmp_path / name,
                services=services,
                kv_mode="shared",
                reader_passages=DEFAULT_READER_PASSAGES,  # the run's K
                progress=False,
                **options,
            )

        before = len(server.requests)
        try:
            full = await replay("full.jsonl")
            after_full = len(server.requests)
            roles = {agent_role(b) for b in server.requests[before:]}
            at_zero = await replay("step0.jsonl", up_to_step=0)
            calls = len(server.requests)
            again = await replay("full.jsonl")
        finally:
            await services.llm.aclose()
    assert roles == {"answer"}  # no planner, reasoner or search: the reader alone
    assert len(server.requests) == calls  # a finished replay resumes with nothing to do
    assert again == full
    assert [r["em"] for r in full] == [r["em"] for r in records] == [1.0] * len(records)
    # before the first search the pool was empty, so the reader could not know
    assert all(r["em"] == 0.0 for r in at_zero)

    # the replay reads the very prompt the run's reader read: the same passages under the same
    # evidence numbers (the workspace's, stored with the record)
    def last_read(requests: list[dict], question: str) -> list[dict]:
        reads = [b for b in requests if agent_role(b) == "answer"]
        return [b for b in reads if question in b["messages"][-1]["content"]][-1]["messages"]

    for r in records:
        run_read = last_read(server.requests[:before], r["question"])
        assert last_read(server.requests[before:after_full], r["question"]) == run_read
    assert all(r["workspace"] for r in records)
    numbers = sorted(n for n, _ in records[0]["workspace"].values())
    assert numbers == list(range(1, len(numbers) + 1))
    for r, original in zip(full, records, strict=True):
        # the replay's cost is what the run had spent before its reader, plus the new reader
        assert r["cost"]["search_steps"] == original["cost"]["search_steps"]
        assert r["cost"]["total_tokens"] > 0
        assert r["cost"]["llm_calls"] == 1 and r["reader_rereads"] == []  # every reply fits
        assert r["replay"] == {
            "up_to_step": None,
            "reader_passages": DEFAULT_READER_PASSAGES,
            "passages_per_query": None,
        }


async def test_a_replayed_re_read_is_recorded_and_counted(tmp_path: Path) -> None:
    with ScriptedLLMServer(ScriptedModel()) as server:
        records = await _evaluated(tmp_path, server)
    with ScriptedLLMServer(says_yes_first) as server:
        services = make_services(server.base_url, None, tmp_path / "data")
        try:
            replayed = await replay_reader(
                records,
                tmp_path / "replay.jsonl",
                services=services,
                kv_mode="shared",
                reader_passages=DEFAULT_READER_PASSAGES,
                progress=False,
            )
        finally:
            await services.llm.aclose()
    assert [r["reader_rereads"] for r in replayed] == [["Yes"]] * len(records)
    assert all(r["cost"]["llm_calls"] == 2 for r in replayed)  # the read and its re-read
    assert [r["em"] for r in replayed] == [r["em"] for r in records]  # the re-read answered


def test_cli_replay_writes_a_summary_and_needs_no_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    with ScriptedLLMServer(ScriptedModel()) as server:
        asyncio.run(_evaluated(tmp_path, server))
        monkeypatch.setenv("LEADLINE_BASE_URL", server.base_url)
        monkeypatch.setenv("LEADLINE_MODEL", "scripted")
        monkeypatch.setenv("LEADLINE_DATA_DIR", str(tmp_path / "data"))
        argv = [
            "eval",
            "--replay",
            str(tmp_path / "eval"),
            "--out",
            str(tmp_path / "r"),
            "--reader-passages",
            "2",
            "--replay-step",
            "1",
            "--json",
            "--no-progress",
        ]
        assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["n"] == 4 and 0.0 <= summary["em"] <= 1.0
    assert summary["out"].endswith("replay-k2-step1.jsonl")
    assert main(["eval", "--out", str(tmp_path / "r")]) == 2  # neither --dataset nor --replay


def test_a_replay_can_keep_only_each_querys_top_hits() -> None:
    from leadline.evals.replay import pool_of

    record = {
        "pool": [
            {"id": "a", "title": "A", "text": "a", "query": "q", "rank": 1, "step": 1},
            {"id": "b", "title": "B", "text": "b", "query": "q", "rank": 2, "step": 1},
            {"id": "c", "title": "C", "text": "c", "query": "r", "rank": 3, "step": 2},
        ]
    }
    assert [h.passage_id for h in pool_of(record)] == ["a", "b", "c"]
    assert [h.passage_id for h in pool_of(record, per_query=2)] == ["a", "b"]


def _record() -> dict:
    """A run of three rounds: the question (round 1), two parallel queries (round 2), one link
    step (round 3); its spend after each step and the reasoner's tokens."""

    def hit(pid: str, query: str, rank: int, step: int) -> dict:
        return {
            "id": pid,
            "title": pid.upper(),
            "text": pid,
            "query": query,
            "rank": rank,
            "step": step,
        }

    def spend(p: int, c: int, s: int) -> dict:
        return {"prompt_tokens": p, "cached_tokens": 0, "completion_tokens": c, "search_steps": s}

    return {
        "id": "q",
        "pool": [
            hit("a", "question", 1, 1),
            hit("b", "question", 2, 1),
            hit("c", "first", 1, 2),
            hit("d", "second", 1, 2),
            hit("e", "links: a", 1, 3),
        ],
        "spend_after_step": {
            "0": spend(100, 50, 0),
            "1": spend(400, 150, 1),
            "2": spend(800, 250, 3),
            "3": spend(1200, 350, 4),
        },
        "reasoner_after_step": {"0": 0, "1": 100, "2": 200, "3": 300},
    }


def test_a_cut_is_the_pool_and_spend_a_smaller_budget_would_have_reached() -> None:
    from leadline.evals.replay import cut_at

    record = _record()
    zero = cut_at(record, 0)
    assert zero.hits == () and zero.round == 0 and zero.spent.search_steps == 0
    assert zero.spent.prompt_tokens == 100  # the plan only
    one = cut_at(record, 1)
    assert [h.passage_id for h in one.hits] == ["a", "b"] and one.round == 1
    # read right after round 1's search: the planning spend plus one step, no reasoning
    assert (one.spent.prompt_tokens, one.spent.search_steps) == (100, 1)
    two = cut_at(record, 2)  # round 2 had two queries: a capped run issues the first
    assert [h.passage_id for h in two.hits] == ["a", "b", "c"]
    assert (two.round, two.spent.search_steps, two.spent.prompt_tokens) == (2, 2, 400)
    full = cut_at(record, 4)
    assert len(full.hits) == 5 and full.spent.search_steps == 4 and full.reasoner_tokens == 200
    assert cut_at(record, None) == full and cut_at(record, 99).signature == full.signature
    assert one.signature != two.signature


def test_a_reasoning_cap_stops_at_the_rounds_its_reasoning_chose() -> None:
    from leadline.evals.replay import cut_at

    record = _record()
    assert cut_at(record, 4, max_reasoning_tokens=0).round == 1  # only the planner's round
    assert cut_at(record, 4, max_reasoning_tokens=150).round == 2  # reasoning step 1 fits
    assert cut_at(record, 4, max_reasoning_tokens=1000).round == 3
    old = {k: v for k, v in record.items() if k != "reasoner_after_step"}
    with pytest.raises(ConfigError, match="reasoning tokens"):
        cut_at(old, 4, max_reasoning_tokens=100)
