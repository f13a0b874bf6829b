"""`leadline precompute` killed with SIGKILL mid-run, then run again: nothing done is redone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from leadline.precompute.store import PrecomputeStore
from leadline.tools.search.base import Passage
from leadline.tools.search.corpus import LocalCorpus
from tests.fakes.llm_server import Reply, ScriptedLLMServer
from tests.precompute.test_job import distil_reply

ROOT = Path(__file__).resolve().parents[2]
N = 12


def child_env(data_dir: Path, llm_url: str) -> dict[str, str]:
    """The CLI's environment: this data dir, the scripted LLM, this checkout's code."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LEADLINE_", "OPENAI_"))},
        "LEADLINE_DATA_DIR": str(data_dir),
        "LEADLINE_BASE_URL": llm_url,
        "LEADLINE_MODEL": "scripted",
        "PYTHONPATH": str(ROOT),
    }


def test_a_killed_precompute_resumes_and_loses_at_most_the_passage_in_flight(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    corpus = LocalCorpus.embedded(data, "killme")  # the real offline embedding, as the CLI opens it
    corpus.add(
        [Passage(f"p{i}", f"Topic {i}", f"Topic {i} is item number {i}.", "m") for i in range(N)],
        progress=False,
    )
    corpus.close()
    store = PrecomputeStore(data / "precompute" / "local" / "killme")

    def slow(body: dict[str, Any]) -> Reply:
        reply = distil_reply(body)
        reply.delay_s = 0.25
        return reply

    command = [sys.executable, "-m", "leadline.cli", "precompute", "--collection", "killme"]
    command += ["--max-tokens", "1000000", "--no-progress"]
    with ScriptedLLMServer(slow) as server:
        env = child_env(data, server.base_url)
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(store.distilled_ids()) < 3:
            assert proc.poll() is None and time.monotonic() < deadline, "no progress"
            time.sleep(0.05)
        proc.kill()
        proc.wait(timeout=10)
        kept = len(store.distilled_ids())
        before = len(server.requests)
        assert 3 <= kept < N
        assert store.costs()[-1].stopped == "interrupted"  # its spend is on record anyway
        assert store.costs()[-1].passages == kept
        rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
        assert len(store.distilled_ids()) == N
        assert len(server.requests) - before == N - kept  # none of the finished ones redone
        assert before - kept <= 1  # the kill lost at most the passage in flight
