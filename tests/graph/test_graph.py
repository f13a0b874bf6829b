from __future__ import annotations

import json
import math
from collections import Counter

import pytest

from leadline.budgets.budget import Budget
from leadline.core import run_graph
from leadline.graph.state import RunSpec
from leadline.tools.llm import LLMClient
from tests.fakes.llm_server import Reply, ScriptedLLMServer, agent_role, by_role, repaired_role
from tests.fakes.search import MemorySearch, make_passages
from tests.graph.helpers import answer_reply, plan_reply, reason_reply, run, spent_within


def roles(server: ScriptedLLMServer) -> Counter[str]:
    return Counter(agent_role(body) for body in server.requests)


async def test_stops_at_the_search_step_cap_and_still_answers() -> None:
    handler = by_role(
        planner=plan_reply(["topic 1"]),
        reasoner=lambda b: reason_reply(next_queries=[f"topic {len(b['messages'][1]['content'])}"]),
        answer=answer_reply(),
    )
    budget = Budget(max_tokens=50_000, max_search_steps=3)
    with ScriptedLLMServer(handler) as server:
        result = await run(server, budget, policy="fixed")
    assert result.stop_reason == "budget"
    assert result.usage.search_steps == 3
    assert result.answer == "Topic 5"
    assert roles(server)["answer"] == 1


async def test_stops_at_the_token_cap_and_the_reserve_pays_for_the_answer() -> None:
    handler = by_role(
        planner=plan_reply(["topic 1"]),
        reasoner=lambda b: reason_reply(
            next_queries=[f"topic {len(b['messages'][1]['content']) % 11}"]
        ),
        answer=answer_reply(),
    )
    budget = Budget(max_tokens=3000, max_search_steps=50)
    with ScriptedLLMServer(handler) as server:
        result = await run(server, budget, policy="fixed")
    assert result.stop_reason == "budget"
    assert result.usage.search_steps < 50
    assert result.usage.weighted_tokens <= 3000
    assert roles(server)["answer"] == 1
    assert result.answer == "Topic 5"  # the final answer came from the LLM, paid by the reserve


async def test_reasoner_done_stops_and_cites_evidence() -> None:
    handler = by_role(
        planner=plan_reply(["topic 5"], hops=1),
        reasoner=reason_reply("topic 5", 0.9, done=True),
        answer=answer_reply("Topic 5 [1]", []),
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget())
    assert result.stop_reason == "done"
    assert result.usage.search_steps == 1
    assert [c.passage_id for c in result.citations] == ["p5"]
    assert result.answer == "Topic 5"


async def test_adaptive_stops_early_when_the_answer_settles() -> None:
    handler = by_role(
        planner=plan_reply(["topic 1", "topic 2", "topic 3"], hops=2),
        reasoner=lambda b: reason_reply("Topic 5", 0.9, next_queries=[f"t{len(str(b))}"]),
        answer=answer_reply(),
    )
    with ScriptedLLMServer(handler) as server:
        adaptive = await run(server, Budget(max_search_steps=8), policy="adaptive")
    with ScriptedLLMServer(handler) as server:
        fixed = await run(server, Budget(max_search_steps=8), policy="fixed")
    assert adaptive.stop_reason == "early_stop"
    assert adaptive.usage["search_steps"] == 2
    assert fixed.usage["search_steps"] == 8


async def test_parallel_shape_fans_out_one_search_per_query() -> None:
    handler = by_role(
        planner=plan_reply(["topic 1", "topic 2", "topic 3"], shape="comparison"),
        reasoner=reason_reply("x", 0.9, done=True),
        answer=answer_reply(),
    )
    search = MemorySearch(make_passages())
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget(), search=search, shape="auto")
    # the question itself leads the first round, then the planner's queries
    assert search.queries == ["Which topic holds fact number 5?", "topic 1", "topic 2"]
    first_round = [e for e in result.events if e.kind == "search"]
    assert len(first_round) == 3 and {e.step for e in first_round} == {1}
    assert len({e.passage_id for e in result.evidence}) == len(result.evidence)


async def test_malformed_model_output_is_repaired_or_ignored_never_a_crash() -> None:
    handler = by_role(
        planner="not json at all",
        repair="still not json",
        reasoner=["{broken", reason_reply("topic 5", 0.9, done=True)],
        answer="```json\n" + answer_reply("Topic 5") + "\n```",
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget())
    assert result.answer == "Topic 5"
    assert result.stop_reason in {"done", "budget"}
    # the planner's and the reasoner's garbage each got one repair call, which failed too
    assert roles(server)["repair"] == 2
    assert result.found == []  # the reasoner's first step had no decision
    # the fallback plan searched the question itself
    assert [e.detail for e in result.events if e.kind == "search"][
        0
    ] == "Which topic holds fact number 5?"


