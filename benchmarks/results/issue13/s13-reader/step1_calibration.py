"""Early-read calibration: how many step-1 reads are at least 0.8 sure, and how right they are.

    python benchmarks/results/issue13/s13-reader/step1_calibration.py REPLAY.jsonl [...]

REPLAY: `eval --replay ... --replay-step 1` records read without a second look (as the early
read is), e.g. `replay_cache_variant.py no-look` or `instruction-first,no-look`.
"""

from __future__ import annotations

import json
import math
import sys

STOP_CONFIDENCE = 0.8


def confidence(record: dict) -> float:
    logprobs = record.get("answer_logprobs") or []
    return math.exp(sum(logprobs) / len(logprobs)) if logprobs else 0.0


def em(rows: list[dict]) -> float:
    return sum(r["em"] for r in rows) / len(rows) if rows else 0.0


for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    sure = [r for r in rows if confidence(r) >= STOP_CONFIDENCE]
    unsure = [r for r in rows if confidence(r) < STOP_CONFIDENCE]
    print(
        f"{path}: n={len(rows)} EM {em(rows):.3f}; sure {len(sure)} EM {em(sure):.3f}; "
        f"unsure {len(unsure)} EM {em(unsure):.3f}"
    )
