"""Build replayable records whose pool is only the question's gold paragraphs (the reader's
ceiling on a perfect selection): the dev records of issue13/dev3-links and dev4-48-100 (dev300
1-100) with `pool` replaced. Then: leadline eval --replay OUT.jsonl --out DIR."""

import hashlib
import json
import sys

data = [json.loads(line) for line in open("../shared/data/hotpotqa/dev300.jsonl")][:100]
records = {}
for name in ("dev3-links/leadline-adaptive-auto.jsonl", "dev4-48-100/leadline-adaptive-auto.jsonl"):
    for line in open(f"benchmarks/results/issue13/{name}"):
        record = json.loads(line)
        records[record["id"]] = record
with open(sys.argv[1], "w") as out:
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
        out.write(json.dumps(record) + "\n")
