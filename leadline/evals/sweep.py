"""Budget sweeps: accuracy over a grid of search-step caps × token caps (× shape).

Every cell is an ordinary `evaluate` run of leadline (default policy `fixed`, which spends up to
the caps) into `OUT/cells/<cell>.jsonl`, so a sweep is resumable cell by cell and question by
question. From the cells come `curves.csv` (one row per cell, plus "anytime" rows replayed from
the max-budget cell's anytime answers, plus the adaptive policy at the max budget), the plots
and `report.md`. The adaptive run is compared with the fixed cells at equal mean compute.
Each cell's records are checked against its caps; a violation is reported, never hidden.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
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
from leadline.evals.metrics import mean, summarize_records

CSV_FIELDS = [*CurvePoint.__dataclass_fields__, "f1_ci_low", "f1_ci_high"]


@dataclass(frozen=True)
class Cell:
    shape: ShapeMode
    policy: Policy
    max_search_steps: int
    max_tokens: int

    @property
    def name(self) -> str:
        return f"{self.policy}-{self.shape}-s{self.max_search_steps}-t{self.max_tokens}"

    def budget(self, base: Budget) -> Budget:
        return Budget(
            max_tokens=self.max_tokens,
            max_search_steps=self.max_search_steps,
            max_compute=None,
            rates=base.rates,
            answer_tokens=base.answer_tokens,
        )


@dataclass(frozen=True)
class SweepGrid:
    search_steps: tuple[int, ...]
    token_caps: tuple[int, ...]
    shapes: tuple[ShapeMode, ...] = ("auto",)
    policy: Policy = "fixed"

    def __post_init__(self) -> None:
        if not self.search_steps or not self.token_caps or not self.shapes:
            raise ConfigError("a sweep needs at least one search-step cap, token cap and shape")
        if min(self.search_steps) < 0:
            raise ConfigError("search-step caps must be >= 0")
        unknown = set(self.shapes) - {"sequential", "parallel", "auto"}
        if unknown:
            raise ConfigError(
                f"unknown shape(s) {sorted(unknown)}; use sequential, parallel or auto"
            )

    def cells(self) -> list[Cell]:
        """All cells; per shape the max-budget cell first (it also feeds the anytime curves)."""
        out = []
        for shape in self.shapes:
            grid = [
                Cell(shape, self.policy, s, t)
                for t in sorted(self.token_caps, reverse=True)
                for s in sorted(self.search_steps, reverse=True)
            ]
            out.extend(grid)
        return out

    def max_cell(self, shape: ShapeMode, policy: Policy | None = None) -> Cell:
        return Cell(shape, policy or self.policy, max(self.search_steps), max(self.token_caps))


def parse_ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise ConfigError(f"{what} must be comma-separated integers, got {text!r}") from exc
    if not values:
        raise ConfigError(f"{what} is empty")
    return tuple(sorted(set(values)))


def point(
    mode: str, cell: Cell, records: Sequence[dict[str, Any]]
) -> tuple[CurvePoint, dict[str, float]]:
    s = summarize_records(records)
    _, lo, hi = bootstrap_ci([r["f1"] for r in records], n_boot=1000)
    p = CurvePoint(
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
    )
    return p, {"f1_ci_low": round(lo, 4), "f1_ci_high": round(hi, 4)}


def anytime_records(records: Sequence[dict[str, Any]], cell: Cell) -> list[dict[str, Any]]:
    """Per question: what the max-budget run had answered by the time it reached `cell`'s caps."""
    out = []
    for r in records:
        a = answer_at(r.get("anytime", []), cell.max_search_steps, cell.max_tokens)
        cost = {
            "search_steps": a["search_steps"] if a else 0,
            "total_tokens": a["total_tokens"] if a else 0,
            "compute": a.get("compute", 0.0) if a else 0.0,
        }
        out.append(
            {
                "id": r["id"],
                "em": a["em"] if a else 0.0,
                "f1": a["f1"] if a else 0.0,
                "support_recall": None,
                "cost": cost,
            }
        )
    return out


