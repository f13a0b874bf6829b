"""Research jobs over a real server: submit, read, follow live over SSE, cancel, list."""

from __future__ import annotations

import re
from collections import Counter

from leadline.api.config import ApiConfig
from leadline.tools.search.base import Passage
from tests.api.harness import (
    QUESTION,
    Stack,
    quick_handler,
    scripted_factory,
    sse_events,
    submit,
    wait_for,
)
from tests.fakes.llm_server import Reply, agent_role
from tests.fakes.search import MemorySearch
from tests.graph.helpers import reason_reply


def test_submit_then_read_the_result_and_ledger(stack: Stack) -> None:
    llm = stack.llm()
    api = stack.api(llm)
    with api.client() as client:
        response = client.post(
            "/v1/research", json={"question": QUESTION, "budget": {"max_search_steps": 3}}
        )
        assert response.status_code == 202
        body = response.json()
        assert set(body) == {"id", "status"} and body["status"] == "queued"
        assert response.headers["location"] == f"/v1/research/{body['id']}"
        job = wait_for(client, body["id"])
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["answer"] == "Topic 5"
    assert result["stop_reason"] == "done"
    assert [c["passage_id"] for c in result["citations"]] == ["p5"]
    assert result["caps"]["max_search_steps"] == 3
    assert job["request"]["budget"]["max_search_steps"] == 3
    usage = result["usage"]
    assert usage["search_steps"] == 1 and usage["llm_calls"] == 3
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert job["ledger"]["totals"] == usage
    assert set(job["ledger"]["by_agent"]) == {"planner", "searcher", "reasoner", "answer"}
    assert job["attempts"] == 1 and job["error"] is None and job["finished_at"]
    # the ledger is the server's own count: three LLM calls, as the scripted server saw
    roles = Counter(agent_role(b) for b in llm.requests)
    assert roles == {"planner": 1, "reasoner": 1, "answer": 1}