async def test_a_malformed_reply_is_repaired_and_the_repaired_reply_is_used() -> None:
    chatter = "Sure! I would search for topic 7 first."
    handler = by_role(
        planner=chatter,
        repair=plan_reply(["topic 7"], hops=1, shape="comparison"),  # one round, both queries
        reasoner=reason_reply("Topic 7", 0.9, done=True),
        answer=answer_reply("Topic 7"),
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget())
    assert [agent_role(b) for b in server.requests][:2] == ["planner", "repair"]
    assert repaired_role(server.requests[1]) == "planner"
    repair = server.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": chatter}
    assert "not valid JSON for the required schema" in repair[-1]["content"]
    # the repaired plan is what ran: its query was searched, and both calls were paid for
    assert [e.detail for e in result.events if e.kind == "search"][:2] == [
        "Which topic holds fact number 5?",
        "topic 7",
    ]
    planner_calls = [e for e in result.events if e.agent == "planner"]
    assert len(planner_calls) == 2 and all(e.prompt_tokens > 0 for e in planner_calls)
    assert result.answer == "Topic 7"


async def test_a_repaired_reasoner_reply_is_the_step_s_decision() -> None:
    handler = by_role(
        planner=plan_reply([], hops=1),
        reasoner="{broken",
        repair=reason_reply("Topic 5", 0.9, done=True, note="It is [1]."),
        answer=answer_reply("Topic 5"),
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget())
    assert roles(server)["repair"] == 1
    # the repaired reply is the step's decision: its anytime answer, its "done"
    assert [(a.answer, a.confidence) for a in result.anytime] == [("Topic 5", 0.9)]
    assert result.stop_reason == "done" and result.answer == "Topic 5"
    reasoner_calls = [e for e in result.events if e.agent == "reasoner"]
    assert len(reasoner_calls) == 2  # the broken reply and its repair, both booked


async def test_a_premature_done_searches_the_interim_answer_for_the_next_hop() -> None:
    handler = by_role(
        planner=plan_reply([], hops=2),
        reasoner=reason_reply("topic 5", 0.9, done=True),
        answer=answer_reply(),
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget())
    queries = [e.detail for e in result.events if e.kind == "search"]
    assert queries == [
        "Which topic holds fact number 5?",
        "topic 5 Which topic holds fact number 5?",
    ]
    assert result.stop_reason == "done"


async def test_search_backend_down_is_recorded_and_the_run_still_answers() -> None:
    handler = by_role(
        planner=plan_reply(["topic 5"]),
        reasoner=reason_reply("unknown"),
        answer=answer_reply("no idea", []),
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget(max_search_steps=2), search=MemorySearch([], fail=True))
    errors = [e.error for e in result.events if e.kind == "search"]
    assert errors and all("memory backend is down" in e for e in errors)
    assert result.answer == "no idea" and result.citations == []


async def test_llm_down_stops_with_error_and_a_clear_message() -> None:
    with ScriptedLLMServer(lambda b: Reply(status=503)) as server:
        result = await run(server, Budget())
    assert result.stop_reason == "error"
    assert "503" in result.error
    assert result.usage.total_tokens == 0


async def test_ledger_totals_equal_the_sum_of_reported_usage() -> None:
    handler = by_role(
        planner=plan_reply(["topic 5"], hops=1),
        reasoner=reason_reply("t", 0.9, done=True),
        answer=answer_reply(),
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget())
        # the fake server reports exactly what usage_for computed for each request
    llm_events = [e for e in result.events if e.kind == "llm"]
    assert len(llm_events) == len(server.requests) == 3
    assert result.usage.prompt_tokens == sum(e.prompt_tokens for e in llm_events)
    assert 0 < result.usage.cached_tokens < result.usage.prompt_tokens
    assert spent_within(result, Budget())


