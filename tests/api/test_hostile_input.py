"""Hostile and broken input over HTTP: budgets that are not numbers, text that is not Unicode,
endpoints that answer with something that is not a chat completion, absurd cursors."""

from __future__ import annotations

import json

import pytest

from leadline.api.config import ApiConfig
from tests.api.harness import QUESTION, Stack, submit, wait_for
from tests.fakes.llm_server import not_json

RAW = {"Content-Type": "application/json"}


def chat_body(budget: str) -> bytes:
    """A chat request whose `leadline.budget` is raw JSON text (NaN cannot be sent otherwise)."""
    return (
        '{"model": "leadline", "messages": [{"role": "user", "content": "' + QUESTION + '"}], '
        '"leadline": {"budget": ' + budget + "}}"
    ).encode()


@pytest.mark.parametrize(
    "budget",
    [
        '{"max_compute": NaN}',
        '{"max_compute": Infinity}',
        '{"max_compute": -Infinity}',
        '{"max_compute": -1}',
        '{"max_compute": 1e999}',
        '{"max_compute": "2000"}',
        '{"max_tokens": NaN}',
        '{"max_tokens": "8000"}',
        '{"max_tokens": 1e999}',
        '{"max_search_steps": -1}',
        '{"max_search_steps": 1e30}',
        '{"answer_tokens": 100000}',
        '{"max_compute": null}',
    ],
)
def test_a_budget_that_is_not_a_finite_number_in_range_is_refused(
    shared_api_limited: object, budget: str
) -> None:
    api = shared_api_limited
    with api.client() as client:  # type: ignore[attr-defined]
        research = client.post(
            "/v1/research",
            content=('{"question": "' + QUESTION + '", "budget": ' + budget + "}").encode(),
            headers=RAW,
        )
        chat = client.post("/v1/chat/completions", content=chat_body(budget), headers=RAW)
        listed = client.get("/v1/research").json()["data"]
    for response in (research, chat):
        assert response.status_code == 422, (budget, response.text)
        assert "budget" in response.json()["error"]["message"]
    assert listed == []  # nothing was accepted, so nothing ran


@pytest.fixture(scope="module")
def shared_api_limited(tmp_path_factory: pytest.TempPathFactory) -> object:
    stack = Stack(tmp_path_factory.mktemp("limited"))
    try:
        yield stack.api(config=ApiConfig(max_compute=2000))
    finally:
        stack.close()


def test_nan_cannot_lift_the_servers_compute_limit(stack: Stack) -> None:
    """The issue's case: NaN passed every `>` check, so the job ran with no compute cap."""
    api = stack.api(config=ApiConfig(max_compute=2000))
    with api.client() as client:
        body = '{"question": "' + QUESTION + '", "budget": {"max_compute": NaN}}'
        refused = client.post("/v1/research", content=body.encode(), headers=RAW)
        assert refused.status_code == 422
        assert "finite" in refused.json()["error"]["message"]
        job = wait_for(client, submit(client))
    assert job["request"]["budget"]["max_compute"] == 2000


@pytest.mark.parametrize("where", ["question", "chat", "field name"])
def test_text_that_is_not_unicode_is_refused_with_a_4xx(stack: Stack, where: str) -> None:
    api = stack.api()
    lone = "\\ud800"  # a JSON escape of a lone surrogate: valid JSON, not encodable text
    bodies = {
        "question": ("/v1/research", '{"question": "What is ' + lone + '?"}'),
        "chat": (
            "/v1/chat/completions",
            '{"model": "leadline", "messages": [{"role": "user", "content": "Why ' + lone + '?"}]}',
        ),
        "field name": ("/v1/research", '{"question": "q", "' + lone + '": 1}'),
    }
    path, body = bodies[where]
    with api.client() as client:
        response = client.post(path, content=body.encode(), headers=RAW)
        assert 400 <= response.status_code < 500, response.text
        error = response.json()["error"]
        if where != "field name":
            assert "not valid Unicode" in error["message"]
        assert wait_for(client, submit(client))["status"] == "succeeded"  # the server is fine


def test_an_endpoint_answering_html_fails_the_job_with_a_clear_reason(stack: Stack) -> None:
    llm = stack.llm(lambda _body: not_json())
    api = stack.api(llm)
    with api.client() as client:
        job = wait_for(client, submit(client))
        chat = client.post(
            "/v1/chat/completions",
            json={"model": "leadline", "messages": [{"role": "user", "content": QUESTION}]},
        )
    assert job["status"] == "failed"
    assert "not a chat completion (not JSON" in job["error"]
    assert "internal error" not in job["error"]
    assert chat.status_code == 502
    assert "not a chat completion (not JSON" in chat.json()["error"]["message"]


