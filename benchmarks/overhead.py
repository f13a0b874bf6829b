"""leadline's own overhead: batch throughput against a zero-latency LLM, and time per graph step.

A scripted OpenAI-compatible server answers instantly from a separate process (so it does not
compete with leadline for the GIL); every question is a 3-step run — plan, then three rounds of
search and reasoning, then the final answer: 5 LLM calls, 3 searches, 8 graph steps. Search is
BM25 over the HotpotQA dev300 paragraphs (`--search passages`:
`leadline.tools.search.passages.PassageFileSearch`, in memory; `--search corpus`: the local
corpus, `LocalCorpus` in bm25 mode, ingested first).
Reported: questions/s at each concurrency, CPU ms per question, and at concurrency 1 the
overhead per graph step — question wall time minus the time spent waiting on the LLM and search
(as the ledger measured them), divided by the graph steps. `--profile` adds a cProfile of the
highest concurrency, summed by package. With `--json` the last line is one JSON object.

    python benchmarks/overhead.py --json [--concurrency 1 8 64] [--questions 40 160 320]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import multiprocessing as mp
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEV300 = ROOT.parent / "shared" / "data" / "hotpotqa" / "dev300.jsonl"
SEARCH_STEPS = 3
GRAPH_STEPS = 2 + 2 * SEARCH_STEPS  # plan, (search, reason) x 3, answer
TARGET_QPS = 20.0


def load_hotpot(limit_questions: int) -> tuple[list[str], list[dict[str, str]]]:
    if not DEV300.exists():
        sys.exit(f"missing {DEV300}: the benchmark needs the shared HotpotQA data")
    questions, passages, seen = [], [], set()
    for line in DEV300.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        questions.append(row["question_text"])
        for c in row["contexts"]:
            key = (c["title"], c["paragraph_text"])
            if key not in seen:
                seen.add(key)
                passages.append({"title": c["title"], "text": c["paragraph_text"]})
    return (questions * (limit_questions // len(questions) + 1))[:limit_questions], passages


# --- the zero-latency server (runs in its own process) --------------------------------------------


def reply_for(body: dict[str, Any]) -> Any:
    from tests.fakes.llm_server import Reply, agent_role, flatten_prompt

    text = flatten_prompt(body)
    role = agent_role(body)
    if role == "planner":
        content = json.dumps(
            {
                "sub_questions": ["who", "what"],
                "queries": ["first hop"],
                "hops": 2,
                "shape": "bridge",
            }
        )
    elif role == "reasoner":  # never sure, always another (new) query: the caps end the run
        content = json.dumps(
            {
                "note": "Read [1].",
                "answer": "unknown",
                "confidence": 0.3,
                "done": False,
                "next_queries": [f"hop {len(text)}"],
            }
        )
    else:
        content = json.dumps({"answer": "Chief of Protocol", "citations": [1]})
    # Usage given explicitly, so the server does no token counting of its own.
    prompt = len(text) // 4
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": 40,
        "total_tokens": prompt + 40,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    return Reply(content=content, usage=usage)


def serve(conn: Any) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.fakes.llm_server import ScriptedLLMServer

    server = ScriptedLLMServer(reply_for, cache=False)
    # The fake writes headers and body separately; without TCP_NODELAY, Nagle's algorithm and
    # the client's delayed ACK add ~40 ms to every request, which is not leadline's time.
    server._httpd.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
    server._httpd.socket.listen(1024)  # its default backlog (5) resets connections at 64 at once
    with server:
        conn.send(server.base_url)
        conn.recv()  # until told to stop


# --- measuring ------------------------------------------------------------------------------------


def make_search(kind: str, passages: list[dict[str, str]], data_dir: Path) -> Any:
    if kind == "passages":
        from leadline.tools.search.base import Passage, content_id
        from leadline.tools.search.passages import PassageFileSearch

        return PassageFileSearch(
            [
                Passage(content_id(p["title"], p["text"]), p["title"], p["text"], "dev300")
                for p in passages
            ]
        )
    from leadline.config import load_settings
    from leadline.tools.search import LocalCorpus, ingest

    path = data_dir / "passages.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in passages))
    settings = load_settings(data_dir=data_dir)
    ingest([path], LocalCorpus.from_settings(settings, collection="bench"))
    return LocalCorpus.from_settings(settings, collection="bench", mode="bm25")


async def run_level(
    base_url: str, search: Any, data_dir: Path, questions: list[str], concurrency: int
) -> dict[str, Any]:
    from leadline.batch import aresearch_batch
    from leadline.budgets.budget import Budget
    from leadline.config import load_settings
    from leadline.services import Services
    from leadline.tools.llm import LLMClient

    llm = LLMClient(base_url=base_url, model="scripted", max_retries=0, timeout_s=60)
    services = Services(settings=load_settings(data_dir=data_dir), llm=llm, search=search)
    budget = Budget(max_tokens=200_000, max_search_steps=SEARCH_STEPS)
    rows = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        async for r in aresearch_batch(
            questions, budget=budget, policy="fixed", services=services, concurrency=concurrency
        ):
            if not r.ok:
                raise SystemExit(f"question failed: {r.error}")
            u = r.usage
            rows.append(
                (
                    r.wall_s,
                    u["llm_latency_s"],
                    u["search_latency_s"],
                    u["llm_calls"] + u["search_steps"],
                    u["search_steps"],
                )
            )
    finally:
        await llm.aclose()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    steps = statistics.mean(r[3] for r in rows)
    if any(r[4] != SEARCH_STEPS for r in rows):
        raise SystemExit("not every run took 3 search steps; the scripted replies are off")
    overhead_ms = statistics.mean((r[0] - r[1] - r[2]) / r[3] for r in rows) * 1000
    return {
        "questions": len(rows),
        "wall_s": round(wall, 3),
        "questions_per_s": round(len(rows) / wall, 2),
        "cpu_ms_per_question": round(cpu / len(rows) * 1000, 2),
        "cpu_ms_per_step": round(cpu / len(rows) / steps * 1000, 3),
        "cpu_bound_ceiling_qps": round(len(rows) / cpu, 1),  # with a whole core to itself
        "graph_steps_per_question": steps,
        "question_p50_s": round(statistics.median(r[0] for r in rows), 4),
        "llm_wait_ms_per_call": round(
            sum(r[1] for r in rows) / sum(r[3] - SEARCH_STEPS for r in rows) * 1000, 3
        ),
        "search_wait_ms_per_query": round(
            sum(r[2] for r in rows) / len(rows) / SEARCH_STEPS * 1000, 3
        ),
        "overhead_ms_per_step": round(overhead_ms, 3),
    }


def package_of(filename: str) -> str:
    parts = Path(filename).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0].split("-")[0]
    if "leadline" in parts:
        return "leadline." + parts[parts.index("leadline") + 1].removesuffix(".py")
    if filename == "~":
        return "builtins (C: sockets, tiktoken, json)"
    return "stdlib/other" if filename.startswith(("/", "<")) else filename


# Where the CPU goes, by the cumulative time of functions that mark one cost each.
MARKERS = {
    "graph compile (once per question)": [("leadline/graph/build.py", "build_graph")],
    "JSON schema generation (once per LLM call)": [("leadline/tools/llm.py", "json_schema_format")],
    "token counting (tiktoken)": [
        ("leadline/tools/tokens.py", "count_tokens"),
        ("leadline/tools/tokens.py", "truncate_to_tokens"),
    ],
    "openai client: build, send, parse a request": [
        ("openai/resources/chat/completions/completions.py", "create")
    ],
    "  of which openai's param transform": [
        ("openai/_utils/_transform.py", "async_maybe_transform")
    ],
    "BM25 search": [("leadline/tools/search/bm25.py", "search")],
}


def profile_summary(profile: cProfile.Profile, top: int = 10) -> dict[str, Any]:
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values())
    by_package: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, tottime, _, _) in stats.items():
        by_package[package_of(filename)] += tottime
    markers = {}
    for label, functions in MARKERS.items():
        cum = sum(
            v[3]
            for (f, _, name), v in stats.items()
            if any(f.endswith(path) and name == fn for path, fn in functions)
        )
        markers[label] = round(cum / total, 3)
    share = sorted(by_package.items(), key=lambda kv: -kv[1])[:top]
    return {
        "profiled_cpu_s": round(total, 2),
        "share_of_cpu_by_cost": markers,
        "self_time_share_by_package": {k: round(v / total, 3) for k, v in share},
    }


async def main_async(args: argparse.Namespace, base_url: str) -> dict[str, Any]:
    load_start = round(os.getloadavg()[0], 2)  # other work on the machine skews wall-clock rates
    n_max = max(args.questions)
    questions, passages = load_hotpot(n_max)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        search = make_search(args.search, passages, Path(tmp))
        setup_s = time.perf_counter() - started
        await run_level(base_url, search, Path(tmp), questions[:8], 4)  # warm-up: caches, imports
        levels: dict[str, Any] = {}
        for c, n in zip(args.concurrency, args.questions, strict=True):
            levels[str(c)] = await run_level(base_url, search, Path(tmp), questions[:n], c)
            print(f"concurrency {c}: {levels[str(c)]}", file=sys.stderr)
        profile = None
        if args.profile:
            c = max(args.concurrency)
            prof = cProfile.Profile()
            prof.enable()
            await run_level(base_url, search, Path(tmp), questions[: min(n_max, 160)], c)
            prof.disable()
            profile = {"concurrency": c, **profile_summary(prof)}
    top = levels[str(max(args.concurrency))]
    one = levels.get("1") or levels[str(min(args.concurrency))]
    return {
        "llm": "scripted zero-latency server, separate process",
        "search": {
            "passages": "PassageFileSearch: BM25 in memory over dev300 paragraphs",
            "corpus": "LocalCorpus (bm25 mode) over dev300 paragraphs",
        }[args.search],
        "passages": len(passages),
        "search_setup_s": round(setup_s, 2),
        "run": f"{SEARCH_STEPS} search steps: 5 LLM calls, {GRAPH_STEPS} graph steps",
        "concurrency": levels,
        "questions_per_s": {c: v["questions_per_s"] for c, v in levels.items()},
        "overhead_ms_per_step": one["overhead_ms_per_step"],
        "cpu_ms_per_step_at_max_concurrency": top["cpu_ms_per_step"],
        "target_questions_per_s_at_64": TARGET_QPS,
        "meets_target": levels.get("64", top)["questions_per_s"] >= TARGET_QPS,
        "profile": profile,
        "load_average_1m": {"start": load_start, "end": round(os.getloadavg()[0], 2)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument(
        "--questions",
        type=int,
        nargs="+",
        default=[40, 160, 320],
        help="questions per concurrency level (same order)",
    )
    parser.add_argument("--search", choices=["passages", "corpus"], default="passages")
    parser.add_argument("--profile", action="store_true", help="cProfile the top concurrency")
    parser.add_argument("--json", action="store_true", help="last line: one JSON object")
    args = parser.parse_args()
    if len(args.questions) != len(args.concurrency):
        parser.error("give one --questions count per --concurrency level")
    parent, child = mp.get_context("spawn").Pipe()
    server = mp.get_context("spawn").Process(target=serve, args=(child,), daemon=True)
    server.start()
    try:
        report = asyncio.run(main_async(args, parent.recv()))
    finally:
        parent.send("stop")
        server.join(timeout=10)
    if args.json:
        print(json.dumps(report))
    else:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
