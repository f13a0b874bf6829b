"""Would stopping after the first search round, when the reader is sure, pay? Scored offline.

    .venv/bin/python benchmarks/confident_stop.py EARLY.jsonl WHOLE.jsonl [--thresholds 0.5,0.7,0.9]

EARLY: `leadline eval --replay WHOLE --replay-step 1` records (the reader over the pool after the
first round, with its answer's token log-probabilities); WHOLE: the full runs' own records. For
each confidence threshold the rule takes the early answer where the reader's confidence (the
geometric-mean probability of its answer tokens) reaches it, else the full run's answer, and
reports EM, F1, the share stopped early, the mean compute and a paired bootstrap interval
against the full runs. Compute is approximate: a stopped question costs the early replay's
(round one, its reasoner call included, plus one read: an over-estimate), the others the full
run plus one more read (the full run's own read stands in for the early one).
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path
from typing import Any


def load(path: str) -> dict[str, dict[str, Any]]:
    records = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return {r["id"]: r for r in records}


def confidence(record: dict[str, Any]) -> float:
    logprobs = record.get("answer_logprobs") or []
    return math.exp(sum(logprobs) / len(logprobs)) if logprobs else 0.0


def interval(diffs: list[float], rounds: int = 2000, seed: int = 0) -> tuple[float, float]:
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(sum(rng.choice(diffs) for _ in range(n)) / n for _ in range(rounds))
    return means[int(0.025 * rounds)], means[int(0.975 * rounds) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("early")
    parser.add_argument("whole")
    parser.add_argument("--thresholds", default="0.3,0.5,0.6,0.7,0.8,0.9,0.95,1.01")
    args = parser.parse_args()
    early, whole = load(args.early), load(args.whole)
    ids = [i for i in whole if i in early]
    compute = {i: whole[i]["cost"]["compute"] for i in ids}
    early_compute = {i: early[i]["cost"]["compute"] for i in ids}
    read = {i: whole[i]["reader_cost"]["total_tokens"] for i in ids}
    print(f"n = {len(ids)}; whole EM {sum(whole[i]['em'] for i in ids) / len(ids):.3f}")
    for threshold in (float(t) for t in args.thresholds.split(",")):
        stop = {i for i in ids if confidence(early[i]) >= threshold}
        pick = {i: early[i] if i in stop else whole[i] for i in ids}
        em = [pick[i]["em"] for i in ids]
        cost = [early_compute[i] if i in stop else compute[i] + read[i] for i in ids]
        diffs = [pick[i]["em"] - whole[i]["em"] for i in ids]
        low, high = interval(diffs)
        stopped_em = sum(early[i]["em"] for i in stop) / len(stop) if stop else float("nan")
        print(
            json.dumps(
                {
                    "threshold": threshold,
                    "stopped": len(stop),
                    "stopped_em": round(stopped_em, 3),
                    "em": round(sum(em) / len(ids), 3),
                    "f1": round(sum(pick[i]["f1"] for i in ids) / len(ids), 3),
                    "em_minus_whole": [
                        round(sum(diffs) / len(ids), 3),
                        round(low, 3),
                        round(high, 3),
                    ],
                    "compute": round(sum(cost) / len(ids)),
                    "whole_compute": round(sum(compute.values()) / len(ids)),
                }
            )
        )


if __name__ == "__main__":
    main()
