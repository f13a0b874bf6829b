"""A run interrupted by a crash resumes by its id without redoing finished steps."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from leadline.budgets.budget import Budget
from leadline.core import run_graph
from leadline.graph.runs import open_checkpointer, saved_spec
from leadline.graph.state import RunSpec
from leadline.tools.llm import LLMClient
from leadline.tools.search.base import Passage
from tests.fakes.llm_server import ScriptedLLMServer, agent_role, by_role
from tests.fakes.search import MemorySearch, make_passages
from tests.graph.helpers import answer_reply, plan_reply, reason_reply


class CrashOnSecondQuery(MemorySearch):
    async def search(self, query: str, k: int) -> list[Passage]:
        if len(self.queries) >= 1:
            raise RuntimeError("process killed")  # not a LeadlineError: the run aborts
        return await super().search(query, k)


async def test_resume_after_a_crash_keeps_finished_steps(tmp_path: Path) -> None:
    handler = by_role(
        planner=plan_reply(["topic 1"]),
        reasoner=[reason_reply(next_queries=["topic 5"]), reason_reply("Topic 5", 0.9, done=True)],
        answer=answer_reply("Topic 5", [2]),
    )
    spec = RunSpec(
        question="Which topic holds fact number 5?",
        budget=Budget(max_search_steps=4),
        policy="fixed",
        llm_extra={"id_slot": 3},
    )
    with ScriptedLLMServer(handler) as server:
        llm = LLMClient(base_url=server.base_url, model="scripted", max_retries=0)
        async with open_checkpointer(tmp_path / "runs.sqlite") as saver:
            crashing = CrashOnSecondQuery(make_passages())
            with pytest.raises(RuntimeError, match="process killed"):
                await run_graph(spec, llm=llm, search=crashing, run_id="run-1", checkpointer=saver)
        calls_before = Counter(agent_role(b) for b in server.requests)
        assert calls_before == {"planner": 1, "reasoner": 1}

        # a new process: fresh checkpointer connection, healthy backend, another KV slot
        async with open_checkpointer(tmp_path / "runs.sqlite") as saver:
            assert await saved_spec(saver, "run-1") == spec
            healthy = MemorySearch(make_passages())
            now = replace(spec, llm_extra={"id_slot": 7})
            result = await run_graph(
                now, llm=llm, search=healthy, run_id="run-1", checkpointer=saver, resume=True
            )
            again = await run_graph(
                now, llm=llm, search=healthy, run_id="run-1", checkpointer=saver, resume=True
            )
        await llm.aclose()
    # the resumed steps ran on the slot this process holds, not the one saved with the run
    assert [b.get("id_slot") for b in server.requests] == [3, 3, 7, 7]
    calls = Counter(agent_role(b) for b in server.requests)
    assert calls == {"planner": 1, "reasoner": 2, "answer": 1}  # nothing finished was redone
    assert healthy.queries == ["topic 5"]
    assert result.answer == "Topic 5" and result.stop_reason == "done"
    assert [e.detail for e in result.events if e.kind == "search"] == [
        "Which topic holds fact number 5?",
        "topic 5",
    ]
    assert again.answer == result.answer  # a finished run is returned as saved


async def test_resume_of_an_unknown_run_is_a_clear_error(tmp_path: Path) -> None:
    from leadline.errors import ConfigError

    with ScriptedLLMServer(by_role()) as server:
        llm = LLMClient(base_url=server.base_url, model="scripted")
        async with open_checkpointer(tmp_path / "runs.sqlite") as saver:
            with pytest.raises(ConfigError, match="no saved run"):
                await run_graph(
                    RunSpec(question="q"),
                    llm=llm,
                    search=MemorySearch([]),
                    run_id="nope",
                    checkpointer=saver,
                    resume=True,
                )
        await llm.aclose()


async def test_a_run_with_every_axis_and_a_law_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    """The new budget fields and the allocate policy's law survive the checkpoint."""
    from leadline.budgets.allocate import load_model

    handler = by_role(
        planner=plan_reply(["topic 1"], hops=1),
        reasoner=[reason_reply(next_queries=["topic 5"]), reason_reply("Topic 5", 0.9, done=True)],
        answer=answer_reply("Topic 5", [2]),
    )
    budget = Budget(
        max_search_steps=4,
        max_reasoning_tokens=600,
        reasoning_step_tokens=200,
        width=2,
        cached_token_rate=0.25,
    )
    spec = RunSpec(
        question="Which topic holds fact number 5?",
        budget=budget,
        policy="allocate",
        allocation=load_model(),
    )
    with ScriptedLLMServer(handler) as server:
        llm = LLMClient(base_url=server.base_url, model="scripted", max_retries=0)
        async with open_checkpointer(tmp_path / "runs.sqlite") as saver:
            crashing = CrashOnSecondQuery(make_passages())
            with pytest.raises(RuntimeError, match="process killed"):
                await run_graph(spec, llm=llm, search=crashing, run_id="run-2", checkpointer=saver)
        async with open_checkpointer(tmp_path / "runs.sqlite") as saver:
            saved = await saved_spec(saver, "run-2")
            result = await run_graph(
                spec,
                llm=llm,
                search=MemorySearch(make_passages()),
                run_id="run-2",
                checkpointer=saver,
                resume=True,
            )
        await llm.aclose()
    # the spec as the plan left it: the law's choice became the caps, the rest as given
    chosen = result.allocation
    assert saved.budget.cached_token_rate == 0.25 and saved.allocation is not None
    assert saved.allocation.law.coef == load_model().law.coef
    assert saved.budget.max_search_steps == chosen["search_steps"]
    assert saved.budget.width == chosen["width"] <= 2
    assert saved.budget.max_reasoning_tokens == min(600, chosen["reasoning_tokens"])
    assert result.answer == "Topic 5" and result.caps.width == chosen["width"]
