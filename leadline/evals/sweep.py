"""Budget sweeps: accuracy over a grid of the compute axes — search-step caps × token caps ×
reasoning-token caps × widths (× shape).

Every cell is an ordinary `evaluate` run of leadline (default policy `fixed`, which spends up to
the caps) into `OUT/cells/<cell>.jsonl`, so a sweep is resumable cell by cell and question by
question. From the cells come `curves.csv` (one row per cell, plus "anytime" rows replayed from
the max-budget cell's anytime answers, plus other policies at the max budget), the fitted
law (`law.json`: logit EM against the log of each axis, see `budgets.law`), the plots and
`report.md`. The other policies' runs (adaptive by default; allocate too with
`compare_policies`) are compared with the fixed cells at equal mean compute. Each
cell's records are checked against its caps; a violation is reported, never hidden.
`evals.replay_sweep` produces the same outputs from one max-budget run plus reader calls.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from leadline.agents.prompting import KVMode
from leadline.budgets.budget import Budget
from leadline.budgets.controller import Policy, ShapeMode
from leadline.budgets.curves import CurvePoint, answer_at, bootstrap_ci, compute_matched
from leadline.config import Settings
from leadline.errors import ConfigError
from leadline.evals.baselines import SystemSpec
from leadline.evals.datasets import Dataset
from leadline.evals.metrics import cost_of, mean, summarize_records
from leadline.evals.types import TypeLabels

CSV_FIELDS = [f.name for f in fields(CurvePoint)]
NO_CAP = math.inf  # how an uncapped reasoning axis sorts: above every cap


@dataclass(frozen=True)
class Cell:
    """One point of the grid: the caps a run gets (reasoning None: no reasoning cap)."""

    shape: ShapeMode
    policy: Policy
    max_search_steps: int
    max_tokens: int
    max_reasoning_tokens: int | None = None
    width: int = 1

    @property
    def name(self) -> str:
        """The cell's file name; the new axes appear only when set, so sweeps written before
        them resume into the same files."""
        reasoning = "" if self.max_reasoning_tokens is None else f"-r{self.max_reasoning_tokens}"
        width = "" if self.width == 1 else f"-w{self.width}"
        return (
            f"{self.policy}-{self.shape}-s{self.max_search_steps}-t{self.max_tokens}"
            f"{reasoning}{width}"
        )

    def budget(self, base: Budget) -> Budget:
        return Budget(
            max_tokens=self.max_tokens,
            max_search_steps=self.max_search_steps,
            max_compute=None,
            rates=base.rates,
            answer_tokens=base.answer_tokens,
            max_reasoning_tokens=self.max_reasoning_tokens,
            reasoning_step_tokens=base.reasoning_step_tokens,
            width=self.width,
            cached_token_rate=base.cached_token_rate,
        )

    def axes(self) -> tuple[float, float, float, float]:
        """Where the cell sits, for sorting: bigger on every axis sorts later."""
        reasoning = NO_CAP if self.max_reasoning_tokens is None else self.max_reasoning_tokens
        return (self.max_tokens, self.max_search_steps, reasoning, self.width)


@dataclass(frozen=True)
class SweepGrid:
    search_steps: tuple[int, ...]
    token_caps: tuple[int, ...]
    shapes: tuple[ShapeMode, ...] = ("auto",)
    policy: Policy = "fixed"
    reasoning_tokens: tuple[int | None, ...] = (None,)
    widths: tuple[int, ...] = (1,)

    def __post_init__(self) -> None:
        if not all((self.search_steps, self.token_caps, self.shapes, self.reasoning_tokens)):
            raise ConfigError("a sweep needs at least one search-step cap, token cap and shape")
        if not self.widths:
            raise ConfigError("a sweep needs at least one width")
        if min(self.search_steps) < 0:
            raise ConfigError("search-step caps must be >= 0")
        if any(r is not None and r < 0 for r in self.reasoning_tokens):
            raise ConfigError("reasoning-token caps must be >= 0")
        if min(self.widths) < 1:
            raise ConfigError("widths must be >= 1")
        unknown = set(self.shapes) - {"sequential", "parallel", "auto"}
        if unknown:
            raise ConfigError(
                f"unknown shape(s) {sorted(unknown)}; use sequential, parallel or auto"
            )

    @property
    def varied(self) -> tuple[str, ...]:
        """The law's axes this grid varies (a reasoning axis only where it sets caps)."""
        axes = []
        if len(self.search_steps) > 1:
            axes.append("search_steps")
        if len(self.reasoning_tokens) > 1:
            axes.append("reasoning_tokens")
        if len(self.widths) > 1:
            axes.append("width")
        return tuple(axes)

    def cells(self) -> list[Cell]:
        """All cells; per shape the max-budget cell first (it also feeds the anytime curves)."""
        out = []
        for shape in self.shapes:
            grid = [
                Cell(shape, self.policy, s, t, r, w)
                for t in self.token_caps
                for s in self.search_steps
                for r in self.reasoning_tokens
                for w in self.widths
            ]
            out.extend(sorted(grid, key=Cell.axes, reverse=True))
        return out

    def max_cell(self, shape: ShapeMode, policy: Policy | None = None) -> Cell:
        reasoning = None if None in self.reasoning_tokens else max(self.reasoning_tokens)  # type: ignore[type-var]
        return Cell(
            shape,
            policy or self.policy,
            max(self.search_steps),
            max(self.token_caps),
            reasoning,
            max(self.widths),
        )


