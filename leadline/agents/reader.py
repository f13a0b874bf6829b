"""Reader: answers once, at the end, from the best passages of the whole evidence pool.

Measured on the 1.5B model: the answer must not come out of the reasoning chain (it names the
bridge entity, writes sentences, says "unknown"); reading a few raw passages in a plain
short-answer prompt is what small models do well (IRCoT's reader, Trivedi et al. 2023). So every
passage any query retrieved goes into the pool (`PoolHit`), and the reader gets the top K of it,
ranked for the original question: reciprocal-rank fusion of each query's ranks with a BM25
relevance rank for the question itself, best passage nearest the question, the question last.

Width (`Budget.width` = N > 1) reads the same prompt N times: the first greedily (temperature
0, exactly the single read), the others sampled at `SAMPLE_TEMPERATURE`, and `vote` picks the
majority short answer, ties going to the earliest sample, so the greedy answer wins unless a
majority of samples disagree with it. The prompt is identical each time, so a prefix-caching
server computes its prefill once.

Pure functions only: ranking, the prompt's passage list, cleaning a reply into a short answer
span, voting, and choosing citations. The graph node and the eval replay do the I/O.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from leadline.agents.workspace import PoolHit
from leadline.tools.search.rank import bm25_ranks

DEFAULT_READER_PASSAGES = 5
DEFAULT_POOL_PER_QUERY = 5
RRF_K = 60  # the usual reciprocal-rank-fusion constant (Cormack et al. 2009)
QUESTION_WEIGHT = 1.0  # weight of the question's own BM25 rank among the fused ranks
UNKNOWN = "unknown"
# Small enough that samples stay near the greedy reading, large enough that they can differ.
SAMPLE_TEMPERATURE = 0.5


class ReaderOutput(BaseModel):
    answer: str = Field("", max_length=300)


@dataclass(frozen=True)
class RankedPassage:
    """One pool passage as the reader sees it, with its fused score and its evidence number."""

    n: int
    passage_id: str
    title: str
    text: str
    source: str
    score: float


_WORD = re.compile(r"[a-z0-9]+")


def rank_pool(
    question: str, hits: Sequence[PoolHit], up_to_step: int | None = None
) -> list[PoolHit]:
    """The pool's distinct passages, best first, for answering `question`.

    Each query's ranking counts once per passage (its best rank there); the question's own BM25
    ranking over the pool is fused in, so a passage many queries found, or one that matches the
    question's words, comes first. `up_to_step` ranks the pool as it was after that step.
    """
    hits = [h for h in hits if up_to_step is None or h.step <= up_to_step]
    best_rank: dict[tuple[str, str], int] = {}
    first: dict[str, PoolHit] = {}
    for h in hits:
        first.setdefault(h.passage_id, h)
        key = (h.passage_id, h.query)
        best_rank[key] = min(best_rank.get(key, h.rank), h.rank)
    fused: dict[str, float] = defaultdict(float)
    for (pid, _), rank in best_rank.items():
        fused[pid] += 1.0 / (RRF_K + rank)
    passages = list(first.values())
    for p, rank in zip(
        passages, bm25_ranks(question, [f"{p.title} {p.text}" for p in passages]), strict=True
    ):
        fused[p.passage_id] += QUESTION_WEIGHT / (RRF_K + rank)
    order = {p.passage_id: i for i, p in enumerate(passages)}
    return sorted(passages, key=lambda p: (-fused[p.passage_id], order[p.passage_id]))


def render_passages(passages: Sequence[RankedPassage]) -> str:
    """Best passage last, nearest the restated question (small models weigh what is near)."""
    return "\n".join(f"[{p.n}] {p.title}: {p.text}" for p in reversed(passages)) or "(none)"


# --- short answers -----------------------------------------------------------------------------

_CITE = re.compile(r"\s*\[\d{1,3}\]")
_LEAD_INS = re.compile(
    r"^(?:the\s+)?(?:final\s+|short\s+)?answer(?:\s+is)?\s*[:\-]?\s*|^answer\s*:\s*", re.IGNORECASE
)
_YES_NO_START = re.compile(
    r"^(is|are|was|were|do|does|did|can|could|has|have|had|will|would|should|shall|may|might)\b",
    re.IGNORECASE,
)
_YES_NO_REPLY = re.compile(r"^(yes|no)\b", re.IGNORECASE)


def is_yes_no_question(question: str) -> bool:
    """A question that starts with an auxiliary verb and offers no "A or B" choice."""
    q = question.strip()
    return bool(_YES_NO_START.match(q)) and not choice_options(q)


def choice_options(question: str) -> list[str]:
    """The two entities a comparison question offers ("..., A or B?"), else []."""
    clause = question.strip().rstrip("?").strip()
    if " or " not in clause:
        return []
    clause = re.split(r"[,:;]", clause)[-1]
    left, _, right = clause.rpartition(" or ")
    if not left.strip() or not right.strip():
        return []
    if "," not in question and ":" not in question and ";" not in question:
        return []  # without a separator the left option's start is unknowable
    return [left.strip(" \"'"), right.strip(" \"'")]


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def short_answer(question: str, reply: str) -> str:
    """Cut a reader reply to its answer span: no citations, lead-ins, quotes or final period;
    yes or no for a yes/no question; for an "A or B" question the option the reply names (first,
    when it names both: "A is older than B")."""
    text = _CITE.sub("", " ".join(reply.split()))
    text = _LEAD_INS.sub("", text).strip().strip("\"'`").strip()
    text = text.rstrip(".").strip()
    if not text:
        return ""
    if is_yes_no_question(question):
        match = _YES_NO_REPLY.match(text)
        if match:
            return match.group(1).lower()
    options = choice_options(question)
    reply = f" {_norm(text)} "
    named = [o for o in options if _norm(o) and f" {_norm(o)} " in reply]
    if named and not any(_norm(o) == _norm(text) for o in named):
        # "X is older than Y": a comparative reply names its answer first.
        return min(named, key=lambda o: reply.index(f" {_norm(o)} "))
    return text


def is_unknown(answer: str) -> bool:
    return not answer.strip() or answer.strip().lower().rstrip(".") in {
        UNKNOWN,
        "none",
        "n/a",
        "not found",
        "not mentioned",
        "not given",
        "no answer",
    }


def vote(answers: Sequence[str]) -> int | None:
    """Index of the majority answer among short answers (compared in normal form: case, spacing
    and punctuation aside), ties to the one given first; unknown answers take no part.

    None when every answer is unknown. With one answer this is that answer (or None), so a
    width of 1 is the single read, unchanged.
    """
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for i, answer in enumerate(answers):
        if is_unknown(answer):
            continue
        key = _norm(answer)
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, i)
    if not counts:
        return None
    best = max(counts, key=lambda k: (counts[k], -first[k]))
    return first[best]


def cite(answer: str, passages: Sequence[RankedPassage]) -> list[RankedPassage]:
    """The passages whose text holds the answer span; failing that, the top passage."""
    key = _norm(answer)
    if key and key not in ("yes", "no"):
        holding = [p for p in passages if key in _norm(f"{p.title} {p.text}")]
        if holding:
            return holding[:3]
    return list(passages[:2]) if key in ("yes", "no") else list(passages[:1])


def quote(answer: str, text: str, limit: int) -> str:
    """The sentence of `text` that holds the answer (so a reader can check it), else its start."""
    key = _norm(answer)
    if key:
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            if key in _norm(sentence):
                return sentence[:limit]
    return text[:limit]
