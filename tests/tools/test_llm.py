"""LLMClient against a scripted OpenAI-compatible server: retries, errors, usage, JSON repair."""

from __future__ import annotations

import json
import socket
import time

import pytest
from pydantic import BaseModel

from leadline.budgets.budget import Budget, Spend
from leadline.budgets.guard import BudgetGuard, CallRefused
from leadline.errors import (
    LLMOutputError,
    LLMRequestError,
    LLMTimeout,
    LLMUnavailable,
)
from leadline.tools.llm import Usage, extract_json_text
from leadline.tools.tokens import count_tokens
from tests.fakes.llm_server import Reply

HELLO = [{"role": "user", "content": "hello"}]


class Answer(BaseModel):
    answer: str
    confidence: float


async def test_429_then_success_honours_retry_after(scripted_llm, llm_client) -> None:
    server = scripted_llm(Reply(status=429, headers={"Retry-After": "0.4"}), "fine")
    client = llm_client(server)
    started = time.perf_counter()
    completion = await client.chat(HELLO, max_tokens=8)
    elapsed = time.perf_counter() - started
    assert completion.text == "fine"
    assert len(server.requests) == 2
    # Backoff is 10 ms in tests, so waiting at least 0.4 s proves Retry-After was used.
    assert elapsed >= 0.4


async def test_5xx_until_retries_run_out_is_unavailable(scripted_llm, llm_client) -> None:
    server = scripted_llm(Reply(status=503))
    client = llm_client(server, max_retries=2)
    with pytest.raises(LLMUnavailable, match=r"HTTP 503 until retries ran out"):
        await client.chat(HELLO, max_tokens=8)
    assert len(server.requests) == 3  # the first try plus two retries


async def test_500_then_success_recovers(scripted_llm, llm_client) -> None:
    server = scripted_llm(Reply(status=500), Reply(status=502), "ok")
    completion = await llm_client(server).chat(HELLO, max_tokens=8)
    assert completion.text == "ok"
    assert len(server.requests) == 3


async def test_slow_reply_times_out(scripted_llm, llm_client) -> None:
    server = scripted_llm(Reply(content="late", delay_s=1.5))
    client = llm_client(server, timeout_s=0.2, max_retries=1)
    started = time.perf_counter()
    with pytest.raises(LLMTimeout, match="did not answer within 0.2s"):
        await client.chat(HELLO, max_tokens=8)
    assert len(server.requests) == 2  # timeouts are retried, then reported
    assert time.perf_counter() - started < 1.5


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_4xx_fails_at_once_without_retry(scripted_llm, llm_client, status: int) -> None:
    server = scripted_llm(Reply(status=status))
    with pytest.raises(LLMRequestError, match=f"HTTP {status}"):
        await llm_client(server).chat(HELLO, max_tokens=8)
    assert len(server.requests) == 1


async def test_unreachable_endpoint_is_unavailable(llm_client) -> None:
    with socket.socket() as sock:  # a port that nothing listens on once the socket closes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = llm_client(f"http://127.0.0.1:{port}/v1", max_retries=1)
    with pytest.raises(LLMUnavailable, match="cannot reach the LLM endpoint"):
        await client.chat(HELLO, max_tokens=8)


async def test_usage_reports_cached_prefix_tokens(scripted_llm, llm_client) -> None:
    server = scripted_llm("one", "two")
    client = llm_client(server)
    prefix = "shared evidence paragraph. " * 60
    first = await client.chat([{"role": "user", "content": prefix + "first?"}], max_tokens=8)
    second = await client.chat([{"role": "user", "content": prefix + "second?"}], max_tokens=8)
    assert first.usage.cached_tokens == 0
    assert first.usage.prompt_tokens > 200
    assert first.usage.completion_tokens == 1
    assert 200 < second.usage.cached_tokens < second.usage.prompt_tokens
    assert second.usage.uncached_prompt_tokens == (
        second.usage.prompt_tokens - second.usage.cached_tokens
    )
    assert second.usage.latency_s > 0


async def test_usage_without_cache_details_and_with_reasoning(scripted_llm, llm_client) -> None:
    plain = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    reasoning = {
        **plain,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }
    server = scripted_llm(Reply("a", usage=plain), Reply("b", usage=reasoning))
    client = llm_client(server)
    first = (await client.chat(HELLO, max_tokens=8)).usage
    second = (await client.chat(HELLO, max_tokens=8)).usage
    assert (first.prompt_tokens, first.cached_tokens, first.completion_tokens) == (12, 0, 3)
    assert first.reasoning_tokens == 0 and first.total_tokens == 15
    assert (second.cached_tokens, second.reasoning_tokens) == (4, 2)


async def test_chat_json_sends_schema_and_parses_fenced_reply(scripted_llm, llm_client) -> None:
    server = scripted_llm('```json\n{"answer": "Paris", "confidence": 0.9}\n```')
    parsed, calls = await llm_client(server).chat_json(HELLO, Answer, max_tokens=64)
    assert parsed == Answer(answer="Paris", confidence=0.9)
    assert len(calls) == 1
    fmt = server.requests[0]["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["schema"]["required"] == ["answer", "confidence"]


async def test_chat_json_without_schema_support_omits_response_format(
    scripted_llm, llm_client
) -> None:
    server = scripted_llm('Sure! {"answer": "x", "confidence": 1} Hope that helps.')
    client = llm_client(server, json_schema_supported=False)
    parsed, _ = await client.chat_json(HELLO, Answer, max_tokens=64)
    assert parsed.answer == "x"
    assert "response_format" not in server.requests[0]


async def test_chat_json_repairs_garbage_once(scripted_llm, llm_client) -> None:
    server = scripted_llm("I think the answer is Paris.", '{"answer": "Paris", "confidence": 0.5}')
    parsed, calls = await llm_client(server).chat_json(HELLO, Answer, max_tokens=64)
    assert parsed.answer == "Paris"
    assert len(calls) == 2
    repair = server.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "I think the answer is Paris."}
    assert "not valid JSON" in repair[-1]["content"]


