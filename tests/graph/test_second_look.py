"""The second look: an unsure final read reads one passage more and keeps the surer answer."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from leadline.agents.workspace import PoolHit
from leadline.budgets.budget import Budget, Spend
from leadline.budgets.guard import BudgetGuard
from leadline.graph.read import (
    SECOND_LOOK_BELOW,
    keeps_second_look,
    needs_second_look,
    read_pool,
    second_look,
)
from leadline.graph.state import FinalAnswer, RunSpec
from leadline.tools.llm import LLMClient
from tests.fakes.llm_server import Reply, ScriptedLLMServer, agent_role, by_role
from tests.graph.helpers import passages_shown, plan_reply, reason_reply, run, spent_within

UNSURE, SURE = math.log(0.3), math.log(0.7)  # per answer token


def read(answer: str, logprob: float | None) -> FinalAnswer:
    logprobs = () if logprob is None else (logprob, logprob)
    return FinalAnswer(answer=answer, citations=(), source="reader", answer_logprobs=logprobs)


def test_only_an_unsure_single_read_looks_again() -> None:
    assert needs_second_look(read("Ann", UNSURE), width=1)
    assert needs_second_look(read("Ann", None), width=1)  # a held re-read: no log-probabilities
    assert not needs_second_look(read("Ann", math.log(SECOND_LOOK_BELOW) + 0.01), width=1)
    assert not needs_second_look(read("Ann", UNSURE), width=3)  # a wider read votes instead


@pytest.mark.parametrize(
    ("first", "other", "keeps"),
    [
        (("Ann", UNSURE), ("Bo", SURE), True),
        (("Ann", SURE), ("Bo", UNSURE), False),  # less sure
        (("Ann", UNSURE), ("ANN.", SURE), False),  # the same answer
        (("Ann", UNSURE), ("unknown", SURE), False),
        (("Ann", None), ("Bo", UNSURE), True),  # a held re-read is the least sure
        (("Ann", UNSURE), ("Bo", None), False),
    ],
)
def test_the_second_look_is_kept_only_when_the_reader_is_surer_of_a_different_answer(
    first: tuple[str, float | None], other: tuple[str, float | None], keeps: bool
) -> None:
    a, b = read(*first), read(*other)
    assert keeps_second_look(a.answer, a.answer_logprobs, b.answer, b.answer_logprobs) is keeps


def reader_by_passages(two: tuple[str, float], three: tuple[str, float]) -> Any:
    """A reader that answers `two` when shown two passages, `three` when shown three."""

    def reply(body: dict[str, Any]) -> Reply:
        answer, logprob = two if passages_shown(body) <= 2 else three
        tokens = [('{"answer": "', 0.0), (answer, logprob), ('"}', 0.0)]
        return Reply(f'{{"answer": "{answer}"}}', logprobs=tokens)

    return reply


@pytest.mark.parametrize(
    ("three", "expected"),
    [(("Topic 7", SURE), "Topic 7"), (("Topic 7", math.log(0.1)), "Topic 4")],
)
async def test_an_unsure_final_read_keeps_the_surer_of_two_looks(
    three: tuple[str, float], expected: str
) -> None:
    handler = by_role(
        planner=plan_reply(["topic 1"], hops=2),
        reasoner=reason_reply(next_queries=["topic 2"]),
        answer=reader_by_passages(("Topic 4", UNSURE), three),
    )
    budget = Budget(max_search_steps=2)
    with ScriptedLLMServer(handler) as server:
        result = await run(server, budget, policy="fixed")
    reads = [b["messages"] for b in server.requests if agent_role(b) == "answer"]
    assert [passages_shown({"messages": m}) for m in reads] == [2, 3]  # then one passage more
    assert reads[1][: len(reads[0])] == reads[0]  # the look goes on in the read's conversation
    assert reads[1][len(reads[0])]["role"] == "assistant"
    assert result.answer == expected and result.reader_second_look == "Topic 7"
    assert result.usage.llm_calls == len(server.requests)  # the second look is counted
    assert spent_within(result, budget)


async def test_a_sure_final_read_does_not_look_again() -> None:
    handler = by_role(
        planner=plan_reply(["topic 1"], hops=2),
        reasoner=reason_reply(next_queries=["topic 2"]),
        answer=reader_by_passages(("Topic 4", math.log(0.9)), ("Topic 7", 0.0)),
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget(max_search_steps=2), policy="fixed")
    assert [agent_role(b) for b in server.requests].count("answer") == 1
    assert result.answer == "Topic 4" and result.reader_second_look == ""


async def test_a_second_look_the_budget_cannot_pay_for_is_not_taken() -> None:
    handler = by_role(answer=reader_by_passages(("Topic 4", UNSURE), ("Topic 7", SURE)))
    hits = [
        PoolHit(f"p{i}", f"Topic {i}", f"Topic {i} holds fact number {i}.", "mem", "topic", i, 1)
        for i in range(4)
    ]
    spec = RunSpec(question="Which topic holds fact number 5?", budget=Budget(max_tokens=400))
    with ScriptedLLMServer(handler) as server:
        llm = LLMClient(base_url=server.base_url, model="scripted", max_retries=0, timeout_s=10)
        spent = Spend(prompt_tokens=390)  # ten tokens left: no read fits
        guard = BudgetGuard(spec.budget, spent, reserve=Spend(), agent="answer", step=0)
        try:
            first = replace(
                read("Topic 4", UNSURE),
                conversation=(
                    {"role": "user", "content": "[1] Topic 0: ...\n[2] Topic 1: ..."},
                    {"role": "assistant", "content": '{"answer": "Topic 4"}'},
                ),
                passage_ids=("p0", "p1"),
            )
            looked = await second_look(llm, spec, [], hits, guard, {}, first)
        finally:
            await llm.aclose()
    assert looked is first and server.requests == [] and guard.events == []


@pytest.mark.model
async def test_the_embedded_server_computes_only_the_second_looks_new_turn(
    embedded_model: str,
) -> None:
    """Through llama.cpp: an unsure read of two passages looks at the third in the same
    conversation, so the server serves the whole first read from its prefix cache."""
    texts = {
        "Kestrel Bridge": "The Kestrel Bridge is a steel arch bridge in Dundee, built between "
        "1961 and 1964 by Marlow & Finch.",
        "Marlow & Finch": "Marlow & Finch is a Scottish engineering firm founded in 1884 in "
        "Dundee. In 2010 it employed 4,300 people.",
        "Dundee": "Dundee is a city on the east coast of Scotland, on the Firth of Tay.",
    }
    hits = [
        PoolHit(f"p{i}", title, text, "mem", "Kestrel Bridge", i, 1)
        for i, (title, text) in enumerate(texts.items())
    ]
    spec = RunSpec(question="Which firm built the Kestrel Bridge?", kv_mode="isolated")
    guard = BudgetGuard(spec.budget, Spend(), reserve=Spend(), agent="answer", step=0)
    llm = LLMClient(base_url=embedded_model, model="m", timeout_s=300)
    try:
        first = await read_pool(llm, spec, [], hits, guard, {})
        assert first is not None and len(first.passage_ids) == 2
        unsure = replace(first, answer_logprobs=())  # as a held re-read: it looks again
        looked = await second_look(llm, spec, [], hits, guard, {}, unsure)
    finally:
        await llm.aclose()
    read_call, look_call = guard.events
    assert look_call.cached_tokens >= read_call.prompt_tokens  # the first read, and its reply
    assert looked.second_look
    assert "Marlow" in looked.answer
