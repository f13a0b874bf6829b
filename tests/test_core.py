"""The public core `aresearch`/`research` over injected services (scripted LLM, memory search)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leadline.budgets.budget import Budget
from leadline.config import load_settings
from leadline.core import aresearch, cache_pinning
from leadline.errors import BudgetError, ConfigError
from leadline.services import Services
from leadline.tools.llm import LLMClient
from tests.fakes.llm_server import ScriptedLLMServer, by_role
from tests.fakes.search import MemorySearch, make_passages
from tests.graph.helpers import answer_reply, plan_reply, reason_reply


def _services(server: ScriptedLLMServer, tmp_path: Path) -> Services:
    settings = load_settings(
        config_file=_empty_toml(tmp_path),
        environ={},
        data_dir=tmp_path,
        base_url=server.base_url,
        model="scripted",
    )
    return Services(
        settings=settings,
        llm=LLMClient(base_url=server.base_url, model="scripted"),
        search=MemorySearch(make_passages()),
    )


def _empty_toml(tmp_path: Path) -> Path:
    path = tmp_path / "leadline.toml"
    path.write_text("")
    return path


async def test_aresearch_answers_with_citations_events_and_a_ledger(tmp_path: Path) -> None:
    handler = by_role(
        planner=plan_reply(["topic 5"], hops=1),
        reasoner=reason_reply("Topic 5", 0.9, done=True),
        answer=answer_reply("Topic 5", [1]),
    )
    events: list[dict] = []
    with ScriptedLLMServer(handler) as server:
        services = _services(server, tmp_path)
        result = await aresearch(
            "Which topic holds fact number 5?",
            services=services,
            budget=Budget(max_search_steps=3),
            ledger_path=tmp_path / "ledger.jsonl",
            on_event=events.append,
        )
        await services.llm.aclose()
    assert result.answer == "Topic 5"
    assert result.citations[0].passage_id == "p5"
    # the question is searched first; the scripted reader gives no log-probabilities, so the
    # early read cannot stop the run, and the plan comes after it
    assert [e["type"] for e in events] == ["search", "read", "plan", "reason", "answer"]
    assert events[1]["stopped"] is False and events[1]["confidence"] is None
    assert events[3]["note"] == "Looked at [1]."  # what the step made of it, for watchers
    assert events[-1]["spend"]["total_tokens"] == result.usage["total_tokens"]
    lines = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert {line["type"] for line in lines} == {"event", "anytime", "summary"}
    assert lines[-1]["total_tokens"] == result.usage["total_tokens"]
    assert (tmp_path / "runs.sqlite").exists()  # checkpointed by default
    payload = result.to_dict()
    assert set(payload) >= {"answer", "citations", "usage", "caps", "stop_reason"}


@pytest.mark.parametrize("question", ["", "   ", "x" * 5000])
async def test_empty_or_huge_questions_are_refused(question: str, tmp_path: Path) -> None:
    with ScriptedLLMServer(by_role()) as server:
        services = _services(server, tmp_path)
        with pytest.raises(ConfigError):
            await aresearch(question, services=services)
        await services.llm.aclose()
    assert server.requests == []


async def test_invalid_options_are_refused(tmp_path: Path) -> None:
    with ScriptedLLMServer(by_role()) as server:
        services = _services(server, tmp_path)
        with pytest.raises(ConfigError, match="policy"):
            await aresearch("q?", services=services, policy="greedy")  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="kv_mode"):
            await aresearch("q?", services=services, kv_mode="both")  # type: ignore[arg-type]
        await services.llm.aclose()
    with pytest.raises(BudgetError):
        Budget(max_tokens=-5)


def test_cache_pinning_follows_the_endpoint_dialect(tmp_path: Path) -> None:
    base = {"config_file": _empty_toml(tmp_path), "environ": {}}
    assert cache_pinning(load_settings(**base), "r1") == {}  # embedded: pinned by slot instead
    openai = load_settings(**base, base_url="https://api.openai.com/v1")
    assert cache_pinning(openai, "r1") == {"prompt_cache_key": "leadline-r1"}
    vllm = load_settings(**base, base_url="http://127.0.0.1:8000/v1", cache_salt="tenant-a")
    assert cache_pinning(vllm, "r1") == {"cache_salt": "tenant-a"}


async def test_runs_sharing_services_share_one_compiled_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import leadline.graph.runs as runs

    compiled: list[object] = []
    build = runs.build_graph

    def counting_build(*args: object, **kwargs: object) -> object:
        compiled.append(args)
        return build(*args, **kwargs)

    monkeypatch.setattr(runs, "build_graph", counting_build)
    handler = by_role(
        planner=plan_reply(["topic 5"], hops=1),
        reasoner=reason_reply("Topic 5", 0.9, done=True),
        answer=answer_reply("Topic 5", [1]),
    )
    with ScriptedLLMServer(handler) as server:
        services = _services(server, tmp_path)
        for _ in range(2):
            await aresearch("Which topic holds fact number 5?", services=services, checkpoint=False)
        other = _services(server, tmp_path)  # other services: their own graph
        await aresearch("Which topic holds fact number 5?", services=other, checkpoint=False)
        await services.llm.aclose()
        await other.llm.aclose()
    assert len(compiled) == 2 and len(services.graphs) == len(other.graphs) == 1


@pytest.mark.parametrize("bad", [0, 21, -1, True, 2.5, "5"])
def test_pool_and_reader_sizes_out_of_range_are_refused(bad: object) -> None:
    from leadline.options import ResearchOptions

    with pytest.raises(ConfigError, match="reader_passages must be an integer in 1..20"):
        ResearchOptions(reader_passages=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="passages_per_query must be an integer in 1..20"):
        ResearchOptions().updated(passages_per_query=bad)
    settings = load_settings(environ={"LEADLINE_READER_PASSAGES": "7"})
    assert ResearchOptions().resolved(settings).reader_passages == 7
    assert ResearchOptions(reader_passages=20).resolved(settings).reader_passages == 20