def parse_ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise ConfigError(f"{what} must be comma-separated integers, got {text!r}") from exc
    if not values:
        raise ConfigError(f"{what} is empty")
    return tuple(sorted(set(values)))


def parse_caps(text: str, what: str) -> tuple[int | None, ...]:
    """Comma-separated caps where `none` means no cap (e.g. `0,260,520,none`)."""
    words = [w.strip().lower() for w in text.split(",") if w.strip()]
    uncapped = any(w in ("none", "inf") for w in words)
    numbers = ",".join(w for w in words if w not in ("none", "inf"))
    capped: tuple[int | None, ...] = parse_ints(numbers, what) if numbers else ()
    if not capped and not uncapped:
        raise ConfigError(f"{what} is empty")
    return (*capped, None) if uncapped else capped


def point(mode: str, cell: Cell, records: Sequence[dict[str, Any]]) -> CurvePoint:
    s = summarize_records(records)
    _, em_lo, em_hi = bootstrap_ci([r["em"] for r in records], n_boot=1000)
    _, f1_lo, f1_hi = bootstrap_ci([r["f1"] for r in records], n_boot=1000)
    return CurvePoint(
        mode,
        cell.shape,
        cell.policy,
        cell.max_search_steps,
        cell.max_tokens,
        s["n"],
        s["em"],
        s["f1"],
        s["mean_search_steps"],
        s["mean_total_tokens"],
        s["mean_compute"],
        s["support_recall"],
        max_reasoning_tokens=cell.max_reasoning_tokens,
        width=cell.width,
        mean_weighted_tokens=s["mean_weighted_tokens"],
        mean_reasoner_tokens=s["mean_reasoner_tokens"],
        em_ci_low=round(em_lo, 4),
        em_ci_high=round(em_hi, 4),
        f1_ci_low=round(f1_lo, 4),
        f1_ci_high=round(f1_hi, 4),
    )


def anytime_records(records: Sequence[dict[str, Any]], cell: Cell) -> list[dict[str, Any]]:
    """Per question: what the max-budget run had answered by the time it reached `cell`'s caps
    (its token cap in the budget's unit, where the record says it)."""
    out = []
    for r in records:
        anytime = [
            {**a, "total_tokens": a.get("weighted_tokens", a["total_tokens"])}
            for a in r.get("anytime", [])
        ]
        a = answer_at(anytime, cell.max_search_steps, cell.max_tokens)
        cost = {
            "search_steps": a["search_steps"] if a else 0,
            "total_tokens": a["total_tokens"] if a else 0,
            "compute": a.get("compute", 0.0) if a else 0.0,
        }
        out.append(
            {
                "id": r["id"],
                "type": r.get("type"),
                "em": a["em"] if a else 0.0,
                "f1": a["f1"] if a else 0.0,
                "support_recall": None,
                "cost": cost,
            }
        )
    return out


