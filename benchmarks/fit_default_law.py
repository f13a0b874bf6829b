"""Fit the allocate policy's default law from the measured sweep in benchmarks/results/sweep.

    .venv/bin/python benchmarks/fit_default_law.py [SWEEP_DIR] [OUT]

Reads every fixed cell of a `leadline sweep` output directory, re-expresses each record's cost
in today's token unit (cached prompt tokens at 0.1: those runs were capped in the old unit, every
prompt token in full, but their records keep the raw counts), fits the law as the sweep does and
writes it to leadline/budgets/data/default_law.json, labelled with what it was fitted on.

That was the shipped law until issue 16's replayed sweep: the law shipped now is
`benchmarks/results/issue16/dev47-curve/law.json` (47 dev questions, three axes), relabelled.
This script reproduces the earlier one (30 questions, search steps only).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from leadline.budgets.budget import CACHED_PROMPT_RATE, Spend
from leadline.evals.datasets import Example
from leadline.evals.fitting import law_document
from leadline.evals.sweep import Cell
from leadline.evals.types import load_type_labels, question_type

ROOT = Path(__file__).resolve().parents[1]


OFFICIAL = ROOT.parent / "shared/data/hotpotqa/hotpot_dev_distractor_first100.json"


def load_cells(sweep: Path) -> dict[Cell, list[dict]]:
    labels = load_type_labels(OFFICIAL) if OFFICIAL.exists() else {}
    cells = {}
    for path in sorted((sweep / "cells").glob("fixed-*.jsonl")):
        _, shape, steps, tokens = path.stem.split("-")[:4]
        cell = Cell(shape, "fixed", int(steps[1:]), int(tokens[1:]))  # type: ignore[arg-type]
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for r in records:
            # records from before question types: the official label where there is one
            example = Example(r["id"], r["question"], tuple(r["answers"]))
            r["type"], r["type_source"] = question_type(example, labels)
            c = r["cost"]
            spend = Spend(c["prompt_tokens"], c["cached_tokens"], c["completion_tokens"])
            c["weighted_tokens"] = round(spend.weighted_tokens(CACHED_PROMPT_RATE), 1)
        cells[cell] = records
    return cells


def main() -> None:
    sweep = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "benchmarks/results/sweep"
    out = (
        Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "leadline/budgets/data/default_law.json"
    )
    cells = load_cells(sweep)
    measured = json.loads((sweep / "sweep.json").read_text())
    summary = {
        "dataset": measured["dataset"],
        "mode": "true",
        "grid": measured["grid"],
        "cached_token_rate": CACHED_PROMPT_RATE,
        "command": f"benchmarks/fit_default_law.py (cells of {sweep.relative_to(ROOT)}, run as: "
        f"{measured.get('command', '')})",
    }
    law = law_document(cells, ("search_steps",), summary)
    law["label"] += (
        " (benchmarks/results/sweep: Qwen2.5-Coder-1.5B on 2 CPU cores, token caps 4000 and "
        "8000; search steps only, reasoning tokens and width not measured)"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(law, indent=2) + "\n", encoding="utf-8")
    print(f"{out}: {law['label']}")


if __name__ == "__main__":
    main()