async def test_the_reader_reads_the_best_pool_passages_not_only_the_workspace() -> None:
    prompts: list[str] = []

    def reader(body: dict) -> str:
        prompts.append(body["messages"][1]["content"])
        return answer_reply("Topic 5.")

    handler = by_role(
        planner=plan_reply([], hops=1),
        reasoner=reason_reply("topic 5", 0.9, done=True),
        answer=reader,
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget(), passages_per_query=4, reader_passages=3)
    assert result.usage.search_steps == 1
    assert len(result.evidence) == 2  # the workspace shows two passages per query
    assert len({h.passage_id for h in result.pool}) == 4  # the pool keeps four
    (prompt,) = prompts
    shown = [line for line in prompt.splitlines() if line.startswith("[")]
    assert len(shown) == 3
    assert shown[-1].startswith("[1] Topic 5:")  # best passage last, nearest the question
    assert prompt.rstrip().endswith('{"answer": "..."}')
    assert result.answer == "Topic 5" and result.answer_source == "reader"
    assert [c.passage_id for c in result.citations] == ["p5"]


@pytest.mark.parametrize(
    "reader_reply",
    ["not json", json.dumps({"answer": "unknown"})],
    ids=["garbage", "unknown"],
)
async def test_when_the_reader_gives_no_answer_the_anytime_answer_is_used_and_said(
    reader_reply: str,
) -> None:
    handler = by_role(
        planner=plan_reply([], hops=1),
        reasoner=reason_reply("Topic 5", 0.9, done=True, note="It is [1]."),
        answer=reader_reply,
        repair="still not json",
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget())
    assert result.answer == "Topic 5"
    assert result.answer_source == "anytime"
    assert result.to_dict()["answer_source"] == "anytime"


async def test_the_found_bridge_entity_is_written_into_the_next_hop_query() -> None:
    handler = by_role(
        planner=plan_reply([], hops=2),
        reasoner=[
            json.dumps(
                {
                    "note": "[1] names topic 7.",
                    "found": "Topic 7",
                    "answer": "unknown",
                    "confidence": 0.2,
                    "done": False,
                    "next_queries": ["the fact about it"],
                }
            ),
            reason_reply("Topic 7", 0.9, done=True),
        ],
        answer=answer_reply("Topic 7"),
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget(max_search_steps=4))
    queries = [e.detail for e in result.events if e.kind == "search"]
    assert queries[:2] == ["Which topic holds fact number 5?", "Topic 7 the fact about it"]
    assert result.found == ["Topic 7"]


async def test_adaptive_does_not_stop_early_before_every_planned_hop_is_searched() -> None:
    handler = by_role(
        planner=plan_reply(["topic 1", "topic 2", "topic 3"], hops=3),
        reasoner=lambda b: reason_reply("Topic 5", 0.95, next_queries=[f"t{len(str(b))}"]),
        answer=answer_reply(),
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget(max_search_steps=8), policy="adaptive")
    assert result.stop_reason == "early_stop"
    assert result.usage.search_steps == 3  # settled after 2, but 3 hops were planned


async def test_a_run_whose_every_reply_is_garbage_ends_as_an_error_not_unknown() -> None:
    with ScriptedLLMServer(lambda b: "garbage, never JSON") as server:
        result = await run(server, Budget(max_search_steps=2))
    assert result.stop_reason == "error"
    assert "no usable reply" in result.error and "answer:" in result.error
    assert result.answer_source == "none"


async def test_one_usable_reply_is_enough_to_not_be_an_error() -> None:
    handler = by_role(
        planner="garbage", repair="garbage", reasoner="garbage", answer=answer_reply("Topic 5")
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget(max_search_steps=2))
    assert result.stop_reason != "error" and result.answer == "Topic 5"


async def test_no_reasoning_call_is_spent_once_no_search_round_is_left() -> None:
    handler = by_role(
        planner=plan_reply(["topic 1"]),
        reasoner=reason_reply(next_queries=["topic 2"]),
        answer=answer_reply(),
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget(max_search_steps=2), policy="fixed")
    assert result.usage.search_steps == 2
    # a reasoning step after the first search chose the second; after the second, none is left
    assert roles(server) == {"planner": 1, "reasoner": 1, "answer": 1}
    assert result.stop_reason == "budget" and result.answer_source == "reader"


def sure_answer(logprob: float) -> Reply:
    """A reader reply whose answer tokens the model gave `logprob` each."""
    tokens = [('{"answer": "', 0.0), ("Topic", logprob), (" 5", logprob), ('"}', 0.0)]
    return Reply('{"answer": "Topic 5"}', logprobs=tokens)