async def test_chat_json_gives_up_after_one_repair(scripted_llm, llm_client) -> None:
    server = scripted_llm("garbage", '{"answer": "no confidence"}')
    with pytest.raises(LLMOutputError, match="after one repair") as info:
        await llm_client(server).chat_json(HELLO, Answer, max_tokens=64)
    assert info.value.raw == '{"answer": "no confidence"}'
    assert len(server.requests) == 2


async def test_guard_can_veto_before_any_request(scripted_llm, llm_client) -> None:
    class Veto:
        def before(self, messages, max_tokens) -> None:
            raise RuntimeError("over budget")

        def after(self, completion) -> None:  # pragma: no cover - never reached
            raise AssertionError

        def unanswered(self, messages, max_tokens) -> None:  # pragma: no cover - never reached
            raise AssertionError

    server = scripted_llm("unused")
    with pytest.raises(RuntimeError, match="over budget"):
        await llm_client(server).chat(HELLO, max_tokens=8, guard=Veto())
    assert server.requests == []


async def test_guard_sees_each_completion(scripted_llm, llm_client) -> None:
    seen: list[Usage] = []

    class Recorder:
        def before(self, messages, max_tokens) -> None:
            pass

        def after(self, completion) -> None:
            seen.append(completion.usage)

        def unanswered(self, messages, max_tokens) -> None:  # pragma: no cover - never reached
            raise AssertionError

    server = scripted_llm("x")
    await llm_client(server).chat(HELLO, max_tokens=8, guard=Recorder())
    assert len(seen) == 1 and seen[0].prompt_tokens > 0


async def test_extra_body_reaches_the_server(scripted_llm, llm_client) -> None:
    server = scripted_llm("x")
    client = llm_client(server, extra_body={"cache_prompt": True})
    await client.chat(HELLO, max_tokens=8, extra_body={"id_slot": 1})
    assert server.requests[0]["id_slot"] == 1 and server.requests[0]["cache_prompt"] is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', '{"a": 1}'),
        ('```json\n{"a": 1}\n```', '{"a": 1}'),
        ('```\n{"a": {"b": 2}}\n```', '{"a": {"b": 2}}'),
        ('Here you go: {"a": 1} done', '{"a": 1}'),
        ("no json", "no json"),
    ],
)
def test_extract_json_text(text: str, expected: str) -> None:
    assert extract_json_text(text) == expected


def completion_without_usage(content: str) -> str:
    return json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "scripted",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
        }
    )


async def test_a_server_that_reports_no_usage_is_charged_our_estimate(
    scripted_llm, llm_client
) -> None:
    server = scripted_llm(Reply(raw_body=completion_without_usage("Paris is the capital")))
    guard = BudgetGuard(Budget(max_tokens=2000), Spend(), reserve=Spend(), agent="t", step=0)
    completion = await llm_client(server).chat(HELLO, max_tokens=32, guard=guard)
    usage = completion.usage
    assert usage.estimated and usage.prompt_tokens > 0
    assert usage.completion_tokens == count_tokens("Paris is the capital")
    assert guard.events[0].total_tokens == usage.total_tokens
    assert "estimated" in guard.events[0].detail


async def test_a_timed_out_attempt_is_booked_at_its_worst_case_and_the_retry_rechecked(
    scripted_llm, llm_client
) -> None:
    server = scripted_llm(Reply(content="late", delay_s=1.0), "on time")
    client = llm_client(server, timeout_s=0.3, max_retries=2)
    roomy = BudgetGuard(Budget(max_tokens=4000), Spend(), reserve=Spend(), agent="t", step=0)
    assert (await client.chat(HELLO, max_tokens=500, guard=roomy)).text == "on time"
    lost, answered = roomy.events
    assert lost.error.startswith("timed out") and lost.completion_tokens == 500
    assert answered.error == "" and answered.completion_tokens > 0

    # room for one worst case only: the timed-out attempt uses it, so no retry is sent
    server = scripted_llm(Reply(content="late", delay_s=1.0), "on time")
    client = llm_client(server, timeout_s=0.3, max_retries=2)
    tight = BudgetGuard(Budget(max_tokens=900), Spend(), reserve=Spend(), agent="t", step=0)
    with pytest.raises(CallRefused):
        await client.chat(HELLO, max_tokens=500, guard=tight)
    assert len(server.requests) == 1
    assert sum(e.total_tokens for e in tight.events) <= 900


async def test_logprobs_are_asked_for_only_when_wanted_and_parsed(scripted_llm, llm_client) -> None:
    tokens = [
        ('{"', -0.01),
        ("answer", 0.0),
        ('":"', 0.0),
        ("Par", -0.4),
        ("is", -0.1),
        ('"}', 0.0),
    ]
    server = scripted_llm(Reply('{"answer":"Paris"}', logprobs=tokens), Reply("plain"))
    client = llm_client(server)
    asked = await client.chat(HELLO, max_tokens=8, logprobs=True)
    plain = await client.chat(HELLO, max_tokens=8)
    assert server.requests[0]["logprobs"] is True and "logprobs" not in server.requests[1]
    assert asked.token_logprobs == tuple(tokens)
    assert plain.token_logprobs == ()


async def test_a_server_without_logprobs_gives_none(scripted_llm, llm_client) -> None:
    server = scripted_llm("no logprobs here")
    completion = await llm_client(server).chat(HELLO, max_tokens=8, logprobs=True)
    assert completion.token_logprobs == ()
