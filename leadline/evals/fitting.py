"""The sweep's fitted law as a file: `law.json`, which `--policy allocate` reads.

From a sweep's cells (true or replayed) this builds the law's points — each cell where it sits
on every axis (mean search steps and reasoner tokens used, width) with each question's EM there
— and fits `budgets.law` on them: per axis and jointly, for all questions and per question type
(the shape experiment's bridge/comparison split), plus a linear cost model (mean weighted tokens
per question against the axes) that lets the allocate policy price a mix before choosing it.
The file says what it was fitted on (dataset, n, cells, command), so a law fitted on 30
questions is never mistaken for one fitted on 300.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from leadline.budgets.law import AXES, LawCell, fit_cost, fit_laws
from leadline.evals.metrics import cost_of, mean

LAW_KIND = "leadline.scaling_law"
LAW_VERSION = 1
MIN_TYPE_QUESTIONS = 10  # below this a type's law is noise; it is left out


def cell_x(cell: Any, records: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Where a cell sits on each axis: what its runs used (steps, reasoner tokens), its width."""
    return {
        "search_steps": mean(float(r["cost"]["search_steps"]) for r in records),
        "reasoning_tokens": mean(cost_of(r, "reasoner_tokens") for r in records),
        "width": float(getattr(cell, "width", 1)),
    }


def law_cells(
    cells: Mapping[Any, Sequence[dict[str, Any]]], kind: str | None = None
) -> list[LawCell]:
    """One `LawCell` per sweep cell (of question type `kind`, or all), cost included."""
    out = []
    for cell, records in cells.items():
        chosen = [r for r in records if kind is None or (r.get("type") or "unknown") == kind]
        if chosen:
            out.append(
                LawCell(
                    cell_x(cell, chosen),
                    {str(r["id"]): float(r["em"]) for r in chosen},
                    mean(cost_of(r, "weighted_tokens") for r in chosen),
                )
            )
    return out


def measured_cells(cells: Mapping[Any, Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each cell's caps with where its runs landed: the points `--policy allocate` chooses
    among, since caps alone can name mixes no run reaches (no reasoner tokens, no later hops)."""
    out = []
    for cell, records in cells.items():
        if records:
            out.append(
                {
                    "caps": {
                        "search_steps": cell.max_search_steps,
                        "reasoning_tokens": getattr(cell, "max_reasoning_tokens", None),
                        "width": getattr(cell, "width", 1),
                    },
                    "x": {a: round(v, 3) for a, v in cell_x(cell, records).items()},
                    "em": round(mean(float(r["em"]) for r in records), 4),
                }
            )
    return out


def law_document(
    cells: Mapping[Any, Sequence[dict[str, Any]]],
    axes: Sequence[str],
    summary: Mapping[str, Any],
    *,
    n_boot: int = 1000,
) -> dict[str, Any]:
    """The law file: fits for the main shape's cells, per type and per shape, and the cost."""
    shapes = sorted({getattr(c, "shape", "auto") for c in cells})
    main = "auto" if "auto" in shapes else shapes[0] if shapes else "auto"
    mine = {c: r for c, r in cells.items() if getattr(c, "shape", "auto") == main}
    points = law_cells(mine)
    laws = fit_laws(points, axes, n_boot=n_boot)
    fitted = tuple(laws["joint"]["axes"]) if laws["joint"] else ()
    cost = fit_cost([p.x for p in points], [p.cost for p in points], fitted)
    kinds = sorted({r["type"] for rs in mine.values() for r in rs if r.get("type")})
    by_type = {}
    for kind in kinds:
        typed = law_cells(mine, kind)
        n = len({q for p in typed for q in p.scores})
        if n >= MIN_TYPE_QUESTIONS:
            by_type[kind] = {"n": n, **fit_laws(typed, axes, n_boot=n_boot)}
    by_shape = {}
    for shape in shapes:
        if shape != main:
            other = law_cells({c: r for c, r in cells.items() if c.shape == shape})
            by_shape[shape] = fit_laws(other, axes, n_boot=n_boot)
    n_questions = len({q for p in points for q in p.scores})
    return {
        "kind": LAW_KIND,
        "version": LAW_VERSION,
        "label": (
            f"fitted on {summary.get('dataset', '?')}, n={n_questions} questions, "
            f"{len(points)} {summary.get('mode', 'true')} cells"
        ),
        "source": {
            "dataset": summary.get("dataset"),
            "n": n_questions,
            "cells": len(points),
            "mode": summary.get("mode", "true"),
            "grid": summary.get("grid"),
            "cached_token_rate": summary.get("cached_token_rate"),
            "command": summary.get("command", ""),
            "created": datetime.date.today().isoformat(),
        },
        "shape": main,
        **laws,
        "by_type": by_type,
        "by_shape": by_shape,
        "cost": cost.to_dict() if cost else None,
        "cells": measured_cells(mine),
        "range": {
            a: [round(min(p.x[a] for p in points), 3), round(max(p.x[a] for p in points), 3)]
            for a in AXES
        }
        if points
        else {},
    }
