"""The three compute axes in a run: reasoning tokens, width, and the token unit they share."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from leadline.budgets.budget import Budget
from tests.fakes.llm_server import ScriptedLLMServer, agent_role, by_role
from tests.graph.helpers import answer_reply, plan_reply, reason_reply, run


def roles(server: ScriptedLLMServer) -> Counter[str]:
    return Counter(agent_role(body) for body in server.requests)


def requests_of(server: ScriptedLLMServer, role: str) -> list[dict[str, Any]]:
    return [b for b in server.requests if agent_role(b) == role]


def searching_reasoner(body: dict[str, Any]) -> str:
    return reason_reply(next_queries=[f"topic {len(body['messages'][-1]['content']) % 11}"])


async def test_no_reasoning_tokens_means_no_reasoner_call_but_the_run_still_searches() -> None:
    handler = by_role(
        planner=plan_reply(["topic 1", "topic 2", "topic 3"], hops=3),
        reasoner=searching_reasoner,
        answer=answer_reply(),
    )
    budget = Budget(max_tokens=50_000, max_search_steps=3, max_reasoning_tokens=0)
    with ScriptedLLMServer(handler) as server:
        result = await run(server, budget, policy="fixed", shape="sequential")
    assert roles(server)["reasoner"] == 0
    assert result.usage.reasoner_tokens == 0
    assert result.usage.search_steps == 3  # the plan's queries, one round each
    assert result.answer == "Topic 5"


async def test_the_reasoning_cap_sets_how_many_reasoning_calls_a_run_gets() -> None:
    handler = by_role(
        planner=plan_reply(["topic 1"], hops=1),
        # long notes: every call writes all it is allowed
        reasoner=lambda b: reason_reply(
            note="x " * 250, next_queries=[f"topic {len(b['messages'])}"]
        ),
        answer=answer_reply(),
    )
    budget = Budget(
        max_tokens=50_000,
        max_search_steps=8,
        max_reasoning_tokens=250,
        reasoning_step_tokens=100,
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, budget, policy="fixed", shape="sequential")
    # 100 per call; the third gets the 50 left; then no reasoning, yet the run goes on
    assert [b["max_tokens"] for b in requests_of(server, "reasoner")] == [100, 100, 50]
    assert result.usage.reasoner_tokens == 250
    assert result.answer == "Topic 5"


async def test_the_reasoners_own_allowance_is_the_default_step() -> None:
    handler = by_role(
        planner=plan_reply(["topic 1"], hops=1),
        reasoner=lambda b: reason_reply(note="x " * 250, next_queries=["topic 9"]),
        answer=answer_reply(),
    )
    budget = Budget(max_tokens=50_000, max_search_steps=3, max_reasoning_tokens=300)
    with ScriptedLLMServer(handler) as server:
        result = await run(server, budget, policy="fixed", shape="sequential")
    assert [b["max_tokens"] for b in requests_of(server, "reasoner")] == [260, 40]
    assert result.usage.reasoner_tokens == 300


async def test_width_one_is_the_single_greedy_read_of_before() -> None:
    handler = by_role(
        planner=plan_reply(["topic 5"], hops=1), reasoner=reason_reply(), answer=answer_reply()
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget(max_search_steps=1), policy="fixed")
    reads = requests_of(server, "answer")
    assert len(reads) == 1
    assert reads[0]["temperature"] == 0.0 and "seed" not in reads[0]
    assert result.answer == "Topic 5"


async def test_width_reads_n_samples_and_the_majority_wins() -> None:
    replies = iter(["Topic 4", "Topic 5", "topic 5.", "Topic 4"])
    handler = by_role(
        planner=plan_reply(["topic 5"], hops=1),
        reasoner=reason_reply(),
        answer=lambda b: answer_reply(next(replies)),
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget(max_search_steps=1, width=3), policy="fixed")
    reads = requests_of(server, "answer")
    assert [r["temperature"] for r in reads] == [0.0, 0.5, 0.5]
    assert [r.get("seed") for r in reads] == [None, 1, 2]
    assert len({json.dumps(r["messages"]) for r in reads}) == 1  # one prompt: cached after one
    assert result.answer == "Topic 5"  # two of three samples outvote the greedy "Topic 4"
    assert result.usage.llm_calls == roles(server).total()


async def test_a_width_the_budget_cannot_pay_for_is_not_read() -> None:
    handler = by_role(
        planner=plan_reply(["topic 5"], hops=1), reasoner=reason_reply(), answer=answer_reply()
    )
    budget = Budget(max_tokens=1500, max_search_steps=2, width=16, cached_token_rate=1.0)
    with ScriptedLLMServer(handler) as server:
        result = await run(server, budget, policy="fixed")
    assert 1 <= len(requests_of(server, "answer")) < 16
    assert result.usage.weighted_tokens <= 1500 and result.answer == "Topic 5"


async def test_cached_tokens_at_their_rate_buy_more_search_under_the_same_cap() -> None:
    def handler_() -> Any:
        return by_role(
            planner=plan_reply(["topic 1"], hops=1),
            reasoner=searching_reasoner,
            answer=answer_reply(),
        )

    used = {}
    for rate in (1.0, 0.1):
        budget = Budget(max_tokens=5000, max_search_steps=20, cached_token_rate=rate)
        with ScriptedLLMServer(handler_()) as server:
            result = await run(server, budget, policy="fixed", shape="sequential")
        assert result.usage.weighted_tokens <= 5000
        assert result.usage.cached_tokens > 0
        used[rate] = result.usage.search_steps
    assert used[0.1] > used[1.0]
