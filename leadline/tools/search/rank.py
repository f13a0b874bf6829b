"""BM25 over a handful of texts (a run's evidence pool, a passage's linked neighbours).

The corpus index (`bm25.py`) ranks a whole collection; this ranks the few passages a run already
holds, for its question, with statistics from those passages alone, and weighs how much of the
question a set of them covers (`term_weights`, `covered`). Pure and dependency-free, so the
reader and the link step share it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    "a an and are as at be by did do does for from had has have he her his how in is it its of on"  # noqa: SIM905
    " or she that the their they this to was were what when where which who whom whose why will"
    " with".split()
)


def _terms(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


def _idf(n_docs: int, df: int) -> float:
    return math.log(1 + (n_docs - df + 0.5) / (df + 0.5))


def bm25_ranks(query: str, docs: Sequence[str], k1: float = 1.2, b: float = 0.75) -> list[int]:
    """1-based rank of each doc for `query` by BM25 over `docs` alone (ties keep input order)."""
    if not docs:
        return []
    tokenized = [_terms(d) for d in docs]
    avg_len = sum(len(t) for t in tokenized) / len(tokenized) or 1.0
    df: Counter[str] = Counter(term for t in tokenized for term in set(t))
    n_docs = len(docs)
    q_terms = set(_terms(query))
    scores = []
    for tokens in tokenized:
        tf = Counter(tokens)
        score = 0.0
        for term in q_terms & tf.keys():
            idf = _idf(n_docs, df[term])
            f = tf[term]
            score += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * len(tokens) / avg_len))
        scores.append(score)
    order = sorted(range(n_docs), key=lambda i: -scores[i])
    ranks = [0] * n_docs
    for rank, i in enumerate(order, start=1):
        ranks[i] = rank
    return ranks


def term_weights(query: str, docs: Sequence[str]) -> dict[str, float]:
    """Each query term's idf over `docs`: a term few of them hold says more where it occurs."""
    tokenized = [set(_terms(d)) for d in docs]
    return {term: _idf(len(docs), sum(term in t for t in tokenized)) for term in set(_terms(query))}


def covered(weights: dict[str, float], texts: Sequence[str]) -> float:
    """The weight of the query terms that occur in any of `texts` (each term counted once)."""
    terms = set().union(*(_terms(t) for t in texts))
    return sum(w for term, w in weights.items() if term in terms)
