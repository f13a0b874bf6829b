"""How fast the embedded model reads and writes, and what speculative decoding buys on two cores.

Three commands (each prints JSON lines; see benchmarks/README.md for the last figures):

    # prompt and generation tokens/s on a random prompt (nothing served from the prefix cache)
    .venv/bin/python benchmarks/model_speed.py synthetic 1.5b [--threads 2]

    # record every chat request leadline sends while it answers dev300 questions 1..n
    .venv/bin/python benchmarks/model_speed.py record --questions 10 --out calls.jsonl

    # replay the recorded requests, in order, against a fresh server per decoding option
    .venv/bin/python benchmarks/model_speed.py replay calls.jsonl \\
        --speculative none,ngram-simple,ngram-mod,draft

Replaying real requests keeps what matters for speculative decoding: leadline's JSON replies,
answers copied from passages, and the same prefix-cache hits as the run. At temperature 0 a
speculative option must give the same text as "none"; the replay counts replies that differ.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any, get_args

import httpx

from leadline.config import Speculative, load_settings
from leadline.tools.local_model import EmbeddedServer

DEV300 = Path(__file__).resolve().parents[2] / "shared/data/hotpotqa/dev300.jsonl"
TIMINGS = (
    "prompt_n",
    "cache_n",
    "prompt_ms",
    "predicted_n",
    "predicted_ms",
    "draft_n",
    "draft_n_accepted",
)
WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "for",
    "on",
    "that",
    "with",
    "as",
    "by",
    "at",
    "from",
    "his",
    "her",
    "which",
    "an",
    "were",
]


def synthetic(args: argparse.Namespace) -> None:
    settings = load_settings(model_size=args.size, threads=args.threads)
    rng = random.Random(1)
    trials = []
    with EmbeddedServer.from_settings(settings) as server:
        for trial in range(args.trials):
            # a fresh random prompt each trial, so nothing is served from the prefix cache
            text = " ".join(rng.choice(WORDS) for _ in range(900)) + f" trial {trial}"
            body = {
                "model": "embedded",
                "messages": [{"role": "user", "content": "Summarise: " + text}],
                "max_tokens": 64,
                "temperature": 0,
                "ignore_eos": True,
            }
            reply = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=600)
            t = reply.json().get("timings", {})
            trials.append(
                {
                    "prompt_n": t.get("prompt_n"),
                    "prompt_per_second": round(t.get("prompt_per_second", 0.0), 1),
                    "predicted_n": t.get("predicted_n"),
                    "predicted_per_second": round(t.get("predicted_per_second", 0.0), 1),
                }
            )
    print(json.dumps({"size": args.size, "threads": args.threads, "trials": trials}))


async def _record(args: argparse.Namespace) -> None:
    import openai

    from leadline import Budget
    from leadline.evals.baselines import parse_system
    from leadline.evals.datasets import load_dataset
    from leadline.evals.runner import evaluate, prepare_corpus
    from leadline.services import open_services

    out = Path(args.out)
    calls = out.open("w")

    async def keep(request: httpx.Request) -> None:
        if request.url.path.endswith("/chat/completions"):
            calls.write(json.dumps(json.loads(request.content)) + "\n")

    settings = load_settings(threads=args.threads)
    dataset = load_dataset(f"hotpotqa:{args.dataset}", n=args.questions, skip=args.skip)
    collection = "hotpotqa-dev300"
    print(await prepare_corpus(dataset, settings, collection, progress=False), file=sys.stderr)
    with EmbeddedServer.from_settings(settings) as server:
        http = httpx.AsyncClient(event_hooks={"request": [keep]}, timeout=600)
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="none", http_client=http)
        async with open_services(settings, llm=client) as services:
            await evaluate(
                dataset,
                parse_system("leadline"),
                Budget(max_tokens=args.max_tokens, max_search_steps=args.max_search_steps),
                out.with_suffix(".records.jsonl"),
                services=services,
                collection=collection,
            )
        await http.aclose()
    calls.close()


async def _replay_one(server: EmbeddedServer, requests: list[dict[str, Any]]) -> dict[str, Any]:
    texts: list[str] = []
    totals = dict.fromkeys(TIMINGS, 0.0)
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=600) as http:
        for body in requests:
            reply = (await http.post(f"{server.base_url}/chat/completions", json=body)).json()
            texts.append(reply["choices"][0]["message"]["content"])
            timings = reply.get("timings", {})
            for key in TIMINGS:
                totals[key] += timings.get(key, 0)
    wall = time.perf_counter() - started
    return {
        "wall_s": round(wall, 1),
        "prefill_s": round(totals["prompt_ms"] / 1000, 1),
        "decode_s": round(totals["predicted_ms"] / 1000, 1),
        "uncached_prompt_tokens": int(totals["prompt_n"]),
        "cached_prompt_tokens": int(totals["cache_n"]),
        "completion_tokens": int(totals["predicted_n"]),
        "decode_tokens_per_s": round(
            totals["predicted_n"] / max(totals["predicted_ms"], 1) * 1000, 1
        ),
        "drafted": int(totals["draft_n"]),
        "accepted": int(totals["draft_n_accepted"]),
        "texts": texts,
    }


def replay(args: argparse.Namespace) -> None:
    requests = [json.loads(line) for line in Path(args.calls).read_text().splitlines() if line]
    options = args.speculative.split(",")
    unknown = set(options) - set(get_args(Speculative))
    if unknown:
        raise SystemExit(f"unknown --speculative {sorted(unknown)}; use {get_args(Speculative)}")
    reference: list[str] | None = None
    for option in options:
        settings = load_settings(threads=args.threads, speculative=option)
        with EmbeddedServer.from_settings(settings) as server:
            result = asyncio.run(_replay_one(server, requests))
        texts = result.pop("texts")
        reference = reference if reference is not None else texts
        result |= {
            "speculative": option,
            "calls": len(requests),
            "differ": sum(a != b for a, b in zip(texts, reference, strict=True)),
        }
        print(json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    syn = commands.add_parser("synthetic", help="tokens/s on a random prompt")
    syn.add_argument("size", choices=["1.5b", "0.5b"])
    syn.add_argument("--threads", type=int, default=2)
    syn.add_argument("--trials", type=int, default=2)
    rec = commands.add_parser("record", help="record leadline's chat requests on dev300")
    rec.add_argument("--questions", type=int, default=10)
    rec.add_argument("--skip", type=int, default=0)
    rec.add_argument("--dataset", default=str(DEV300))
    rec.add_argument("--max-tokens", type=int, default=8000)
    rec.add_argument("--max-search-steps", type=int, default=4)
    rec.add_argument("--threads", type=int, default=2)
    rec.add_argument("--out", required=True)
    rep = commands.add_parser("replay", help="replay recorded requests per decoding option")
    rep.add_argument("calls")
    rep.add_argument("--speculative", default="none,ngram-simple,ngram-mod,draft")
    rep.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.command == "synthetic":
        synthetic(args)
    elif args.command == "record":
        asyncio.run(_record(args))
    else:
        replay(args)


if __name__ == "__main__":
    main()
