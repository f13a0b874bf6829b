"""Load test of the research API: N concurrent jobs against a scripted LLM server.

    .venv/bin/python benchmarks/api_load.py --jobs 50 --llm-delay 0.1

Three processes: a scripted OpenAI-compatible LLM (fixed replies after `--llm-delay` seconds,
one search, one reasoning step, one cited answer: 3 LLM calls and 1 search per job), the API
server (`create_app` under uvicorn, SQLite job store and checkpointer, in-memory corpus), and
this client, which submits every job at once (`POST /v1/research`) and follows each over SSE
until its `result` event. Reported: completed, errors, p50/p95 job latency (submit to result),
the research core's own time per job (`result.wall_s`), the server's added overhead per job
(latency minus core time), and the same jobs run in-process through `aresearch` with the same
checkpointer, with no API, as a baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def scripted_handler(delay_s: float) -> Any:
    from tests.fakes.llm_server import Reply, by_role
    from tests.graph.helpers import answer_reply, plan_reply, reason_reply

    return by_role(
        planner=Reply(plan_reply(["topic 5"]), delay_s=delay_s),
        reasoner=Reply(reason_reply("Topic 5", 0.9, done=True), delay_s=delay_s),
        answer=Reply(answer_reply("Topic 5", [1]), delay_s=delay_s),
    )


def services_factory(llm_url: str) -> Any:
    from leadline.services import Services
    from leadline.tools.llm import LLMClient
    from tests.fakes.search import MemorySearch, make_passages

    @asynccontextmanager
    async def factory(settings: Any) -> AsyncIterator[Any]:
        llm = LLMClient(base_url=llm_url, model="scripted", max_retries=0, timeout_s=60)
        try:
            yield Services(settings=settings, llm=llm, search=MemorySearch(make_passages()))
        finally:
            await llm.aclose()

    return factory


def role_llm(delay_s: float) -> None:
    from tests.fakes.llm_server import ScriptedLLMServer

    with ScriptedLLMServer(scripted_handler(delay_s), cache=False) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()  # until the parent closes our stdin


def role_api(llm_url: str, data_dir: str, jobs: int) -> None:
    from leadline.api.app import create_app
    from leadline.api.config import ApiConfig
    from leadline.api.server import make_server
    from leadline.config import Settings

    settings = Settings(
        base_url=llm_url, model="scripted", data_dir=Path(data_dir), parallel_slots=min(64, jobs)
    )
    app = create_app(
        settings,
        api_config=ApiConfig(max_jobs_per_key=jobs),
        services_factory=services_factory(llm_url),
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    make_server(app, log_level="warning").run(sockets=[sock])


def spawn(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_job(client: httpx.AsyncClient, i: int) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        response = await client.post("/v1/research", json={"question": f"What is topic {i % 12}?"})
        response.raise_for_status()
        job_id = response.json()["id"]
        async with client.stream("GET", f"/v1/research/{job_id}/events") as stream:
            async for line in stream.aiter_lines():
                if line.startswith("data:") and '"type": "result"' in line:
                    final = json.loads(line[5:])
                    break
            else:
                return {"ok": False, "error": "stream ended without a result"}
    except httpx.HTTPError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    latency = time.perf_counter() - started
    ok = final["status"] == "succeeded"
    core = final["result"]["wall_s"] if final.get("result") else 0.0
    return {"ok": ok, "error": final.get("error"), "latency_s": latency, "core_s": core}


async def through_api(base_url: str, n: int, pid: int) -> tuple[list[dict[str, Any]], float, float]:
    """The jobs through the API: results, wall time, and the server's CPU seconds for them."""
    limits = httpx.Limits(max_connections=2 * n + 10, max_keepalive_connections=2 * n)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        for _ in range(100):
            try:
                if (await client.get("/healthz")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        await one_job(client, 0)  # warm-up: imports, first connections, first checkpoint
        cpu = cpu_seconds(pid)
        started = time.perf_counter()
        results = await asyncio.gather(*(one_job(client, i) for i in range(n)))
        elapsed = time.perf_counter() - started
        return list(results), elapsed, cpu_seconds(pid) - cpu


async def in_process(llm_url: str, n: int, data_dir: Path) -> tuple[list[float], float]:
    """The same jobs through `aresearch` directly: the research core's cost with no API."""
    from leadline.config import Settings
    from leadline.core import aresearch
    from leadline.graph.runs import open_checkpointer

    settings = Settings(
        base_url=llm_url, model="scripted", data_dir=data_dir, parallel_slots=min(64, n)
    )
    async with (
        services_factory(llm_url)(settings) as services,
        open_checkpointer(data_dir / "baseline.sqlite") as saver,
    ):
        services.checkpointer = saver

        async def timed(i: int) -> float:
            started = time.perf_counter()
            await aresearch(f"What is topic {i % 12}?", services=services)
            return time.perf_counter() - started

        await timed(0)
        cpu = time.process_time()
        latencies = list(await asyncio.gather(*(timed(i) for i in range(n))))
        return latencies, time.process_time() - cpu


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--llm-delay", type=float, default=0.1, help="seconds per LLM reply")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--role", choices=["llm", "api"], help=argparse.SUPPRESS)
    parser.add_argument("--llm-url", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "llm":
        role_llm(args.llm_delay)
        return 0
    if args.role == "api":
        role_api(args.llm_url, args.data_dir, args.jobs)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        llm, llm_url = spawn("--role", "llm", "--llm-delay", str(args.llm_delay))
        api, api_url = spawn(
            "--role", "api", "--llm-url", llm_url, "--data-dir", tmp, "--jobs", str(args.jobs)
        )
        try:
            results, elapsed, api_cpu = asyncio.run(through_api(api_url, args.jobs, api.pid))
            baseline, baseline_cpu = asyncio.run(in_process(llm_url, args.jobs, Path(tmp)))
        finally:
            api.terminate()
            api.wait(timeout=30)
            assert llm.stdin is not None
            llm.stdin.close()
            llm.wait(timeout=30)

    done = [r for r in results if r["ok"]]
    latency = [r["latency_s"] for r in done]
    overhead = [r["latency_s"] - r["core_s"] for r in done]
    report = {
        "jobs": args.jobs,
        "llm_delay_s": args.llm_delay,
        "completed": len(done),
        "errors": len(results) - len(done),
        "error_samples": [r["error"] for r in results if not r["ok"]][:3],
        "wall_s": round(elapsed, 3),
        "jobs_per_s": round(len(done) / elapsed, 2) if elapsed else 0.0,
        "latency_p50_s": round(pct(latency, 0.5), 3),
        "latency_p95_s": round(pct(latency, 0.95), 3),
        "core_p50_s": round(pct([r["core_s"] for r in done], 0.5), 3),
        "overhead_p50_s": round(pct(overhead, 0.5), 3),
        "overhead_p95_s": round(pct(overhead, 0.95), 3),
        "api_cpu_ms_per_job": round(1000 * api_cpu / max(1, len(results)), 1),
        "baseline_latency_p50_s": round(pct(baseline, 0.5), 3),
        "baseline_latency_p95_s": round(pct(baseline, 0.95), 3),
        "baseline_cpu_ms_per_job": round(1000 * baseline_cpu / max(1, args.jobs), 1),
    }
    report["added_latency_p50_s"] = round(
        report["latency_p50_s"] - report["baseline_latency_p50_s"], 3
    )
    report["added_cpu_ms_per_job"] = round(
        report["api_cpu_ms_per_job"] - report["baseline_cpu_ms_per_job"], 1
    )
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:24} {value}")
    return 0 if report["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
