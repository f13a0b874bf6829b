"""Replay only the final reader over the evidence pools an evaluation stored.

Search and reasoning cost a leadline question ~40 s on two CPU cores; the reader, a few seconds.
Every leadline eval record keeps its whole pool (passages, the query that found each, its rank
and step), so a change to ranking, K or the reader prompt is scored by re-running just the reader
on those pools, in minutes, with no search and no reasoning. `up_to_step` reads the pool as it was
after that step: one max-budget run then yields the accuracy of every smaller search budget;
`passages_per_query` keeps only each query's top hits, as a run keeping fewer would have had.

A replayed record has the eval record's shape (em, f1, cost, ...), so the same summaries apply;
its cost is what the run had spent by that step plus the replayed reader call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leadline.agents.prompting import KVMode
from leadline.agents.reader import UNKNOWN
from leadline.agents.workspace import PoolHit
from leadline.batch.output import ResultLog
from leadline.budgets.budget import Budget, Spend
from leadline.budgets.guard import BudgetGuard, CallRefused
from leadline.budgets.ledger import total_spend
from leadline.errors import ConfigError, LLMError, LLMOutputError
from leadline.evals.metrics import QuestionCost, exact_match, f1, support_recall
from leadline.evals.runner import load_records, progress_bar
from leadline.graph.build import read_pool
from leadline.graph.state import RunSpec

REPLAY_BUDGET = Budget(max_tokens=100_000, max_search_steps=None)  # one reader call, bounded


def pool_of(record: dict[str, Any], per_query: int | None = None) -> list[PoolHit]:
    """The stored pool; with `per_query`, only each query's top hits (as a smaller pool had)."""
    return [
        PoolHit(
            passage_id=h["id"],
            title=h["title"],
            text=h["text"],
            source=h.get("source", ""),
            query=h["query"],
            rank=int(h["rank"]),
            step=int(h["step"]),
        )
        for h in record.get("pool", [])
        if per_query is None or int(h["rank"]) <= per_query
    ]


def spend_at(record: dict[str, Any], up_to_step: int | None) -> Spend:
    """What the original run had spent by `up_to_step` (its reader excluded)."""
    steps = {int(k): v for k, v in (record.get("spend_after_step") or {}).items()}
    if not steps:
        return Spend()
    chosen = [k for k in steps if up_to_step is None or k <= up_to_step]
    if not chosen:
        return Spend()
    d = steps[max(chosen)]
    return Spend(d["prompt_tokens"], d["cached_tokens"], d["completion_tokens"], d["search_steps"])


def anytime_at(record: dict[str, Any], up_to_step: int | None) -> str:
    answers = [
        a for a in record.get("anytime", []) if up_to_step is None or a["step"] <= up_to_step
    ]
    return answers[-1]["answer"] if answers else UNKNOWN


async def replay_one(
    record: dict[str, Any],
    *,
    llm: Any,
    kv_mode: KVMode,
    reader_passages: int,
    up_to_step: int | None,
    extra_body: dict[str, Any],
    passages_per_query: int | None = None,
) -> dict[str, Any]:
    spec = RunSpec(
        question=record["question"],
        budget=REPLAY_BUDGET,
        kv_mode=kv_mode,
        reader_passages=reader_passages,
    )
    guard = BudgetGuard(REPLAY_BUDGET, Spend(), reserve=Spend(), agent="answer", step=0)
    started = time.perf_counter()
    pool = pool_of(record, passages_per_query)
    final, error = None, ""
    try:
        final = await read_pool(llm, spec, [], pool, guard, extra_body, up_to_step=up_to_step)
    except (CallRefused, LLMOutputError):
        pass
    except LLMError as exc:
        error = str(exc)
    answer = final.answer if final else anytime_at(record, up_to_step)
    spent = spend_at(record, up_to_step) + total_spend(guard.events)
    titles = [h.title for h in pool if up_to_step is None or h.step <= up_to_step]
    golds = record["answers"]
    return {
        "id": record["id"],
        "question": record["question"],
        "answers": golds,
        "system": record.get("system", ""),
        "prediction": answer,
        "em": exact_match(answer, golds),
        "f1": round(f1(answer, golds), 4),
        "support_recall": support_recall(titles, record.get("supporting_titles") or [])
        if record.get("supporting_titles")
        else record.get("support_recall"),
        "cost": QuestionCost.of(spent, llm_calls=1, wall_s=time.perf_counter() - started).to_dict(),
        "answer_source": final.source if final else "anytime",
        "error": error,
        "replay": {
            "up_to_step": up_to_step,
            "reader_passages": reader_passages,
            "passages_per_query": passages_per_query,
        },
    }


async def replay_reader(
    records: Sequence[dict[str, Any]],
    out_path: Path | str,
    *,
    services: Any,
    kv_mode: KVMode,
    reader_passages: int,
    up_to_step: int | None = None,
    passages_per_query: int | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Re-run the reader over each stored pool into `out_path` (resumable, like an eval)."""
    todo_all = [r for r in records if "pool" in r]
    if not todo_all:
        raise ConfigError("no record to replay holds an evidence pool (leadline records do)")
    with contextlib.closing(ResultLog.open(out_path)) as log:
        done = dict(log.finished)
        todo = [r for r in todo_all if str(r["id"]) not in done]
        bar = progress_bar(len(todo_all), len(todo_all) - len(todo), "replay", progress)
        try:
            for record in todo:
                async with services.acquire_slot() as slot:
                    row = await replay_one(
                        record,
                        llm=services.llm,
                        kv_mode=kv_mode,
                        reader_passages=reader_passages,
                        up_to_step=up_to_step,
                        extra_body=services.slot_extra_body(slot),
                        passages_per_query=passages_per_query,
                    )
                await asyncio.to_thread(log.append, row)
                done[str(row["id"])] = row
                bar.update(1)
        finally:
            bar.close()
    return [done[str(r["id"])] for r in todo_all if str(r["id"]) in done]


def records_to_replay(path: Path) -> list[dict[str, Any]]:
    """The leadline records of one eval file (or of every leadline-*.jsonl in a directory)."""
    files = sorted(path.glob("leadline*.jsonl")) if path.is_dir() else [path]
    files = [f for f in files if ".replay" not in f.name]
    if not files:
        raise ConfigError(f"{path} holds no leadline eval records (leadline-*.jsonl)")
    return [r for f in files for r in load_records(f)]
