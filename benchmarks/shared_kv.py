"""Shared-KV against isolated prompt layout on the embedded model, at the same caps.

The same N dev300 questions are answered twice, once per kv mode. By default the modes run in
blocks (all shared runs, then all isolated), as a server dedicated to one mode would see them:
the shared charter then stays cached from one run to the next. `--order interleaved` alternates
modes question by question (fairer under a changing machine load, but each mode's runs then
evict the other's prefix from the one slot). Each run is pinned to one llama.cpp slot. Reports,
per mode: prompt tokens, cached prompt tokens, prefill tokens computed (prompt - cached), cache
hit rate, wall time per question, EM/F1. The last stdout line is one JSON object.

    .venv/bin/python benchmarks/shared_kv.py -n 10 --model-size 0.5b --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from leadline.budgets.budget import Budget
from leadline.config import load_settings
from leadline.core import aresearch
from leadline.evals.datasets import load_dataset
from leadline.evals.metrics import exact_match, f1
from leadline.evals.runner import eval_collection, prepare_corpus
from leadline.services import open_services

DEV300 = Path(__file__).resolve().parents[2] / "shared" / "data" / "hotpotqa" / "dev300.jsonl"
MODES = ("shared", "isolated")


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    prompt = sum(r["prompt_tokens"] for r in rows)
    cached = sum(r["cached_tokens"] for r in rows)
    return {
        "n": n,
        "em": round(sum(r["em"] for r in rows) / n, 3),
        "f1": round(sum(r["f1"] for r in rows) / n, 3),
        "prompt_tokens": prompt,
        "cached_tokens": cached,
        "prefill_tokens": prompt - cached,
        "completion_tokens": sum(r["completion_tokens"] for r in rows),
        "cache_hit_rate": round(cached / prompt, 4) if prompt else 0.0,
        "search_steps": sum(r["search_steps"] for r in rows),
        "wall_s_per_question": round(sum(r["wall_s"] for r in rows) / n, 2),
    }


def run_order(order: str, examples: list[Any]) -> list[tuple[str, Any]]:
    if order == "blocks":
        return [(mode, ex) for mode in MODES for ex in examples]
    # interleaved: alternate which mode goes first
    return [
        (m, ex) for i, ex in enumerate(examples) for m in (MODES if i % 2 == 0 else MODES[::-1])
    ]


async def main(args: argparse.Namespace) -> dict[str, Any]:
    settings = load_settings(model_size=args.model_size, parallel_slots=1)
    dataset = load_dataset(f"hotpotqa:{args.data}", n=args.n)
    collection = eval_collection(dataset, None, settings)
    print(await prepare_corpus(dataset, settings, collection, progress=False), file=sys.stderr)
    budget = Budget(max_tokens=args.max_tokens, max_search_steps=args.max_search_steps)
    rows: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    started = time.perf_counter()
    async with open_services(settings) as services:
        for mode, example in run_order(args.order, dataset.examples):
            t0 = time.perf_counter()
            result = await aresearch(
                example.question,
                services=services,
                budget=budget,
                policy=args.policy,
                kv_mode=mode,
                collection=collection,
                checkpoint=False,
            )
            u = result.usage
            row = {
                "id": example.id,
                "mode": mode,
                "answer": result.answer,
                "em": exact_match(result.answer, example.answers),
                "f1": f1(result.answer, example.answers),
                "prompt_tokens": u["prompt_tokens"],
                "cached_tokens": u["cached_tokens"],
                "completion_tokens": u["completion_tokens"],
                "search_steps": u["search_steps"],
                "wall_s": round(time.perf_counter() - t0, 2),
            }
            rows[mode].append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    summary = {m: summarize(rows[m]) for m in MODES}
    s, iso = summary["shared"], summary["isolated"]
    return {
        "model": settings.model_size,
        "n": args.n,
        "policy": args.policy,
        "order": args.order,
        "caps": {"max_tokens": args.max_tokens, "max_search_steps": args.max_search_steps},
        "modes": summary,
        "prefill_reduction": round(iso["prefill_tokens"] / max(s["prefill_tokens"], 1), 2),
        "wall_speedup": round(iso["wall_s_per_question"] / max(s["wall_s_per_question"], 1e-9), 2),
        "targets_met": {
            "shared_cache_hit_rate_ge_0.6": s["cache_hit_rate"] >= 0.6,
            "prefill_reduction_ge_2x": iso["prefill_tokens"] >= 2 * s["prefill_tokens"],
            "shared_wall_lower": s["wall_s_per_question"] < iso["wall_s_per_question"],
        },
        "total_wall_s": round(time.perf_counter() - started, 1),
    }


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=10, help="questions (default 10)")
    p.add_argument("--data", default=str(DEV300), help="HotpotQA file (default dev300.jsonl)")
    p.add_argument("--model-size", choices=["1.5b", "0.5b"], default="1.5b")
    p.add_argument("--max-tokens", type=int, default=12_000)
    p.add_argument("--max-search-steps", type=int, default=4)
    p.add_argument("--policy", choices=["fixed", "adaptive"], default="fixed")
    p.add_argument("--order", choices=["blocks", "interleaved"], default="blocks")
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    return p.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    report = asyncio.run(main(arguments))
    print(json.dumps(report) if arguments.json else json.dumps(report, indent=2))
