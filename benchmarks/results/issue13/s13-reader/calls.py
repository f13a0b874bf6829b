"""Each model call's prompt and cached tokens over full runs: where the prefix cache misses.

    python benchmarks/results/issue13/s13-reader/calls.py SKIP N OUT.jsonl

Runs dev300 questions SKIP+1 .. SKIP+N with the default settings (embedded 1.5B, 8,000 tokens /
4 search steps) and writes, per question, every LLM call's agent, step, prompt, cached and
completion tokens. (Eval records keep the same per-call list as `calls` since this session.)
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from leadline.budgets.budget import Budget
from leadline.config import load_settings
from leadline.core import aresearch
from leadline.services import open_services

DEV300 = (
    Path(__file__).resolve().parents[4] / ".." / "shared" / "data" / "hotpotqa" / "dev300.jsonl"
)


async def main(skip: int, n: int, out: str) -> None:
    rows = [json.loads(line) for line in DEV300.read_text().splitlines()][skip : skip + n]
    async with open_services(load_settings()) as services:
        with open(out, "a", encoding="utf-8") as fh:
            for row in rows:
                result = await aresearch(
                    row["question_text"],
                    services=services,
                    budget=Budget(max_tokens=8000, max_search_steps=4),
                    checkpoint=False,
                    collection="hotpotqa-dev300",
                )
                calls = [
                    {
                        "agent": e.agent,
                        "step": e.step,
                        "p": e.prompt_tokens,
                        "c": e.cached_tokens,
                        "o": e.completion_tokens,
                    }
                    for e in result.events
                    if e.kind == "llm"
                ]
                record = {"id": row.get("question_id"), "answer": result.answer}
                record.update(stop=result.stop_reason, calls=calls)
                fh.write(json.dumps(record) + "\n")
                fh.flush()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