def test_events_follow_live_then_replay(stack: Stack) -> None:
    slow = quick_handler(
        reasoner=[
            Reply(reason_reply(next_queries=["topic 7"]), delay_s=0.3),
            Reply(reason_reply("Topic 5", 0.9, done=True), delay_s=0.3),
        ]
    )
    api = stack.api(stack.llm(slow))
    with api.client() as client:
        job_id = submit(client, budget={"max_search_steps": 4}, policy="fixed")
        with client.stream("GET", f"/v1/research/{job_id}/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            live = list(sse_events(response))
        types = [e["event"] for e in live]
        assert types[0] == "status" and types[-1] == "result"
        assert types[1:-1] == ["plan", "search", "reason", "search", "reason", "answer"]
        assert [int(e["id"]) for e in live] == list(range(1, len(live) + 1))
        reason = live[types.index("reason")]["data"]
        assert reason["answer"] == "unknown" and reason["next_queries"] == ["topic 7"]
        assert reason["spend"]["search_steps"] == 1
        final = live[-1]["data"]
        assert final["status"] == "succeeded" and final["result"]["answer"] == "Topic 5"

        with client.stream("GET", f"/v1/research/{job_id}/events") as response:
            assert list(sse_events(response)) == live  # finished: the same stream, replayed
        with client.stream(
            "GET", f"/v1/research/{job_id}/events", headers={"Last-Event-ID": "5"}
        ) as response:
            assert [int(e["id"]) for e in sse_events(response)] == list(range(6, len(live) + 1))
        with client.stream("GET", f"/v1/research/{job_id}/events?after=6") as response:
            assert [e["event"] for e in sse_events(response)] == ["answer", "result"]


def test_cancel_a_running_job(stack: Stack) -> None:
    api = stack.api(stack.llm(quick_handler(planner=Reply("{}", delay_s=2))))
    with api.client() as client:
        job_id = submit(client)
        running = client.get(f"/v1/research/{job_id}").json()
        assert running["status"] in ("queued", "running") and running["result"] is None
        response = client.post(f"/v1/research/{job_id}/cancel")
        assert response.status_code == 200
        assert response.json()["status"] == "cancelled"
        assert response.json()["error"] == "cancelled by request"
        again = client.post(f"/v1/research/{job_id}/cancel")
        assert again.status_code == 409
        assert "already cancelled" in again.json()["error"]["message"]
        with client.stream("GET", f"/v1/research/{job_id}/events") as response:
            assert [e["event"] for e in sse_events(response)][-1] == "result"


def test_list_is_paginated_newest_first(stack: Stack) -> None:
    api = stack.api()
    with api.client() as client:
        ids = [submit(client, f"What is topic {i}?") for i in range(5)]
        for job_id in ids:
            wait_for(client, job_id)
        first = client.get("/v1/research", params={"limit": 2}).json()
        assert [j["id"] for j in first["data"]] == ids[::-1][:2]
        assert first["has_more"] is True
        second = client.get("/v1/research", params={"limit": 2, "cursor": first["next_cursor"]})
        third = client.get(
            "/v1/research", params={"limit": 2, "cursor": second.json()["next_cursor"]}
        ).json()
        assert [j["id"] for j in second.json()["data"]] == ids[::-1][2:4]
        assert [j["id"] for j in third["data"]] == ids[:1] and third["has_more"] is False
        assert third["next_cursor"] is None
        done = client.get("/v1/research", params={"status": "succeeded", "limit": 100}).json()
        assert len(done["data"]) == 5 and done["data"][0]["answer"] == "Topic 5"
        assert client.get("/v1/research", params={"status": "failed"}).json()["data"] == []


def test_health_docs_and_models(stack: Stack) -> None:
    api = stack.api(config=ApiConfig(api_keys=("k1",)))
    with api.client() as client:
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        docs = client.get("/docs")
        assert docs.status_code == 200 and "cdn." not in docs.text  # works offline
        scripts = re.findall(r'<script src="([^"]+)"', docs.text)
        assert scripts and all(s.startswith("/") for s in scripts)
        for url in [*scripts, *re.findall(r'<link[^>]+href="([^"]+\\.css)"', docs.text)]:
            asset = client.get(url)
            assert asset.status_code == 200 and len(asset.content) > 10_000, url
        paths = client.get("/openapi.json").json()["paths"]
        routes = {"/v1/research", "/v1/research/{job_id}/events", "/v1/chat/completions"}
        assert routes <= set(paths)
        assert client.get("/v1/models").status_code == 401
    with api.client("k1") as client:
        assert client.get("/v1/models").json()["data"][0]["id"] == "leadline"


class BrokenSearch(MemorySearch):
    async def search(self, query: str, k: int) -> list[Passage]:
        raise RuntimeError("index file vanished")  # a bug, not a LeadlineError


def test_a_crashing_job_is_failed_with_the_reason(stack: Stack) -> None:
    llm = stack.llm()
    api = stack.api(llm, factory=scripted_factory(llm.base_url, search=BrokenSearch([])))
    with api.client() as client:
        job = wait_for(client, submit(client))
        assert job["status"] == "failed"
        assert job["error"] == "internal error: RuntimeError: index file vanished"
        assert client.get("/healthz").json()["jobs_running"] == 0


def test_a_request_sets_the_pool_and_reader_sizes_and_bad_ones_are_refused(stack: Stack) -> None:
    llm = stack.llm()
    api = stack.api(llm)
    with api.client() as client:
        body = {"question": QUESTION, "passages_per_query": 3, "reader_passages": 2}
        job = wait_for(client, client.post("/v1/research", json=body).json()["id"])
        for bad in ({"reader_passages": 0}, {"passages_per_query": 21}, {"reader_passages": "x"}):
            response = client.post("/v1/research", json={"question": QUESTION, **bad})
            assert response.status_code == 422, bad
    assert job["status"] == "succeeded", job
    assert job["result"]["answer_source"] == "reader"
    (reader_prompt,) = [b for b in llm.requests if agent_role(b) == "answer"]
    shown = re.findall(r"^\[\d+\] ", reader_prompt["messages"][1]["content"], re.MULTILINE)
    assert len(shown) == 2


def test_a_sure_early_read_ends_the_job_after_one_round(stack: Stack) -> None:
    tokens = [('{"answer": "', 0.0), ("Topic", -0.01), (" 5", -0.02), ('"}', 0.0)]
    sure = Reply('{"answer": "Topic 5"}', logprobs=tokens)
    llm = stack.llm(quick_handler(answer=sure))
    api = stack.api(llm, stop_confidence=0.8)  # the server's default for its jobs
    with api.client() as client:
        job = wait_for(client, submit(client, QUESTION, budget={"max_search_steps": 4}))
        with client.stream("GET", f"/v1/research/{job['id']}/events") as response:
            events = [e["event"] for e in sse_events(response)]
        unsure = wait_for(
            client, submit(client, QUESTION, budget={"max_search_steps": 4}, stop_confidence=1)
        )
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["stop_reason"] == "confident" and result["answer"] == "Topic 5"
    assert 0.98 < result["reader_confidence"] <= 1
    assert "reason" not in events and events.index("read") < events.index("answer")
    assert unsure["result"]["stop_reason"] == "done"  # 0.985 < 1: searched on, as asked
    assert job["request"]["stop_confidence"] is None and unsure["request"]["stop_confidence"] == 1
    roles = [agent_role(b) for b in llm.requests]
    # the sure job searched and read, nothing else; the unsure one then planned and reasoned
    assert roles[:3] == ["answer", "answer", "planner"] and roles.count("reasoner") == 1


def test_the_next_page_follows_a_page_that_ends_on_a_live_job(stack: Stack) -> None:
    api = stack.api()
    with api.client() as client:
        ids = [submit(client, f"What is topic {i}?") for i in range(3)]
        first = client.get("/v1/research", params={"limit": 2}).json()  # jobs still live
        second = client.get("/v1/research", params={"limit": 2, "cursor": first["next_cursor"]})
        assert [j["id"] for j in second.json()["data"]] == ids[:1]
        for job_id in ids:
            wait_for(client, job_id)
