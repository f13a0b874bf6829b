"""Offline (no model): how often each way of choosing the reader's 2 passages picks both gold
passages, and a passage holding the answer, over the 100 stored dev pools (dev300 1-100).

Run from the repository root: python benchmarks/results/issue13/s8-linked-pair/pair_stats.py
"""

import json
from pathlib import Path

from leadline.agents.searcher import rank_pool
from leadline.evals.metrics import normalize_answer, normalize_title
from leadline.evals.replay import pool_of
from leadline.graph.read import RankedPassage, names, number_passages

SOURCES = ("dev3-links", "dev4-48-100")
WINDOW = 6


def load() -> list[dict]:
    root = Path("benchmarks/results/issue13")
    return [
        json.loads(line)
        for name in SOURCES
        for line in (root / name / "leadline-adaptive-auto.jsonl").read_text().splitlines()
    ]


def choose(ranked: list[RankedPassage], how: str) -> list[RankedPassage]:
    """rank: the top 2; sum: the linked pair of lowest summed rank; lex: the pair holding the
    best-ranked passage in any pair (the shipped rule); top: a pair holding the top passage."""
    top = ranked[:WINDOW]
    pairs = [
        (i, j) for i in range(len(top)) for j in range(len(top)) if i != j and names(top[i], top[j])
    ]
    if how == "top":
        pairs = [p for p in pairs if 0 in p]
    if how == "rank" or not pairs:
        return ranked[:2]
    key = {"sum": lambda p: (p[0] + p[1], p), "lex": lambda p: (min(p), max(p), p)}
    i, j = min(pairs, key=key.get(how, key["sum"]))
    return [top[i], top[j]]


def main() -> None:
    records = load()
    for how in ("rank", "sum", "lex", "top"):
        gold = answer = 0
        for r in records:
            chosen = choose(number_passages(rank_pool(r["question"], pool_of(r)), []), how)
            supporting = {normalize_title(t) for t in r["supporting_titles"]}
            gold += sum(normalize_title(p.title) in supporting for p in chosen) == 2
            text = " ".join(normalize_answer(f"{p.title} {p.text}") for p in chosen)
            answer += any(normalize_answer(a) in text for a in r["answers"])
        print(f"{how}: both gold {gold}, answer string {answer} of {len(records)}")


if __name__ == "__main__":
    main()