@pytest.mark.parametrize(
    "query",
    [
        "cursor=9223372036854775808",
        "cursor=99999999999999999999999999",
        "cursor=%C2%B2",  # '²' is a digit to str.isdigit, not to int()
        "cursor=-1",
    ],
)
def test_a_cursor_out_of_range_is_a_4xx_not_a_crash(shared_api: object, query: str) -> None:
    with shared_api.client() as client:  # type: ignore[attr-defined]
        response = client.get(f"/v1/research?{query}")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_event_numbers_out_of_range_are_refused_or_ignored(stack: Stack) -> None:
    api = stack.api()
    with api.client() as client:
        job_id = submit(client)
        wait_for(client, job_id)
        huge = client.get(f"/v1/research/{job_id}/events?after=9223372036854775808")
        assert huge.status_code == 422
        with client.stream(
            "GET",
            f"/v1/research/{job_id}/events",
            headers={"Last-Event-ID": "99999999999999999999999"},
        ) as replay:
            assert replay.status_code == 200
            text = "".join(replay.iter_text())
    assert "event: result" in text
    assert json.loads(text.split("data: ")[-1])["status"] == "succeeded"


@pytest.mark.parametrize(
    ("headers", "method", "status"),
    [
        ({"Host": "attacker.example:8000"}, "get", 403),  # DNS rebinding: a foreign name
        ({"Host": "attacker.example"}, "post", 403),
        ({"Origin": "http://attacker.example"}, "post", 403),  # a web page posting cross-site
        ({"Origin": "null"}, "post", 403),
        ({"Host": "localhost:8000", "Origin": "http://localhost:3000"}, "post", 202),
        ({"Host": "[::1]:8000"}, "get", 200),
        ({"Origin": "http://attacker.example"}, "get", 200),  # reads are same-origin-protected
    ],
)
def test_host_and_origin_must_be_this_server_without_keys(
    shared_api: object, headers: dict[str, str], method: str, status: int
) -> None:
    with shared_api.client() as client:  # type: ignore[attr-defined]
        if method == "post":
            response = client.post("/v1/research", json={"question": QUESTION}, headers=headers)
        else:
            response = client.get("/v1/research", headers=headers)
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["error"]["code"] == "host_not_allowed"


def test_allowed_hosts_and_keys_open_other_names(stack: Stack) -> None:
    named = stack.api(config=ApiConfig(allowed_hosts=("research.internal",)))
    with named.client() as client:
        assert client.get("/v1/research", headers={"Host": "research.internal"}).status_code == 200
        assert client.get("/v1/research", headers={"Host": "other.internal"}).status_code == 403
    keyed = stack.api(config=ApiConfig(api_keys=("k",)))
    with keyed.client("k") as client:  # a page cannot send a key it does not know
        assert client.get("/v1/research", headers={"Host": "any.example"}).status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "status"),
    [
        ("max_tokens", -1, 400),
        ("max_tokens", 10**9, 400),
        ("max_tokens", 8, 400),
        ("max_completion_tokens", 5000, 400),
        ("max_tokens", "64", 422),
        ("max_tokens", 1.5, 422),
    ],
)
def test_chat_max_tokens_out_of_range_is_refused(
    shared_api: object, field: str, value: object, status: int
) -> None:
    body = {"model": "leadline", "messages": [{"role": "user", "content": QUESTION}], field: value}
    with shared_api.client() as client:  # type: ignore[attr-defined]
        response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == status, response.text
    assert field in response.text


def test_chat_max_tokens_is_the_answer_allowance(stack: Stack) -> None:
    api = stack.api()
    body = {"model": "leadline", "messages": [{"role": "user", "content": QUESTION}]}
    with api.client() as client:
        reply = client.post("/v1/chat/completions", json={**body, "max_tokens": 64})
        assert reply.status_code == 200, reply.text
        job = client.get(f"/v1/research/{reply.json()['leadline']['research_id']}").json()
    assert job["request"]["budget"]["answer_tokens"] == 64


def test_a_chat_client_that_hangs_up_cancels_its_research(stack: Stack) -> None:
    import httpx

    from tests.api.harness import quick_handler
    from tests.fakes.llm_server import Reply
    from tests.graph.helpers import plan_reply

    llm = stack.llm(quick_handler(planner=Reply(plan_reply(["topic 5"], hops=1), delay_s=1.5)))
    api = stack.api(llm)
    body = {"model": "leadline", "messages": [{"role": "user", "content": QUESTION}]}
    with (
        httpx.Client(base_url=api.base_url, timeout=0.3) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        impatient.post("/v1/chat/completions", json=body)
    with api.client() as client:
        job_id = client.get("/v1/research").json()["data"][0]["id"]
        job = wait_for(client, job_id)
    assert job["status"] == "cancelled"
