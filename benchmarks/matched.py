"""A policy's stored runs against a sweep's fixed cells at the policy's mean compute.

    .venv/bin/python benchmarks/matched.py SWEEP_DIR POLICY.jsonl [POLICY.jsonl ...]

SWEEP_DIR: a `leadline sweep` output (true or `--replay` cells under `cells/`, on the same
questions). POLICY: `leadline eval` records of a policy run at the max budget (e.g. allocate, or
the default adaptive). For each policy and metric (EM, F1) the fixed cells' frontier is read at
the policy's mean compute and compared, paired over the questions both share, with a bootstrap
interval that resamples questions on both sides (`leadline.budgets.curves.compute_matched`, the
comparison `leadline sweep --compare-policies` reports for true runs). Also prints the best
single fixed cell that costs no more than the policy, paired.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from leadline.budgets.curves import compute_matched, paired_difference


def load(path: Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["id"]: r for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep", type=Path)
    parser.add_argument("policies", type=Path, nargs="+")
    args = parser.parse_args()
    cells = {p.stem: load(p) for p in sorted((args.sweep / "cells").glob("*.jsonl"))}
    for path in args.policies:
        policy = load(path)
        ids = [i for i in policy if all(i in c for c in cells.values())]
        if not ids:
            raise SystemExit(f"{path}: no question in common with every cell of {args.sweep}")
        compute = [policy[i]["cost"]["compute"] for i in ids]
        mean_compute = sum(compute) / len(ids)
        print(f"{path} (n = {len(ids)}, mean compute {mean_compute:,.0f})")
        for metric in ("em", "f1"):
            scores = [float(policy[i][metric]) for i in ids]
            fixed = [
                ([float(c[i][metric]) for i in ids], [c[i]["cost"]["compute"] for i in ids])
                for c in cells.values()
            ]
            m = compute_matched(scores, compute, fixed)
            print(
                f"  {metric}: policy {m['policy']:.3f}, fixed frontier at its compute "
                f"{m['fixed_at_same_compute']:.3f}; difference {m['difference']:+.3f} "
                f"{m['difference_ci']} (within the cells' compute range: "
                f"{m['within_fixed_range']})"
            )
            affordable = [
                (name, sum(f[0]) / len(ids), sum(f[1]) / len(ids))
                for name, f in zip(cells, fixed, strict=True)
                if sum(f[1]) / len(ids) <= mean_compute
            ]
            if affordable:  # the best cell, the cheapest among equals
                name, _, _ = max(affordable, key=lambda c: (c[1], -c[2]))
                best = [float(cells[name][i][metric]) for i in ids]
                d = paired_difference(scores, best)
                low, high = d["ci"]
                print(
                    f"  {metric}: best fixed cell within its compute: {name} {d['b']:.3f}; "
                    f"policy {d['a']:.3f}; paired {d['difference']:+.3f} [{low:+.3f}, {high:+.3f}]"
                )


if __name__ == "__main__":
    main()
