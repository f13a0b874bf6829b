"""API keys, the bind check, body and budget limits, per-key job limits, and bad inputs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from leadline.api.config import ApiConfig, load_api_config
from leadline.api.server import check_bind
from leadline.cli import main
from leadline.errors import ConfigError
from tests.api.harness import QUESTION, Stack, quick_handler, submit, wait_for
from tests.fakes.llm_server import Reply

KEYS = ("key-alice", "key-bob")


def error_of(response) -> dict:  # type: ignore[no-untyped-def]
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["message"] and body["error"]["type"]
    return body["error"]  # type: ignore[no-any-return]


def test_api_keys_are_required_and_scope_jobs(stack: Stack) -> None:
    api = stack.api(config=ApiConfig(api_keys=KEYS))
    with api.client() as anonymous:
        response = anonymous.post("/v1/research", json={"question": QUESTION})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "missing API key" in error_of(response)["message"]
        assert anonymous.get("/v1/research").status_code == 401
        assert anonymous.get("/healthz").status_code == 200  # health needs no key
    with api.client("not-a-key") as wrong:
        assert error_of(wrong.get("/v1/research"))["code"] == "invalid_api_key"
    with api.client("key-alice") as alice, api.client("key-bob") as bob:
        job_id = submit(alice)
        assert wait_for(alice, job_id)["status"] == "succeeded"
        assert bob.get(f"/v1/research/{job_id}").status_code == 404  # not bob's
        assert bob.post(f"/v1/research/{job_id}/cancel").status_code == 404
        assert bob.get(f"/v1/research/{job_id}/events").status_code == 404
        assert bob.get("/v1/research").json()["data"] == []
        assert [j["id"] for j in alice.get("/v1/research").json()["data"]] == [job_id]


def test_non_loopback_hosts_need_api_keys(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_bind(host, ApiConfig())
    for host in ("0.0.0.0", "192.168.1.5", "example.org", "::"):
        with pytest.raises(ConfigError, match="LEADLINE_API_KEYS"):
            check_bind(host, ApiConfig())
        check_bind(host, ApiConfig(api_keys=("k",)))
    monkeypatch.delenv("LEADLINE_API_KEYS", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "refusing to listen on 0.0.0.0" in capsys.readouterr().err
    assert load_api_config({"LEADLINE_API_KEYS": " a, ,b "}).api_keys == ("a", "b")
    assert "secret" not in repr(ApiConfig(api_keys=("secret",)))


def test_body_size_limit(stack: Stack) -> None:
    api = stack.api(config=ApiConfig(max_body_bytes=2048))
    with api.client() as client:
        big = client.post("/v1/research", json={"question": "x" * 3000})
        assert big.status_code == 413
        assert "limit of 2048 bytes" in error_of(big)["message"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield b'{"question": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}'

        streamed = client.post(
            "/v1/research", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert submit(client)  # small bodies still pass


def test_budgets_are_bounded_by_the_server(stack: Stack) -> None:
    api = stack.api(config=ApiConfig(max_tokens=8000, max_search_steps=2, max_compute=5000))
    with api.client() as client:
        cases = {
            "max_tokens": ({"max_tokens": 9000}, "above this server's maximum of 8000"),
            "max_search_steps": ({"max_search_steps": None}, "cannot be unlimited"),
            "max_compute": ({"max_compute": 6000}, "maximum of 5000"),
            "small": ({"max_tokens": 10}, "too small to plan and answer"),
            "unknown": ({"max_tokns": 10}, "budget.max_tokns: Extra inputs are not permitted"),
        }
        for name, (budget, message) in cases.items():
            response = client.post("/v1/research", json={"question": QUESTION, "budget": budget})
            assert response.status_code == 422, name
            assert message in error_of(response)["message"], name
        job = wait_for(client, submit(client))
        assert job["request"]["budget"]["max_tokens"] == 8000  # defaults lowered to the maxima
        assert job["request"]["budget"]["max_search_steps"] == 2
        assert job["request"]["budget"]["max_compute"] == 5000
        assert job["result"]["usage"]["total_tokens"] <= 8000


def test_per_key_concurrent_job_limit(stack: Stack) -> None:
    llm = stack.llm(quick_handler(planner=Reply("{}", delay_s=1.5)))
    api = stack.api(llm, config=ApiConfig(api_keys=KEYS, max_jobs_per_key=2))
    with api.client("key-alice") as alice, api.client("key-bob") as bob:
        first, _second = submit(alice), submit(alice)
        refused = alice.post("/v1/research", json={"question": QUESTION})
        assert refused.status_code == 429
        assert error_of(refused)["code"] == "too_many_jobs"
        assert "2 unfinished job(s)" in error_of(refused)["message"]
        chat = alice.post(
            "/v1/chat/completions",
            json={"model": "leadline", "messages": [{"role": "user", "content": QUESTION}]},
        )
        assert chat.status_code == 429  # chat completions are jobs too
        assert submit(bob)  # another key is not affected
        alice.post(f"/v1/research/{first}/cancel")
        assert submit(alice)  # a slot is free again


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("post", "/v1/research", b"{not json", 400, "not valid JSON"),
        ("post", "/v1/research", b"", 422, "request body is missing"),
        ("post", "/v1/research", {"question": "   "}, 422, "the question is empty"),
        ("post", "/v1/research", {"question": "x" * 5000}, 422, "the limit is 4000"),
        ("post", "/v1/research", {"question": 5}, 422, "question: Input should be a valid string"),
        ("post", "/v1/research", {}, 422, "question: Field required"),
        ("post", "/v1/research", {"question": "q", "policy": "greedy"}, 422, "policy:"),
        ("post", "/v1/research", {"question": "q", "shape": 3}, 422, "shape:"),
        ("post", "/v1/research", {"question": "q", "colour": "red"}, 422, "colour: Extra inputs"),
        ("post", "/v1/research", {"question": "q", "collection": "../etc"}, 422, "collection:"),
        ("post", "/v1/research", ["question"], 422, "valid dictionary"),
        ("get", "/v1/research?limit=0", None, 422, "limit:"),
        ("get", "/v1/research?limit=1000", None, 422, "limit:"),
        ("get", "/v1/research?cursor=abc", None, 422, "cursor must be"),
        ("get", "/v1/research?status=done", None, 422, "status:"),
        ("get", "/v1/research/nope", None, 404, "no research job with id 'nope'"),
        ("post", "/v1/research/nope/cancel", None, 404, "no research job"),
        ("get", "/v1/research/nope/events", None, 404, "no research job"),
        ("get", "/v1/research/x/events?after=-1", None, 422, "after:"),
        ("delete", "/v1/research", None, 405, "Method Not Allowed"),
        ("get", "/v2/anything", None, 404, "no such route"),
        ("post", "/v1/chat/completions", {"model": "leadline", "messages": []}, 422, "messages:"),
        (
            "post",
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "q"}]},
            422,
            "model: Field required",
        ),
        (
            "post",
            "/v1/chat/completions",
            {"model": "leadline", "n": 2, "messages": [{"role": "user", "content": "q"}]},
            400,
            "n must be 1",
        ),
        (
            "post",
            "/v1/chat/completions",
            {
                "model": "leadline",
                "tools": [{"type": "function"}],
                "messages": [{"role": "user", "content": "q"}],
            },
            400,
            "does not call tools",
        ),
    ],
)
def test_bad_inputs_get_a_clear_4xx(shared_api, method, path, body, status, message) -> None:  # type: ignore[no-untyped-def]
    with shared_api.client() as client:
        if isinstance(body, bytes):
            response = client.request(
                method, path, content=body, headers={"Content-Type": "application/json"}
            )
        else:
            response = client.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert message in error_of(response)["message"]
