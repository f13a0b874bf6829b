"""Restarts: finished jobs are still served; interrupted ones resume (or fail, saying why)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path

from leadline.api.config import ApiConfig
from leadline.api.server import GRACEFUL_SHUTDOWN_S
from leadline.api.store import JobRecord, open_store
from tests.api.harness import Stack, quick_handler, sse_events, submit, wait_for
from tests.fakes.llm_server import Reply, agent_role
from tests.graph.helpers import reason_reply


def test_finished_jobs_survive_a_restart(stack: Stack, db_url: str | None) -> None:
    data, config = stack.tmp_path / "data", ApiConfig(db_url=db_url)
    first = stack.api(data_dir=data, config=config)
    with first.client() as client:
        job_id = submit(client)
        before = wait_for(client, job_id)
        with client.stream("GET", f"/v1/research/{job_id}/events") as response:
            events = list(sse_events(response))
    first.stop()

    second = stack.api(data_dir=data, config=config)
    with second.client() as client:
        assert client.get(f"/v1/research/{job_id}").json() == before
        with client.stream("GET", f"/v1/research/{job_id}/events") as response:
            assert list(sse_events(response)) == events
        assert [j["id"] for j in client.get("/v1/research").json()["data"]] == [job_id]


def test_an_interrupted_job_resumes_from_its_checkpoint(stack: Stack, db_url: str | None) -> None:
    data, config = stack.tmp_path / "data", ApiConfig(db_url=db_url)
    # the first server stops while the reasoner is thinking (after plan and the first search)
    stuck = stack.llm(quick_handler(reasoner=Reply(reason_reply(), delay_s=30)))
    first = stack.api(stuck, data_dir=data, config=config)
    seen: list[str] = []
    searched = threading.Event()

    def follow() -> None:  # an open event stream must not hold up the shutdown
        with first.client() as reader, reader.stream("GET", f"/v1/research/{job_id}/events") as r:
            for event in sse_events(r):
                seen.append(event["event"])
                if event["event"] == "search":
                    searched.set()

    with first.client() as client:
        job_id = submit(client, budget={"max_search_steps": 3})
        follower = threading.Thread(target=follow)
        follower.start()
        assert searched.wait(10)
        time.sleep(0.5)  # the checkpoint after the search step is written asynchronously
    started = time.monotonic()
    first.stop()
    follower.join(timeout=5)
    assert not follower.is_alive() and time.monotonic() - started < GRACEFUL_SHUTDOWN_S
    assert seen == ["status", "plan", "search"]  # the stream ended; a client reconnects later

    healthy = stack.llm()
    second = stack.api(healthy, data_dir=data, config=config)
    with second.client() as client:
        job = wait_for(client, job_id)
        with client.stream("GET", f"/v1/research/{job_id}/events") as response:
            events = [(e["event"], e["data"].get("status")) for e in sse_events(response)]
    assert job["status"] == "succeeded" and job["result"]["answer"] == "Topic 5"
    assert job["attempts"] == 2
    assert job["result"]["usage"]["search_steps"] == 1  # the first search was not redone
    assert Counter(agent_role(b) for b in healthy.requests) == {"reasoner": 1, "answer": 1}
    assert events == [
        ("status", "running"),
        ("plan", None),
        ("search", None),
        ("status", "interrupted"),
        ("status", "running"),
        ("reason", None),
        ("answer", None),
        ("result", "succeeded"),
    ]


def test_interrupted_jobs_fail_with_the_reason_when_resuming_is_off(stack: Stack) -> None:
    data = stack.tmp_path / "data"
    first = stack.api(stack.llm(quick_handler(planner=Reply("{}", delay_s=30))), data_dir=data)
    with first.client() as client:
        job_id = submit(client)
    first.stop()
    second = stack.api(data_dir=data, config=ApiConfig(resume_interrupted=False))
    with second.client() as client:
        job = client.get(f"/v1/research/{job_id}").json()
    assert job["status"] == "failed"
    assert "interrupted by a server restart" in job["error"]


def seed(path: Path, *records: JobRecord) -> None:
    async def write() -> None:
        async with open_store(f"sqlite:///{path}", path.parent) as store:
            for record in records:
                await store.create(record)

    asyncio.run(write())


def test_crashed_jobs_restart_or_give_up_after_max_attempts(stack: Stack) -> None:
    """Rows a killed process left behind: never started (no checkpoint), or started too often."""
    data = stack.tmp_path / "data"
    request = {
        "collection": None,
        "policy": "adaptive",
        "shape": "auto",
        "kv_mode": None,
        "budget": {"max_tokens": 16000, "max_search_steps": 6},
    }
    seed(
        data / "api" / "jobs.sqlite",
        JobRecord(
            id="a" * 32,
            key_id="anonymous",
            kind="research",
            status="running",
            question="Which topic holds fact number 5?",
            request=request,
            created_at=1.0,
            attempts=1,
        ),
        JobRecord(
            id="b" * 32,
            key_id="anonymous",
            kind="research",
            status="running",
            question="Which topic holds fact number 5?",
            request=request,
            created_at=2.0,
            attempts=3,
        ),
    )
    api = stack.api(data_dir=data)
    with api.client() as client:
        restarted = wait_for(client, "a" * 32)
        given_up = client.get(f"/v1/research/{'b' * 32}").json()
    assert restarted["status"] == "succeeded" and restarted["attempts"] == 2
    assert given_up["status"] == "failed"
    assert given_up["error"] == "interrupted 3 time(s) without finishing; giving up"
