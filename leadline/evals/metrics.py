"""Scores: official SQuAD/HotpotQA answer normalisation, EM and F1, retrieval recall, costs.

`normalize_answer`, `exact_match` and `f1` follow the official HotpotQA evaluation script (which
is SQuAD v1.1's plus one rule: when either side is "yes", "no" or "noanswer" and they differ, F1
is 0). Scores against several gold aliases take the maximum. `support_recall` is the share of gold
supporting titles among the passages a system retrieved; `QuestionCost` is what one question cost
on both axes plus wall time, and its `compute` uses the same exchange rates as the budget. Costs
carry tokens both raw (`total_tokens`, what the server billed) and in the budget's unit
(`weighted_tokens`, cached prompt tokens at the budget's rate: what `max_tokens` caps).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from leadline.budgets.budget import CACHED_PROMPT_RATE, Rates, Spend

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = frozenset(string.punctuation)
_SPECIAL = ("yes", "no", "noanswer")


def normalize_answer(s: str) -> str:
    """Lower-case, drop punctuation and the articles a/an/the, collapse whitespace."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def _f1_single(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction), normalize_answer(gold)
    if (pred in _SPECIAL or ref in _SPECIAL) and pred != ref:
        return 0.0
    pred_tokens, ref_tokens = pred.split(), ref.split()
    common = Counter(pred_tokens) & Counter(ref_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, golds: str | Sequence[str]) -> float:
    """1.0 if the normalised prediction equals any normalised gold answer."""
    golds = [golds] if isinstance(golds, str) else golds
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))


def f1(prediction: str, golds: str | Sequence[str]) -> float:
    """Token F1 against the best-matching gold alias."""
    golds = [golds] if isinstance(golds, str) else golds
    return max((_f1_single(prediction, g) for g in golds), default=0.0)


def normalize_title(title: str) -> str:
    return " ".join(title.lower().split())


def support_recall(retrieved_titles: Iterable[str], gold_titles: Sequence[str]) -> float | None:
    """Share of gold supporting paragraphs (by title) that were retrieved; None without gold."""
    gold = {normalize_title(t) for t in gold_titles}
    if not gold:
        return None
    got = {normalize_title(t) for t in retrieved_titles}
    return len(gold & got) / len(gold)


@dataclass(frozen=True)
class QuestionCost(Spend):
    """What one question cost: its spend (tokens by kind, search steps), LLM calls, wall time,
    and, in `to_dict`, its compute at the given exchange rates."""

    llm_calls: int = 0
    wall_s: float = 0.0

    @property
    def uncached_tokens(self) -> int:
        return self.uncached_prompt_tokens

    @classmethod
    def of(cls, spend: Spend, *, llm_calls: int, wall_s: float) -> QuestionCost:
        return cls(
            spend.prompt_tokens,
            spend.cached_tokens,
            spend.completion_tokens,
            spend.search_steps,
            llm_calls=llm_calls,
            wall_s=round(wall_s, 3),
        )

    def to_dict(
        self, rates: Rates | None = None, cached_token_rate: float = CACHED_PROMPT_RATE
    ) -> dict[str, Any]:
        return {
            **asdict(self),
            "uncached_tokens": self.uncached_tokens,
            "total_tokens": self.total_tokens,
            "weighted_tokens": round(self.weighted_tokens(cached_token_rate), 1),
            "compute": round(self.compute(rates or Rates()), 1),
        }


COST_FIELDS = (
    "prompt_tokens",
    "uncached_tokens",
    "cached_tokens",
    "completion_tokens",
    "total_tokens",
    "weighted_tokens",
    "reasoner_tokens",
    "search_steps",
    "llm_calls",
    "compute",
    "wall_s",
)


def mean(values: Iterable[float]) -> float:
    vals = list(values)
    return sum(vals) / len(vals) if vals else 0.0


def summarize_records(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean scores and costs over per-question records (as the runner writes them)."""
    recalls = [r["support_recall"] for r in records if r.get("support_recall") is not None]
    out: dict[str, Any] = {
        "n": len(records),
        "em": round(mean(r["em"] for r in records), 4),
        "f1": round(mean(r["f1"] for r in records), 4),
        "support_recall": round(mean(recalls), 4) if recalls else None,
        "errors": sum(1 for r in records if r.get("error")),
        "precompute_used": sum(1 for r in records if r.get("precompute")),
    }
    for key in COST_FIELDS:
        out[f"mean_{key}"] = round(mean(cost_of(r, key) for r in records), 2)
    return out


def cost_of(record: dict[str, Any], key: str) -> float:
    """One cost figure of a record; records written before tokens were weighted count their
    raw total as weighted (the unit they were capped in)."""
    cost = record["cost"]
    if key == "weighted_tokens" and key not in cost:
        return float(cost.get("total_tokens", 0))
    return float(cost.get(key, 0))


def break_even(
    with_: dict[str, Any], without: dict[str, Any], cost: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """What precompute buys per question and after how many questions it has paid for itself.

    `with_` and `without` are two systems' summaries on the same questions (e.g. `leadline-fixed`
    and `leadline-fixed-nolinks`); `cost` is the collection's precompute cost per stage. Saved
    test-time compute (token-equivalents) and wall time per question are the differences of the
    means; break-even is precompute cost over saving (None where nothing is saved).
    """
    tokens = sum(float(s.get("total_tokens", 0)) for s in cost.values())
    wall = sum(float(s.get("wall_s", 0)) for s in cost.values())
    saved_compute = without["mean_compute"] - with_["mean_compute"]
    saved_wall = without["mean_wall_s"] - with_["mean_wall_s"]
    return {
        "em_gain": round(with_["em"] - without["em"], 4),
        "f1_gain": round(with_["f1"] - without["f1"], 4),
        "saved_compute_per_question": round(saved_compute, 1),
        "saved_wall_s_per_question": round(saved_wall, 3),
        "precompute_tokens": int(tokens),
        "precompute_wall_s": round(wall, 1),
        "break_even_questions_tokens": (
            0 if tokens == 0 else round(tokens / saved_compute, 1) if saved_compute > 0 else None
        ),
        "break_even_questions_wall": round(wall / saved_wall, 1) if saved_wall > 0 else None,
    }
