"""Offline (no model): for how many stored pools is the reader's pair both gold passages?

Compares the shipped choice (`best_pair_first`: only linked pairs are candidates for a bridge
question, the best coverage of the question wins) with the scored pair of `scored-pair.patch`:
coverage share + LINK for a linked pair + NAMED per passage whose subject the question names
- RANK per place down the ranking, over a small grid of the three weights.

    python benchmarks/results/issue13/s11-reader/pair_offline.py dev100.jsonl more92.jsonl
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from leadline.agents.searcher import rank_pool
from leadline.agents.workspace import PoolHit
from leadline.graph.read import (
    PAIR_WINDOW,
    RankedPassage,
    _names,
    _norm,
    best_pair_first,
    compares_entities,
    names,
    number_passages,
)
from leadline.precompute.links import bare_title
from leadline.tools.search.rank import covered, term_weights

FIELDS = {f.name for f in dataclasses.fields(PoolHit)}


def ranked_pools(path: str) -> list[tuple[dict, list[RankedPassage]]]:
    pools = []
    for line in Path(path).read_text().splitlines():
        record = json.loads(line)
        hits = [
            PoolHit(passage_id=p["id"], **{k: v for k, v in p.items() if k in FIELDS})
            for p in record["pool"]
        ]
        pools.append((record, number_passages(rank_pool(record["question"], hits), [])))
    return pools


def scored_pair(
    question: str, ranked: list[RankedPassage], link: float, named: float, rank: float
) -> list[RankedPassage]:
    top = ranked[:PAIR_WINDOW]
    if len(top) < 2:
        return top
    texts = [f"{p.title} {p.text}" for p in ranked]
    weights = term_weights(question, texts)
    whole = sum(weights.values()) or 1.0
    bridge = not compares_entities(question)

    def is_named(p: RankedPassage) -> bool:
        subject = bare_title(p.title)
        return len(_norm(subject)) >= 3 and _names(question, subject)

    def score(i: int, j: int) -> float:
        linked = bridge and (names(top[i], top[j]) or names(top[j], top[i]))
        return (
            covered(weights, [texts[i], texts[j]]) / whole
            + link * linked
            + named * (is_named(top[i]) + is_named(top[j]))
            - rank * (i + j)
        )

    pairs = [(i, j) for i in range(len(top)) for j in range(i + 1, len(top))]
    i, j = max(pairs, key=lambda p: (score(*p), -p[0], -p[1]))
    return [top[i], top[j]]


def both_gold(pools: list[tuple[dict, list[RankedPassage]]], choose) -> int:
    return sum(
        set(record["supporting_titles"]) <= {p.title for p in choose(record["question"], ranked)}
        for record, ranked in pools
    )


def main(paths: list[str]) -> None:
    sets = [ranked_pools(p) for p in paths]
    shipped = [both_gold(s, lambda q, r: best_pair_first(q, r)[:2]) for s in sets]
    print("shipped", shipped, sum(shipped))
    for link in (0.0, 0.1, 0.2, 0.3, 0.5):
        for rank in (0.0, 0.03, 0.05):
            for named in (0.0, 0.1, 0.2, 0.3, 0.5):
                counts = [
                    both_gold(s, lambda q, r, a=link, b=named, c=rank: scored_pair(q, r, a, b, c))
                    for s in sets
                ]
                print(f"link {link} rank {rank} named {named}", counts, sum(counts))


if __name__ == "__main__":
    main(sys.argv[1:])
