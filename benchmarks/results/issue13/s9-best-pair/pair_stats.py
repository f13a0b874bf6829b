"""Offline (no model): how often each way of choosing the reader's 2 passages picks both gold
passages, and a passage holding the answer string, over stored pools.

Run from the repository root, with record files (default: the 100 dev pools, dev300 1-100):
    python benchmarks/results/issue13/s9-best-pair/pair_stats.py [RECORDS.jsonl ...]

rank: the top 2 by rank; first-linked: the linked pair holding the best-ranked passage in any
pair (the eighth session's rule); best: `best_pair_first`, the pair covering the most of the
question (this session's rule).
"""

import json
import sys
from pathlib import Path

from leadline.agents.searcher import rank_pool
from leadline.evals.metrics import normalize_answer, normalize_title
from leadline.evals.replay import pool_of
from leadline.graph.read import (
    PAIR_WINDOW,
    RankedPassage,
    best_pair_first,
    choice_options,
    is_yes_no_question,
    names,
    number_passages,
)

DEV = [
    f"benchmarks/results/issue13/{name}/leadline-adaptive-auto.jsonl"
    for name in ("dev3-links", "dev4-48-100")
]


def first_linked(question: str, ranked: list[RankedPassage]) -> list[RankedPassage]:
    top = ranked[:PAIR_WINDOW]
    pairs = [
        (min(i, j), max(i, j), i, j)
        for i in range(len(top))
        for j in range(len(top))
        if i != j and names(top[i], top[j])
    ]
    if is_yes_no_question(question) or choice_options(question) or not pairs:
        return ranked[:2]
    *_, i, j = min(pairs)
    return [top[i], top[j]]


RULES = {
    "rank": lambda question, ranked: ranked[:2],
    "first-linked": first_linked,
    "best": lambda question, ranked: best_pair_first(question, ranked)[:2],
}


def main(paths: list[str]) -> None:
    records = [json.loads(line) for p in paths for line in Path(p).read_text().splitlines()]
    for name, rule in RULES.items():
        gold = answer = 0
        for r in records:
            ranked = number_passages(rank_pool(r["question"], pool_of(r)), [])
            chosen = rule(r["question"], ranked)
            supporting = {normalize_title(t) for t in r["supporting_titles"]}
            gold += sum(normalize_title(p.title) in supporting for p in chosen) == 2
            text = " ".join(normalize_answer(f"{p.title} {p.text}") for p in chosen)
            answer += any(normalize_answer(a) in text for a in r["answers"])
        print(f"{name}: both gold {gold}, answer string {answer} of {len(records)}")


if __name__ == "__main__":
    main(sys.argv[1:] or DEV)