def violations(cell: Cell, records: Sequence[dict[str, Any]]) -> list[str]:
    """Questions whose spend broke the cell's caps (must be empty): tokens in the budget's unit,
    search steps, and the reasoner's tokens."""
    reasoning = cell.max_reasoning_tokens
    return [
        r["id"]
        for r in records
        if cost_of(r, "weighted_tokens") > cell.max_tokens
        or r["cost"]["search_steps"] > cell.max_search_steps
        or (reasoning is not None and cost_of(r, "reasoner_tokens") > reasoning)
    ]


def write_csv(path: Path, points: Sequence[CurvePoint]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for p in points:
            writer.writerow(p.to_dict())


def matched_comparison(
    adaptive: list[dict[str, Any]], fixed: dict[Cell, list[dict[str, Any]]], metric: str
) -> dict[str, Any] | None:
    ids = [r["id"] for r in adaptive]
    cells = []
    for records in fixed.values():
        by_id = {r["id"]: r for r in records}
        if not all(i in by_id for i in ids):
            continue
        cells.append(([by_id[i][metric] for i in ids], [by_id[i]["cost"]["compute"] for i in ids]))
    if not ids or len(cells) < 2:
        return None
    return compute_matched(
        [r[metric] for r in adaptive], [r["cost"]["compute"] for r in adaptive], cells
    )


CellRecords = dict[Cell, list[dict[str, Any]]]


async def _run_cells(
    grid: SweepGrid,
    run_cell: Callable[[Cell, SystemSpec, str], Awaitable[list[dict[str, Any]]]],
    compare: Sequence[Policy],
) -> tuple[CellRecords, CellRecords]:
    """Every cell of the grid (max budget first), then a run of each policy in `compare` at
    each shape's max cell; cells a deadline left empty are dropped."""
    results: CellRecords = {}
    extra: CellRecords = {}
    cells = grid.cells()
    for i, cell in enumerate(cells, start=1):
        system = SystemSpec("leadline", cell.policy, cell.shape)
        results[cell] = await run_cell(cell, system, f"cell {i}/{len(cells)} {cell.name}")
    for policy in (p for p in compare if p != grid.policy):
        for shape in grid.shapes:
            cell = grid.max_cell(shape, policy)
            system = SystemSpec("leadline", policy, shape)
            extra[cell] = await run_cell(cell, system, f"{policy} {cell.name}")
    return {c: r for c, r in results.items() if r}, {c: r for c, r in extra.items() if r}


def curve_rows(grid: SweepGrid, results: CellRecords, extra: CellRecords) -> list[CurvePoint]:
    """The curve points: every true cell, the anytime replay of each shape's max-budget run at
    every cell's caps (at the max run's reasoning cap and width), and the extra (adaptive) runs."""
    rows = [point("true", c, r) for c, r in results.items()]
    for shape in grid.shapes:
        top_cell = grid.max_cell(shape)
        top = results.get(top_cell, [])
        if not top:
            continue
        rows += [
            point("anytime", c, anytime_records(top, c))
            for c in grid.cells()
            if c.shape == shape
            and c.max_reasoning_tokens == top_cell.max_reasoning_tokens
            and c.width == top_cell.width
        ]
    rows += [point(c.policy, c, r) for c, r in extra.items()]
    return rows


def grid_dict(grid: SweepGrid) -> dict[str, Any]:
    return {
        "search_steps": list(grid.search_steps),
        "token_caps": list(grid.token_caps),
        "reasoning_tokens": list(grid.reasoning_tokens),
        "widths": list(grid.widths),
        "shapes": list(grid.shapes),
        "policy": grid.policy,
    }


def write_outputs(
    out: Path,
    summary: dict[str, Any],
    points: Sequence[CurvePoint],
    cells: CellRecords,
    axes: Sequence[str],
    mode: str,
) -> dict[str, Any]:
    """curves.csv, law.json, the plots, sweep.json and report.md from a sweep's cells (true or
    replayed): the same outputs, whichever way the cells were produced."""
    from leadline.evals.fitting import law_document
    from leadline.evals.plots import plot_law, plot_sweep
    from leadline.evals.sweep_report import sweep_fits, sweep_report_markdown, sweep_types

    write_csv(out / "curves.csv", points)
    summary["fits"] = sweep_fits(points)
    law = law_document(cells, axes, summary)
    (out / "law.json").write_text(json.dumps(law, indent=2) + "\n", encoding="utf-8")
    summary["law"] = {k: law[k] for k in ("per_axis", "joint", "by_type", "cost")}
    summary["by_type"] = sweep_types(cells)
    plots = plot_sweep(points, out, summary["fits"]) if mode == "true" else []
    plots += plot_law(cells, law, out, mode)
    summary["plots"] = [p.name for p in plots]
    (out / "sweep.json").write_text(
        json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8"
    )
    (out / "report.md").write_text(sweep_report_markdown(summary, points), encoding="utf-8")
    return summary


async def run_sweep(
    dataset: Dataset,
    grid: SweepGrid,
    out_dir: Path | str,
    *,
    settings: Settings,
    base_budget: Budget | None = None,
    services: Any = None,
    collection: str | None = None,
    kv_mode: KVMode | None = None,
    compare_adaptive: bool = True,
    compare_policies: Sequence[Policy] | None = None,
    progress: bool = True,
    command: str = "",
    log: Any = None,
    deadline: float | None = None,
    types: TypeLabels | None = None,
) -> dict[str, Any]:
    """Run every cell (resumably), then write curves.csv, law.json, plots and report.md.

    `compare_policies` run at the max budget and are compared with the fixed cells at equal
    mean compute (default: adaptive, unless `compare_adaptive` is false).

    With `deadline` (a `time.monotonic()` value) no question starts after it: cells left short
    show their smaller n, and cells with no question at all are left out of the curves.
    """
    from leadline.evals.runner import _maybe_services, eval_collection, evaluate, prepare_corpus

    out = Path(out_dir)
    (out / "cells").mkdir(parents=True, exist_ok=True)
    base = base_budget or Budget()
    collection = eval_collection(dataset, collection, settings)
    say = log or (lambda m: None)
    if services is None:
        say(await prepare_corpus(dataset, settings, collection, progress))
    started = time.perf_counter()
    cells = grid.cells()
    async with _maybe_services(services, settings) as svc:

        async def run_cell(cell: Cell, system: SystemSpec, desc: str) -> list[dict[str, Any]]:
            return await evaluate(
                dataset,
                system,
                cell.budget(base),
                out / "cells" / f"{cell.name}.jsonl",
                services=svc,
                collection=collection,
                kv_mode=kv_mode,
                progress=progress,
                desc=desc,
                stop_confidence=0.0,  # a cell's curve point is its whole run, never cut short
                deadline=deadline,
                types=types,
            )

        compare = (
            compare_policies
            if compare_policies is not None
            else (("adaptive",) if compare_adaptive else ())
        )
        results, extra = await _run_cells(grid, run_cell, compare)
    wall_s = time.perf_counter() - started
    broken = {c.name: v for c, r in [*results.items(), *extra.items()] if (v := violations(c, r))}
    matched = {}
    for c, records in extra.items():
        fixed = {k: v for k, v in results.items() if k.shape == c.shape}
        key = c.shape if c.policy == "adaptive" else f"{c.policy}/{c.shape}"
        matched[key] = {m: matched_comparison(records, fixed, m) for m in ("f1", "em")}
    summary = {
        "mode": "true",
        "dataset": dataset.name,
        "n": len(dataset.examples),
        "collection": collection,
        "grid": grid_dict(grid),
        "cached_token_rate": base.cached_token_rate,
        "cells": len(results),
        "cells_planned": len(cells),
        "budget_violations": broken,
        "compute_matched": matched,
        "wall_s": round(wall_s, 1),
        "mean_wall_s_per_run": round(
            mean(r["cost"]["wall_s"] for rs in [*results.values(), *extra.values()] for r in rs), 2
        ),
        "command": command,
    }
    points = curve_rows(grid, results, extra)
    return write_outputs(out, summary, points, results, grid.varied, "true")
