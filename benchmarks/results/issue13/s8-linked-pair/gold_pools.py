"""Replayable records whose pool is only the question's gold paragraphs (the reader's ceiling on
a perfect selection): the dev records of issue13/dev3-links and dev4-48-100 (dev300 1-100) with
`pool` replaced. Run from the repository root:

    python benchmarks/results/issue13/s8-linked-pair/gold_pools.py OUT.jsonl
    leadline eval --replay OUT.jsonl --out DIR
"""

import hashlib
import json
import sys
from pathlib import Path


def jsonl(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def main(out: str) -> None:
    data = jsonl("../shared/data/hotpotqa/dev300.jsonl")[:100]
    records = {
        r["id"]: r
        for name in ("dev3-links", "dev4-48-100")
        for r in jsonl(f"benchmarks/results/issue13/{name}/leadline-adaptive-auto.jsonl")
    }
    rows = []
    for q in data:
        record = dict(records[q["question_id"]])
        gold = [c for c in q["contexts"] if c["is_supporting"]]
        record["pool"] = [
            {
                "id": hashlib.sha1((c["title"] + c["paragraph_text"]).encode()).hexdigest()[:16],
                "title": c["title"],
                "text": c["paragraph_text"],
                "source": "",
                "query": q["question_text"],
                "rank": i + 1,
                "step": 1,
            }
            for i, c in enumerate(gold)
        ]
        record.pop("workspace", None)
        rows.append(json.dumps(record) + "\n")
    Path(out).write_text("".join(rows))


if __name__ == "__main__":
    main(sys.argv[1])
