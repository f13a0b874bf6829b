"""Offline (no model): a majority vote over several replayed reads of the same pools.

The first file is the shipped read; ties go to its answer. Prints the paired EM change.

    python vote_offline.py BASE.jsonl OTHER.jsonl [OTHER.jsonl ...]
"""

from __future__ import annotations

import collections
import json
import random
import sys

from leadline.evals.metrics import exact_match, normalize_answer


def load(path: str) -> dict[str, dict]:
    with open(path) as fh:
        return {r["id"]: r for r in map(json.loads, fh)}


def main(paths: list[str]) -> None:
    runs = [load(p) for p in paths]
    ids = [i for i in runs[0] if all(i in run for run in runs)]
    diffs, changed = [], 0
    for i in ids:
        reads = [run[i] for run in runs]
        base = reads[0]
        counts = collections.Counter(normalize_answer(r["prediction"]) for r in reads)
        own = normalize_answer(base["prediction"])
        best = max(counts, key=lambda k: (counts[k], k == own))
        answers = [r["prediction"] for r in reads]
        prediction = next(a for a in answers if normalize_answer(a) == best)
        changed += prediction != base["prediction"]
        diffs.append(exact_match(prediction, base["answers"]) - base["em"])
    n = len(diffs)
    random.seed(0)
    boot = sorted(sum(random.choice(diffs) for _ in range(n)) / n for _ in range(4000))
    print(f"n={n} vote − base {sum(diffs) / n:+.3f} [{boot[100]:+.3f}, {boot[3899]:+.3f}]")
    print(f"changed {changed}")


if __name__ == "__main__":
    main(sys.argv[1:])
