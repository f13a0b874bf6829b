"""Offline (no model): would a second look at the pool's second-best pair have paid?

The rule scored: when the final read is less than 0.8 sure (or held by a re-read, so without
log-probabilities), read the second-best candidate pair and keep that answer when it differs
and the reader is surer of it. Scored from two replays of the same pools: the shipped read and
a read of the second pair (`second_pair_replay.py`); prints each switch and the paired EM change.

    python second_look_offline.py BASE.jsonl SECOND.jsonl SOURCE.jsonl
"""

from __future__ import annotations

import json
import math
import random
import sys

THRESHOLD = 0.8


def load(path: str) -> dict[str, dict]:
    with open(path) as fh:
        return {r["id"]: r for r in map(json.loads, fh)}


def conf(logprobs: list[float]) -> float | None:
    return math.exp(sum(logprobs) / len(logprobs)) if logprobs else None


def main(base_path: str, second_path: str, source_path: str) -> None:
    base, second, source = load(base_path), load(second_path), load(source_path)
    ids = [i for i in base if i in second]
    diffs, switches = [], []
    for i in ids:
        b, a = base[i], second[i]
        cb, ca = conf(b["answer_logprobs"]), conf(a["answer_logprobs"])
        em = b["em"]
        unsure = cb is None or cb < THRESHOLD
        surer = ca is not None and (cb is None or ca > cb)
        if unsure and surer and a["prediction"].lower() != b["prediction"].lower():
            em = a["em"]
            switches.append((b["prediction"], a["prediction"], b["em"], a["em"], cb, ca))
            switches[-1] += (source[i].get("stop_reason"),)
        diffs.append(em - b["em"])
    for s in switches:
        print(s)
    n = len(diffs)
    random.seed(0)
    boot = sorted(sum(random.choice(diffs) for _ in range(n)) / n for _ in range(4000))
    base_em = sum(base[i]["em"] for i in ids) / n
    print(
        f"n={n} base EM {base_em:.3f} second look {sum(diffs) / n:+.3f} "
        f"[{boot[100]:+.3f}, {boot[3899]:+.3f}] switched {len(switches)}"
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
