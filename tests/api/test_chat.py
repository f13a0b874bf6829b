"""The OpenAI-compatible endpoint, driven by the official `openai` client, unchanged."""

from __future__ import annotations

import openai
import pytest

from leadline.api.config import ApiConfig
from tests.api.harness import QUESTION, ApiHarness, Stack, quick_handler, wait_for
from tests.fakes.llm_server import Reply
from tests.graph.helpers import reason_reply


def client_for(api: ApiHarness, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api.base_url}/v1", api_key=key, max_retries=0, timeout=30)


def test_chat_completion_with_the_openai_client(stack: Stack) -> None:
    api = stack.api(config=ApiConfig(api_keys=("sk-test",)))
    with client_for(api, "sk-test") as client:
        completion = client.chat.completions.create(
            model="leadline",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Earlier question?"},
                {"role": "assistant", "content": "Earlier answer."},
                {"role": "user", "content": QUESTION},
            ],
            temperature=0.2,  # accepted and ignored
            extra_body={"leadline": {"budget": {"max_search_steps": 2}, "policy": "fixed"}},
        )
    message = completion.choices[0].message
    assert message.role == "assistant"
    assert message.content == "Topic 5\n\nSources:\n[1] Topic 5 (mem://5)"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "leadline"
    extra = completion.model_extra or {}
    assert [c["passage_id"] for c in extra["citations"]] == ["p5"]
    research_id = extra["leadline"]["research_id"]
    assert completion.id == f"chatcmpl-{research_id}"
    with api.client("sk-test") as http:
        job = wait_for(http, research_id)
    assert job["kind"] == "chat" and job["question"] == QUESTION
    assert job["request"]["policy"] == "fixed"
    spent = job["result"]["usage"]
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 0
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        spent["prompt_tokens"],
        spent["completion_tokens"],
        spent["total_tokens"],
    )
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == spent["cached_tokens"]


def test_streaming_chat_with_the_openai_client(stack: Stack) -> None:
    api = stack.api(
        stack.llm(
            quick_handler(reasoner=Reply(reason_reply("Topic 5", 0.9, done=True), delay_s=0.2))
        )
    )
    with client_for(api) as client:
        chunks = list(
            client.chat.completions.create(
                model="leadline",
                messages=[{"role": "user", "content": QUESTION}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Topic 5\n\nSources:")
    events = [(c.model_extra or {}).get("leadline", {}).get("event") for c in chunks]
    progress = [e for e in events if e]
    kinds = [e["type"] for e in progress]
    assert kinds == ["status", "plan", "search", "reason", "answer"]
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1 and finish[0].choices[0].finish_reason == "stop"
    assert (finish[0].model_extra or {})["citations"][0]["title"] == "Topic 5"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == progress[-1]["spend"]["total_tokens"] > 0
    assert len({c.id for c in chunks}) == 1


def test_streaming_without_usage_option_sends_no_usage_chunk(stack: Stack) -> None:
    api = stack.api()
    with client_for(api) as client:
        chunks = list(
            client.chat.completions.create(
                model="leadline",
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "What is"},
                            {"type": "text", "text": "topic 5?"},
                        ],
                    }
                ],
                stream=True,
            )
        )
    assert all(c.usage is None for c in chunks)
    assert "Topic 5" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_chat_errors_reach_the_openai_client(stack: Stack) -> None:
    api = stack.api(stack.llm(quick_handler(planner=Reply(status=400))))
    with client_for(api) as client:
        with pytest.raises(openai.NotFoundError, match="does not exist"):
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "q"}]
            )
        with pytest.raises(openai.BadRequestError, match="no user message"):
            client.chat.completions.create(
                model="leadline", messages=[{"role": "system", "content": "q"}]
            )
        with pytest.raises(openai.BadRequestError, match="text only"):
            client.chat.completions.create(
                model="leadline",
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}],
                    }
                ],
            )
        with pytest.raises(openai.UnprocessableEntityError, match="max_search_steps"):
            client.chat.completions.create(
                model="leadline",
                messages=[{"role": "user", "content": QUESTION}],
                extra_body={"leadline": {"budget": {"max_search_steps": 99}}},
            )
        # the planner's endpoint refuses: the research fails, and says why
        with pytest.raises(openai.InternalServerError, match="research failed") as failed:
            client.chat.completions.create(
                model="leadline", messages=[{"role": "user", "content": QUESTION}]
            )
        assert failed.value.response.status_code == 502
        assert failed.value.response.headers["x-should-retry"] == "false"
        with pytest.raises(openai.APIError, match="research failed"):
            for _ in client.chat.completions.create(
                model="leadline", stream=True, messages=[{"role": "user", "content": QUESTION}]
            ):
                pass