@pytest.mark.parametrize(("logprob", "stops"), [(-0.05, True), (-1.5, False)])
async def test_a_sure_early_read_ends_the_run_after_one_round(logprob: float, stops: bool) -> None:
    handler = by_role(
        planner=plan_reply(["topic 1"], hops=2),
        reasoner=lambda b: reason_reply(next_queries=[f"topic {len(str(b)) % 7}"]),
        answer=sure_answer(logprob),
    )
    budget = Budget(max_search_steps=4)
    with ScriptedLLMServer(handler) as server:
        result = await run(server, budget, policy="fixed", stop_confidence=0.8)
    assert result.answer == "Topic 5"
    assert result.reader_confidence == pytest.approx(math.exp(logprob), abs=1e-3)
    calls = [agent_role(b) for b in server.requests]
    if stops:  # exp(-0.05) = 0.95 >= 0.8: the question's own search, one read, no plan
        assert result.stop_reason == "confident"
        assert calls == ["answer"]
        assert result.usage.search_steps == 1
    else:  # exp(-1.5) = 0.22: plan now, search on to the cap, then the final read
        assert result.stop_reason == "budget"
        assert calls[:3] == ["answer", "planner", "reasoner"]
        # the early read, the final read, and its second look (as unsure, the same answer)
        assert calls.count("answer") == 3 and calls.count("planner") == 1
        assert result.reader_second_look == "Topic 5"
        assert result.usage.search_steps == 4
    assert spent_within(result, budget)


async def test_without_a_stop_confidence_nothing_is_read_early() -> None:
    handler = by_role(
        planner=plan_reply(["topic 1"], hops=2),
        reasoner=lambda b: reason_reply(next_queries=[f"topic {len(str(b)) % 7}"]),
        answer=sure_answer(0.0),
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget(max_search_steps=3), policy="fixed")
    assert result.stop_reason == "budget" and roles(server)["answer"] == 1


async def test_an_endpoint_without_logprobs_is_not_read_early_twice() -> None:
    handler = by_role(
        planner=plan_reply(["topic 1"], hops=2),
        reasoner=lambda b: reason_reply(next_queries=[f"topic {len(str(b)) % 7}"]),
        answer=answer_reply(),  # no log-probabilities
    )
    budget = Budget(max_search_steps=2)
    calls: list[list[str]] = []
    with ScriptedLLMServer(handler) as server:
        llm = LLMClient(base_url=server.base_url, model="scripted", max_retries=0, timeout_s=10)
        for _ in range(2):
            before = len(server.requests)
            spec = RunSpec(
                question="Which topic holds fact number 5?", budget=budget, stop_confidence=0.5
            )
            await run_graph(spec, llm=llm, search=MemorySearch(make_passages()))
            calls.append([agent_role(b) for b in server.requests[before:]])
        await llm.aclose()
    assert llm.gives_logprobs is False
    assert calls[0][:3] == ["answer", "planner", "reasoner"]  # read early, learnt: no logprobs
    assert calls[1][:2] == ["planner", "reasoner"] and calls[1].count("answer") == 1


async def test_a_late_plan_sees_the_first_round_and_a_parallel_run_plans_first() -> None:
    handler = by_role(
        planner=plan_reply(["topic 1", "topic 2"], hops=2, shape="comparison"),
        reasoner=reason_reply(next_queries=["topic 3"]),
        answer=sure_answer(-1.5),  # never sure enough to stop early
    )
    first_calls: dict[str, list[str]] = {}
    for shape in ("auto", "parallel"):
        with ScriptedLLMServer(handler) as server:
            await run(server, Budget(max_search_steps=4), shape=shape, stop_confidence=0.8)
        first_calls[shape] = [agent_role(b) for b in server.requests][:2]
        planner_prompt = next(str(b) for b in server.requests if agent_role(b) == "planner")
        # searched first: the plan is made with the question's own hits in view
        assert ("Topic 5" in planner_prompt) is (shape == "auto")
    assert first_calls == {"auto": ["answer", "planner"], "parallel": ["planner", "answer"]}


async def test_an_unchanged_pool_is_not_read_a_second_time() -> None:
    handler = by_role(
        planner=plan_reply(["topic 1"], hops=2),
        reasoner=reason_reply(next_queries=["topic 2"]),
        answer=sure_answer(-1.5),  # never sure enough to stop early
    )
    with ScriptedLLMServer(handler) as server:  # one search step: nothing changes after it
        result = await run(server, Budget(max_search_steps=1), stop_confidence=0.9)
    assert result.answer == "Topic 5" and result.stop_reason == "budget"
    # the final read would have been the early one: it is not read again, but, unsure, it
    # takes its second look at one passage more
    answers = [b for b in server.requests if agent_role(b) == "answer"]
    assert len(answers) == 2 and result.reader_second_look == "Topic 5"
    assert answers[0]["messages"] != answers[1]["messages"]
