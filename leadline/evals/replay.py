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
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leadline.agents.prompting import KVMode
from leadline.agents.reasoner import UNKNOWN
from leadline.agents.workspace import Evidence, PoolHit
from leadline.batch.output import ResultLog
from leadline.budgets.budget import Budget, Spend
from leadline.budgets.guard import BudgetGuard, CallRefused
from leadline.budgets.ledger import summarize, total_spend
from leadline.errors import ConfigError, LLMError, LLMOutputError
from leadline.evals.metrics import QuestionCost, exact_match, f1, support_recall
from leadline.evals.runner import load_records, progress_bar
from leadline.graph.read import read_pool, second_look
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


def workspace_at(record: dict[str, Any], up_to_step: int | None) -> list[Evidence]:
    """The run's workspace passages (their evidence numbers) as it stood after `up_to_step`.

    The reader numbers pool passages by the workspace's numbers where it has them; a replay
    that numbered them afresh read a different prompt, and the 1.5B answered 3 of 12 questions
    differently on the same pool (issue 16's check). Records written before the workspace was
    stored give [], and their replays number afresh.
    """
    return [
        Evidence(n=int(n), passage_id=pid, title="", text="", source="", step=int(step))
        for pid, (n, step) in (record.get("workspace") or {}).items()
        if up_to_step is None or int(step) <= up_to_step
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


@dataclass(frozen=True)
class Cut:
    """The state a smaller budget would have reached in a stored max-budget run: the pool hits
    it would hold, what it had spent to get them, and the last round it searched."""

    round: int
    hits: tuple[PoolHit, ...]
    spent: Spend
    reasoner_tokens: int

    @property
    def signature(self) -> str:
        """Which hits the reader sees (same signature, same read: one reader call serves all)."""
        keys = sorted(f"{h.step}|{h.query}|{h.rank}|{h.passage_id}" for h in self.hits)
        return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]


def reasoned_rounds(record: dict[str, Any], max_reasoning_tokens: int | None) -> int | None:
    """The last search round whose queries reasoning within the cap chose (None: no limit).

    Round k + 1's queries come from reasoning step k (round 1's from the planner); a run whose
    reasoning fits up to step k searched rounds 1..k + 1 as the max run did. After that a true
    run would go on with the plan's queries, which a replay cannot know, so it stops there.
    """
    if max_reasoning_tokens is None:
        return None
    after = record.get("reasoner_after_step")
    if not after:
        raise ConfigError(
            f"record {record.get('id')!r} was written before reasoning tokens were recorded per "
            "step; replay it without --reasoning-tokens, or run the eval again"
        )
    fitting = [int(k) for k, v in after.items() if int(v) <= max_reasoning_tokens]
    return (max(fitting) if fitting else 0) + 1


def steps_by_round(record: dict[str, Any]) -> dict[int, int]:
    """Search steps each round used (failed searches and searches that found nothing count,
    as they did against the cap), from the spend recorded after each step."""
    after = {
        int(k): int(v["search_steps"]) for k, v in (record.get("spend_after_step") or {}).items()
    }
    out, before = {}, 0
    for step in sorted(after):
        out[step] = after[step] - before
        before = after[step]
    return out


def cut_at(
    record: dict[str, Any],
    max_search_steps: int | None,
    max_reasoning_tokens: int | None = None,
    per_query: int | None = None,
) -> Cut:
    """The pool and spend of `record`'s run as if capped at `max_search_steps` search steps and
    `max_reasoning_tokens` reasoner tokens.

    Whole rounds are taken while their search steps fit the cap; a round that would pass it
    keeps only its first queries (in the order the run issued them), as a capped run issues its
    first candidates. The spend is the run's by the end of the round before the last one
    searched, plus the steps taken in it: a capped run reads right after its last search, with
    no reasoning call in between.
    """
    last_round = reasoned_rounds(record, max_reasoning_tokens)
    hits = [h for h in pool_of(record, per_query) if last_round is None or h.step <= last_round]
    steps = steps_by_round(record)
    rounds = sorted({h.step for h in hits} | {k for k, v in steps.items() if k > 0 and v > 0})
    used, round_, in_round = 0, 0, 0
    kept: list[PoolHit] = []
    for k in rounds:
        if last_round is not None and k > last_round:
            break
        mine = [h for h in hits if h.step == k]
        need = max(steps.get(k, 0), len({h.query for h in mine}))
        left = need if max_search_steps is None else min(need, max_search_steps - used)
        if left <= 0:
            break
        queries = list(dict.fromkeys(h.query for h in mine))[:left]
        kept += [h for h in mine if h.query in queries]
        used, round_, in_round = used + left, k, left
        if left < need:
            break
    before = spend_at(record, round_ - 1) if round_ > 0 else spend_at(record, 0)
    spent = Spend(
        before.prompt_tokens,
        before.cached_tokens,
        before.completion_tokens,
        (before.search_steps if round_ > 0 else 0) + in_round,
    )
    reasoning = int((record.get("reasoner_after_step") or {}).get(str(max(round_ - 1, 0)), 0))
    return Cut(round_, tuple(kept), spent, reasoning)


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
        shown = workspace_at(record, up_to_step)
        final = await read_pool(llm, spec, shown, pool, guard, extra_body, up_to_step=up_to_step)
        if final is not None:
            final = await second_look(
                llm, spec, shown, pool, guard, extra_body, final, up_to_step=up_to_step
            )
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
        "cost": QuestionCost.of(
            spent,
            llm_calls=summarize(guard.events).llm_calls,  # a re-read is a call
            wall_s=time.perf_counter() - started,
        ).to_dict(),
        "answer_source": final.source if final else "anytime",
        "reader_rereads": list(final.rereads) if final else [],
        "reader_second_look": final.second_look if final else "",
        "answer_logprobs": [round(x, 4) for x in final.answer_logprobs] if final else [],
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
