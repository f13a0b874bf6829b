"""`leadline eval --replay` with one reader variant patched in (experiments; not shipped).

    python replay_variant.py second-pair eval --replay RECORDS --reader-passages 2 --out DIR
    python replay_variant.py focus=160 eval --replay RECORDS --reader-passages 2 --out DIR

- `second-pair`: the reader reads the second-best candidate pair (`best_pair_first`'s
  preference, a pair of the same two passages once); with one pair only, that pair.
- `focus=T`: each passage the reader reads is cut to T tokens instead of 100.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import leadline.graph.read as read
from leadline.cli import main
from leadline.tools.search.rank import covered, term_weights


def second_pair_first(
    question: str, ranked: Sequence[read.RankedPassage], window: int = read.PAIR_WINDOW
) -> list[read.RankedPassage]:
    ranked = list(ranked)
    top = ranked[:window]
    pairs = read.candidate_pairs(question, top)
    if not pairs:
        return ranked
    texts = [f"{p.title} {p.text}" for p in ranked]
    weights = term_weights(question, texts)

    def preference(pair: tuple[int, int]) -> tuple[float, int, int, tuple[int, int]]:
        i, j = pair
        return (-covered(weights, [texts[i], texts[j]]), min(pair), max(pair), pair)

    order = sorted(pairs, key=preference)
    others = [p for p in order[1:] if set(p) != set(order[0])]
    i, j = others[0] if others else order[0]
    return [top[i], top[j], *(p for k, p in enumerate(ranked) if k not in (i, j))]


def patch(variant: str) -> None:
    if variant == "second-pair":
        read.best_pair_first = second_pair_first
    elif variant.startswith("focus="):
        tokens = int(variant.removeprefix("focus="))
        focus = read.focus_passage
        read.focus_passage = lambda text, question, max_tokens=tokens: focus(
            text, question, max_tokens
        )
    else:
        raise SystemExit(f"unknown variant {variant!r}")


if __name__ == "__main__":
    patch(sys.argv[1])
    sys.exit(main(sys.argv[2:]))
