"""Time-boxed benchmark of issue 5 on dev300 with the embedded model: four systems, then a sweep.

One process, one model load. Phase A evaluates closed-book, single-shot RAG, IRCoT and leadline
(adaptive, auto shape) at one budget in rounds of growing n (every system reaches n before any
goes further), so whatever the time box allows is balanced across systems. Phase B runs the
search-step × token-cap sweep (policy fixed) on the first questions, also in rounds of growing
n; its adaptive comparison cell has the same configuration as phase A's leadline run, so those
records are reused. The summary also compares the systems on the questions all of them finished.
Everything is resumable: run it again and finished questions are skipped.

    python benchmarks/results/run_benchmark.py --minutes-eval 15 --minutes-sweep 13
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
from pathlib import Path

from leadline.budgets.budget import Budget
from leadline.budgets.curves import bootstrap_ci
from leadline.config import load_settings
from leadline.evals.baselines import parse_system
from leadline.evals.datasets import load_dataset
from leadline.evals.metrics import summarize_records
from leadline.evals.report import eval_summary_markdown, eval_summary_table
from leadline.evals.runner import eval_collection, evaluate, load_records, prepare_corpus
from leadline.evals.sweep import SweepGrid, run_sweep
from leadline.services import open_services

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "hotpotqa" / "dev300.jsonl"
SYSTEMS = ["closed-book", "rag", "ircot", "leadline-adaptive-auto"]
ROUNDS = (2, 4, 6, 10, 20, 30, 50)
SWEEP_ROUNDS = (10, 20, 30, 50)


def compare_on_common(records: dict[str, list[dict]], reference: str) -> dict:
    """Every system on the questions all of them finished, and the reference's paired EM gain
    over each other system with a 95% bootstrap interval (over questions)."""
    common = set.intersection(*({r["id"] for r in rs} for rs in records.values()))
    by_id = {name: {r["id"]: r for r in rs if r["id"] in common} for name, rs in records.items()}
    ids = sorted(common)
    gains = {}
    for name, rows in by_id.items():
        if name != reference:
            diffs = [by_id[reference][i]["em"] - rows[i]["em"] for i in ids]
            mean, low, high = bootstrap_ci(diffs) if diffs else (0.0, 0.0, 0.0)
            gains[name] = {"em_gain": round(mean, 3), "ci95": [round(low, 3), round(high, 3)]}
    return {
        "common_n": len(ids),
        "common": {name: summarize_records(list(rows.values())) for name, rows in by_id.items()},
        f"{reference}_em_gain_over": gains,
    }


def summary_markdown(result: dict) -> str:
    reference = SYSTEMS[-1]
    gains = result[f"{reference}_em_gain_over"]
    lines = [
        f"\n## On the {result['common_n']} questions every system finished\n",
        eval_summary_table(result["common"]),
        f"\n{reference}'s EM minus each system's, paired over these questions, with a 95% "
        "bootstrap interval:\n",
        "| against | EM gain | 95% interval |",
        "|---|---|---|",
        *(
            f"| {n} | {g['em_gain']:+.3f} | [{g['ci95'][0]:+.3f}, {g['ci95'][1]:+.3f}] |"
            for n, g in gains.items()
        ),
        f"\nBaselines ran at max_tokens={result['baseline_budget']['max_tokens']} (they use under "
        "1,000); leadline at the budget above.\n",
    ]
    return eval_summary_markdown(result) + "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    out = Path(args.out)
    settings = load_settings()
    dataset = load_dataset(f"hotpotqa:{DATA}")
    collection = eval_collection(dataset, None, settings)
    budget = Budget(max_tokens=args.max_tokens, max_search_steps=args.max_search_steps)
    # The baselines use a few hundred tokens and at most one search, far inside any cap; their
    # records were made at this cap and are kept (a different cap would be another config).
    baseline_budget = Budget(max_tokens=args.baseline_max_tokens, max_search_steps=4)
    print(await prepare_corpus(dataset, settings, collection, progress=False), file=sys.stderr)
    started = time.monotonic()
    async with open_services(settings) as services:
        model = services.llm.model
        eval_deadline = started + args.minutes_eval * 60
        systems = [parse_system(s) for s in SYSTEMS]
        for n in ROUNDS:
            if time.monotonic() >= eval_deadline:
                break
            for system in systems:
                await evaluate(
                    dataset.head(n),
                    system,
                    budget if system.kind == "leadline" else baseline_budget,
                    out / "eval" / f"{system.name}.jsonl",
                    services=services,
                    collection=collection,
                    deadline=eval_deadline,
                    desc=f"n={n} {system.name}",
                )
        eval_wall = time.monotonic() - started
        records = {
            system.name: load_records(out / "eval" / f"{system.name}.jsonl") for system in systems
        }
        result = {
            "dataset": dataset.name,
            "collection": collection,
            "budget": budget.to_dict(),
            "baseline_budget": baseline_budget.to_dict(),
            "systems": {name: summarize_records(rs) for name, rs in records.items()},
            **compare_on_common(records, reference=SYSTEMS[-1]),
            "wall_s": round(eval_wall, 1),
            "model": model,
        }
        (out / "eval" / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / "eval" / "summary.md").write_text(summary_markdown(result))

        if args.minutes_sweep <= 0:
            print(json.dumps({"eval": result}))
            return
        grid = SweepGrid(tuple(args.search_steps), tuple(args.token_caps))
        adaptive = grid.max_cell("auto", "adaptive")
        if adaptive.budget(budget).to_dict() == budget.to_dict():  # same config: reuse the records
            (out / "sweep" / "cells").mkdir(parents=True, exist_ok=True)
            target = out / "sweep" / "cells" / f"{adaptive.name}.jsonl"
            if not target.exists():
                shutil.copyfile(out / "eval" / "leadline-adaptive-auto.jsonl", target)
        sweep_started = time.monotonic()
        sweep_deadline = sweep_started + args.minutes_sweep * 60
        summary: dict = {}
        for n in SWEEP_ROUNDS:  # every cell reaches n before any goes further
            n = min(n, args.sweep_n)
            if time.monotonic() >= sweep_deadline:
                break
            summary = await run_sweep(
                dataset.head(n),
                grid,
                out / "sweep",
                settings=settings,
                base_budget=budget,
                services=services,
                collection=collection,
                command=" ".join(sys.argv),
                deadline=sweep_deadline,
            )
            if n == args.sweep_n:
                break
    summary["model"] = model
    print(
        json.dumps(
            {
                "eval": result,
                "sweep_cells": summary["cells"],
                "total_wall_s": round(time.monotonic() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent))
    parser.add_argument("--minutes-eval", type=float, default=15)
    parser.add_argument("--minutes-sweep", type=float, default=13)
    parser.add_argument("--max-tokens", type=int, default=8000)
    parser.add_argument("--baseline-max-tokens", type=int, default=6000)
    parser.add_argument("--max-search-steps", type=int, default=4)
    parser.add_argument("--sweep-n", type=int, default=30)
    parser.add_argument("--search-steps", type=int, nargs="+", default=[0, 1, 2, 4])
    parser.add_argument("--token-caps", type=int, nargs="+", default=[4000, 8000])
    asyncio.run(main(parser.parse_args()))
