"""Question types (HotpotQA's bridge and comparison), for reports split by type.

The shape experiment asks whether sequential search (depth) beats parallel search (breadth) on
bridge questions, where each hop needs the last one's answer, and not on comparisons, where
both entities can be looked up at once. That needs every question's type. The official HotpotQA
layout has it (`type`, read into `Example.kind`); the IRCoT layout (dev300.jsonl) does not, so
types can be joined by question id from an official file (`load_type_labels`: the ids are the
same), and failing both, guessed from the question's wording (`guess_type`). Records say which
(`type_source`: dataset, labels or guessed), and reports count the guessed ones.

`guess_type` on the 100 labelled questions of `hotpot_dev_distractor_first100.json` agrees
with the label on 95 (its misses: a comparison phrased as "where does X hail from?", a
"which, A or B, had more" whose choice is mid-sentence, and HotpotQA's own noise, such as
"Who is older, A or B?" labelled bridge).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from leadline.budgets.curves import bootstrap_ci, paired_difference
from leadline.errors import ConfigError
from leadline.evals.datasets import Example
from leadline.graph.read import compares_entities

TypeLabels = Mapping[str, str]
BRIDGE, COMPARISON = "bridge", "comparison"
_SHARED = re.compile(r"\b(both|same|share|shared|in common)\b", re.IGNORECASE)
_COMPARATIVE = re.compile(r"\b(?:\w+er|more|less) than\b", re.IGNORECASE)


def guess_type(question: str) -> str:
    """`comparison` for a question that weighs two things (yes/no, "A or B", "both", "same",
    "X-er than"), else `bridge`."""
    q = question.strip()
    if compares_entities(q):
        return COMPARISON
    if _SHARED.search(q) or _COMPARATIVE.search(q):
        return COMPARISON
    return BRIDGE


def question_type(example: Example, labels: TypeLabels | None = None) -> tuple[str, str]:
    """(type, where it came from): the dataset's own, a joined label, or a guess."""
    if example.kind in (BRIDGE, COMPARISON):
        return example.kind, "dataset"
    if labels and example.id in labels:
        return labels[example.id], "labels"
    return guess_type(example.question), "guessed"


def load_type_labels(path: Path | str) -> dict[str, str]:
    """Question id → type from an official-layout HotpotQA file (`_id`, `type`)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read question types from {path}: {exc}") from exc
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected the official HotpotQA layout (a JSON list)")
    labels = {
        str(q["_id"]): str(q["type"])
        for q in data
        if isinstance(q, dict) and "_id" in q and q.get("type")
    }
    if not labels:
        raise ConfigError(f"{path} holds no question with an `_id` and a `type`")
    return labels


def type_scores(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per question type: n, EM and F1 with bootstrap intervals, and how many types were guessed."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(r.get("type") or "unknown", []).append(r)
    out = {}
    for kind, group in sorted(groups.items()):
        row: dict[str, Any] = {"n": len(group)}
        for metric in ("em", "f1"):
            mean, low, high = bootstrap_ci([r[metric] for r in group])
            row[metric] = round(mean, 4)
            row[f"{metric}_ci"] = [round(low, 4), round(high, 4)]
        row["guessed"] = sum(1 for r in group if r.get("type_source") == "guessed")
        out[kind] = row
    return out


def shape_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """(sequential, parallel) pairs of leadline systems that differ only in shape."""
    pairs = []
    for name in names:
        if "-sequential" in name:
            other = name.replace("-sequential", "-parallel")
            if other in names:
                pairs.append((name, other))
    return pairs


def shape_comparison(
    a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]], metric: str = "em"
) -> dict[str, dict[str, Any]]:
    """Per question type: a − b on the questions both answered, paired bootstrap interval."""
    by_id = {r["id"]: r for r in b}
    out = {}
    kinds = sorted({r.get("type") or "unknown" for r in a})
    for kind in ["all", *kinds]:
        pairs = [
            (r[metric], by_id[r["id"]][metric])
            for r in a
            if r["id"] in by_id and (kind == "all" or (r.get("type") or "unknown") == kind)
        ]
        if pairs:
            out[kind] = paired_difference([p[0] for p in pairs], [p[1] for p in pairs])
    return out


def types_summary(by_system: Mapping[str, Sequence[dict[str, Any]]]) -> dict[str, Any]:
    """Every system's scores by type, and sequential − parallel per type where both ran."""
    names = list(by_system)
    return {
        "systems": {name: type_scores(records) for name, records in by_system.items()},
        "sequential_vs_parallel": [
            {
                "sequential": s,
                "parallel": p,
                **{m: shape_comparison(by_system[s], by_system[p], m) for m in ("em", "f1")},
            }
            for s, p in shape_pairs(names)
        ],
    }
