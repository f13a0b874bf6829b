"""Pool the shape runs (shape30 and the chunks here) per question type, paired by question.

    python benchmarks/results/issue16/shape-more/merge.py OUT
    python benchmarks/results/compare.py OUT/sequential-bridge.jsonl OUT/parallel-bridge.jsonl

Writes OUT/{sequential,parallel}-{bridge,comparison}.jsonl: the questions both shapes answered.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
runs = [HERE.parent / "shape30", *sorted(p for p in HERE.iterdir() if p.is_dir())]
out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
by: dict[tuple[str, str], dict[str, dict]] = {}
for shape in ("sequential", "parallel"):
    for run in runs:
        path = run / f"leadline-adaptive-{shape}.jsonl"
        if path.exists():
            for line in path.read_text().splitlines():
                r = json.loads(line)
                by.setdefault((shape, r["type"]), {})[r["id"]] = r
for (shape, kind), rows in sorted(by.items()):
    other = "parallel" if shape == "sequential" else "sequential"
    both = [r for i, r in rows.items() if i in by.get((other, kind), {})]
    (out / f"{shape}-{kind}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in both))
    compute = sum(r["cost"]["compute"] for r in both) / max(len(both), 1)
    print(f"{shape} {kind}: n={len(both)}, mean compute {compute:,.0f}")