def violations(cell: Cell, records: Sequence[dict[str, Any]]) -> list[str]:
    """Questions whose spend broke the cell's caps (must be empty)."""
    return [
        r["id"]
        for r in records
        if r["cost"]["total_tokens"] > cell.max_tokens
        or r["cost"]["search_steps"] > cell.max_search_steps
    ]


def write_csv(path: Path, rows: Sequence[tuple[CurvePoint, dict[str, float]]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for p, extra in rows:
            writer.writerow(
                {**p.to_dict(), **{k: "" for k in ("f1_ci_low", "f1_ci_high")}, **extra}
            )


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
    compare_adaptive: bool,
) -> tuple[CellRecords, CellRecords]:
    """Every cell of the grid (max budget first), then an adaptive run at each shape's max
    cell; cells a deadline left empty are dropped."""
    results: CellRecords = {}
    extra: CellRecords = {}
    cells = grid.cells()
    for i, cell in enumerate(cells, start=1):
        system = SystemSpec("leadline", cell.policy, cell.shape)
        results[cell] = await run_cell(cell, system, f"cell {i}/{len(cells)} {cell.name}")
    if compare_adaptive and grid.policy != "adaptive":
        for shape in grid.shapes:
            cell = grid.max_cell(shape, "adaptive")
            system = SystemSpec("leadline", "adaptive", shape)
            extra[cell] = await run_cell(cell, system, f"adaptive {cell.name}")
    return {c: r for c, r in results.items() if r}, {c: r for c, r in extra.items() if r}


def curve_rows(
    grid: SweepGrid, results: CellRecords, extra: CellRecords
) -> list[tuple[CurvePoint, dict[str, float]]]:
    """The curve points: every true cell, the anytime replay of each shape's max-budget run at
    every cell's caps, and the extra (adaptive) runs."""
    rows = [point("true", c, r) for c, r in results.items()]
    for shape in grid.shapes:
        top = results.get(grid.max_cell(shape), [])
        if not top:
            continue
        rows += [
            point("anytime", c, anytime_records(top, c)) for c in grid.cells() if c.shape == shape
        ]
    rows += [point(c.policy, c, r) for c, r in extra.items()]
    return rows


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
    progress: bool = True,
    command: str = "",
    log: Any = None,
    deadline: float | None = None,
) -> dict[str, Any]:
    """Run every cell (resumably), then write curves.csv, plots and report.md under `out_dir`.

    With `deadline` (a `time.monotonic()` value) no question starts after it: cells left short
    show their smaller n, and cells with no question at all are left out of the curves.
    """
    from leadline.evals.plots import plot_sweep
    from leadline.evals.report import sweep_fits, sweep_report_markdown
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
                deadline=deadline,
            )

        results, extra = await _run_cells(grid, run_cell, compare_adaptive)
    wall_s = time.perf_counter() - started
    rows = curve_rows(grid, results, extra)
    write_csv(out / "curves.csv", rows)
    broken = {c.name: v for c, r in [*results.items(), *extra.items()] if (v := violations(c, r))}
    matched = {}
    for c, records in extra.items():
        fixed = {k: v for k, v in results.items() if k.shape == c.shape}
        matched[c.shape] = {m: matched_comparison(records, fixed, m) for m in ("f1", "em")}
    summary = {
        "dataset": dataset.name,
        "n": len(dataset.examples),
        "collection": collection,
        "grid": {
            "search_steps": list(grid.search_steps),
            "token_caps": list(grid.token_caps),
            "shapes": list(grid.shapes),
            "policy": grid.policy,
        },
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
    points = [p for p, _ in rows]
    summary["fits"] = sweep_fits(points)
    summary["plots"] = [p.name for p in plot_sweep(points, out, summary["fits"])]
    (out / "sweep.json").write_text(
        json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8"
    )
    (out / "report.md").write_text(sweep_report_markdown(summary, rows), encoding="utf-8")
    return summary
