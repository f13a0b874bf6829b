"""Sleep time on the real server: precompute runs while idle, pauses within a second when a
research job arrives, and resumes once it has finished; progress at GET /v1/precompute."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from leadline.api.config import ApiConfig
from leadline.precompute.store import PrecomputeStore
from leadline.tools.search.base import Passage
from leadline.tools.search.corpus import LocalCorpus
from tests.api.harness import Stack, quick_handler, submit, wait_for
from tests.fakes.llm_server import Reply, ScriptedLLMServer, agent_role
from tests.precompute.test_job import distil_reply

N = 10


def test_precompute_pauses_within_a_second_for_a_job_and_resumes_after(
    stack: Stack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    corpus = LocalCorpus.embedded(data, "sleepy")
    corpus.add(
        [Passage(f"p{i}", f"Topic {i}", f"Topic {i} is item {i}.", "m") for i in range(N)],
        progress=False,
    )
    corpus.close()
    store = PrecomputeStore(data / "precompute" / "local" / "sleepy")
    research = quick_handler()
    log: list[tuple[float, str]] = []
    lock = threading.Lock()

    def handler(body: dict[str, Any]) -> str | Reply:
        role = agent_role(body)
        with lock:
            log.append((time.time(), role))
        if role == "other":  # a distillation
            reply = distil_reply(body)
            reply.delay_s = 0.3
            return reply
        reply = research(body)
        return Reply(reply if isinstance(reply, str) else reply.content, delay_s=0.5)

    llm = ScriptedLLMServer(handler).__enter__()
    stack._stops.append(lambda: llm.__exit__(None, None, None))
    config = ApiConfig(precompute_collections=("sleepy",), precompute_max_tokens=1_000_000)
    api = stack.api(llm, config=config, data_dir=data)
    with api.client() as client:
        deadline = time.monotonic() + 60
        while (status := client.get("/v1/precompute").json())["collections"]["sleepy"][
            "done"
        ] < 2 or status["collections"]["sleepy"]["stage"] != "distil":
            assert time.monotonic() < deadline, status
            time.sleep(0.05)
        assert status["state"] == "running"
        sleepy = status["collections"]["sleepy"]
        assert sleepy["stage"] == "distil" and sleepy["total"] == N and sleepy["done"] >= 2

        submitted = time.time()
        job_id = submit(client)
        while client.get("/v1/precompute").json()["collections"]["sleepy"]["state"] != "paused":
            assert time.time() - submitted < 1.0, "precompute did not pause within 1 s"
            time.sleep(0.02)
        paused_after = time.time() - submitted
        assert client.get("/v1/precompute").json()["state"] == "paused"
        job = wait_for(client, job_id)
        assert job["status"] == "succeeded"
        ended = datetime.fromisoformat(job["finished_at"]).timestamp()

        deadline = time.monotonic() + 60
        while client.get("/v1/precompute").json()["state"] != "idle":
            assert time.monotonic() < deadline, client.get("/v1/precompute").json()
            time.sleep(0.05)
        final = client.get("/v1/precompute").json()["collections"]["sleepy"]
    assert paused_after < 1.0
    assert final["state"] == "done" and final["done"] == N
    assert len(store.distilled_ids()) == N
    with lock:
        during = [role for t, role in log if submitted + 0.05 < t < ended and role == "other"]
        after = [role for t, role in log if t > ended and role == "other"]
    assert during == []  # no distillation started while the job ran
    assert after  # and it went on afterwards
    assert store.links_state(store_fingerprint(data)) == "fresh"


def store_fingerprint(data: Path) -> str:
    corpus = LocalCorpus.embedded(data, "sleepy")
    try:
        return corpus.fingerprint()
    finally:
        corpus.close()


def test_precompute_is_off_unless_asked(stack: Stack) -> None:
    api = stack.api()
    with api.client() as client:
        assert client.get("/v1/precompute").json() == {"state": "off", "collections": {}}
