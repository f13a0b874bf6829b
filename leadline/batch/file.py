"""`leadline batch`: JSONL in, JSONL out, a progress bar on stderr, a summary at the end."""

from __future__ import annotations

import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from leadline.batch.inputs import MAX_REPORTED_PROBLEMS, BatchItem, InputProblem, read_questions
from leadline.batch.output import BATCH_ROW_FIELDS, ResultLog
from leadline.batch.runner import (
    DEFAULT_CONCURRENCY,
    MAX_CONCURRENCY,
    BatchResult,
    aresearch_batch,
)
from leadline.budgets.budget import Budget, whole_tokens
from leadline.config import Settings
from leadline.errors import ConfigError
from leadline.services import Services, open_services
from leadline.tools.search.passages import PassageFileSearch


class _Progress:
    """A tqdm bar on stderr: done/total, ETA, and what the batch has spent so far."""

    def __init__(self, total: int, pool: int | None, already_spent: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=total,
            unit="q",
            desc="batch",
            file=sys.stderr,
            disable=not enabled,
            dynamic_ncols=True,
        )
        self.pool = pool
        self.spent = already_spent
        self.tokens = self.steps = self.errors = 0
        self.weighted = 0.0

    def update(self, result: BatchResult) -> None:
        usage = result.usage
        self.tokens += usage.total_tokens if usage else 0
        self.weighted += usage.weighted_tokens if usage else 0.0
        self.steps += usage.search_steps if usage else 0
        self.spent += whole_tokens(usage.weighted_tokens) if usage else (result.grant or 0)
        self.errors += 0 if result.ok else 1
        postfix = f"{self.tokens:,} tok, {self.steps} searches, {self.errors} failed"
        if self.pool is not None:
            postfix += f", pool {max(self.pool - self.spent, 0):,} left"
        self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


async def _precompute_first(
    services: Services, collection: str | None, max_tokens: int, progress: bool
) -> None:
    from leadline.precompute.job import precompute_collection

    report = await precompute_collection(
        services.settings,
        collection,
        llm=services.llm if max_tokens else None,
        max_tokens=max_tokens,
        extra_body=services.slot_extra_body(0),
        show_progress=progress,
    )
    for stage in report.stages:
        print(
            f"leadline: precompute {stage.stage}: {stage.passages} passage(s), "
            f"{stage.total_tokens:,} tokens, {stage.wall_s:.1f}s ({stage.stopped})",
            file=sys.stderr,
        )
    services.refresh_precompute(collection or services.settings.collection)


def _read_input(
    input_path: Path | str, budget: Budget, strict: bool
) -> tuple[list[BatchItem], list[InputProblem]]:
    """The questions of the input file; its malformed lines are reported on stderr."""
    items, problems = read_questions(input_path, budget, strict=strict)
    for p in problems[:MAX_REPORTED_PROBLEMS]:
        print(f"leadline: skipping {input_path}:{p}", file=sys.stderr)
    if len(problems) > MAX_REPORTED_PROBLEMS:
        print(
            f"leadline: ... and {len(problems) - MAX_REPORTED_PROBLEMS} more malformed line(s)",
            file=sys.stderr,
        )
    return items, problems


async def _run(
    todo: list[BatchItem],
    bar: _Progress,
    services: Services | None,
    *,
    width: int,
    **batch: Any,
) -> dict[str, int]:
    """Run what is left, updating the bar and reporting failures; counts by outcome."""
    if services is not None and services.server is not None and services.slots < width:
        print(
            f"leadline: the embedded server has {services.slots} slot(s), so "
            f"{services.slots} question(s) run at a time (LEADLINE_PARALLEL sets more)",
            file=sys.stderr,
        )
    counts = {"ok": 0, "failed": 0, "not_run": 0}
    async for result in aresearch_batch(todo, concurrency=width, services=services, **batch):
        bar.update(result)
        counts["ok" if result.ok else "not_run" if not result.recorded else "failed"] += 1
        if not result.ok:
            bar.bar.write(f"leadline: {result.item.id}: {result.error}", file=sys.stderr)
    return counts


async def run_file(
    input_path: Path | str,
    output_path: Path | str,
    *,
    budget: Budget | None = None,
    pool: int | None = None,
    concurrency: int | None = None,
    strict: bool = False,
    retry_errors: bool = False,
    passages: Path | str | None = None,
    precompute: int | None = None,
    settings: Settings | None = None,
    services: Services | None = None,
    progress: bool = True,
    **options: Any,
) -> dict[str, Any]:
    """What `leadline batch` does: read, resume, run with a progress bar; return a summary.

    `precompute`: first bring the collection's precomputed results up to date, with this many
    model tokens for distillation (0: the link graph only); None: use whatever is there.
    """
    budget = budget or Budget()
    width = DEFAULT_CONCURRENCY if concurrency is None else concurrency
    if not 1 <= width <= MAX_CONCURRENCY:
        raise ConfigError(f"--concurrency must be in 1..{MAX_CONCURRENCY}, got {width}")
    if Path(output_path).resolve() == Path(input_path).resolve():
        raise ConfigError("the output must be another file than the input (-o OUT.jsonl)")
    items, problems = _read_input(input_path, budget, strict)
    started = time.perf_counter()
    log = ResultLog.open(output_path, retry_errors=retry_errors, row_fields=BATCH_ROW_FIELDS)
    try:
        if log.discarded_bytes:
            print(
                f"leadline: cut a partial last line ({log.discarded_bytes} bytes) from "
                f"{output_path}, left by an interrupted batch",
                file=sys.stderr,
            )
        todo = [i for i in items if str(i.id) not in log.finished]
        failed_before = sum(1 for i in items if (log.finished.get(str(i.id)) or {}).get("error"))
        bar = _Progress(len(todo), pool, log.spent_tokens, progress)
        try:
            async with AsyncExitStack() as stack:
                if services is None and todo:
                    services = await stack.enter_async_context(open_services(settings))
                    if passages is not None:
                        services.search = PassageFileSearch.from_jsonl(passages)
                if precompute is not None and todo and services is not None and passages is None:
                    collection = options.get("collection")
                    await _precompute_first(services, collection, precompute, progress)
                counts = await _run(
                    todo,
                    bar,
                    services,
                    budget=budget,
                    pool=pool,
                    width=width,
                    output=log,
                    **options,
                )
        finally:
            bar.close()
    finally:
        log.close()
    wall = time.perf_counter() - started
    ran = counts["ok"] + counts["failed"]
    return {
        "input": str(input_path),
        "output": str(output_path),
        "questions": len(items),
        "malformed_lines": [p.line for p in problems],
        "already_done": len(items) - len(todo),
        "failed_earlier": failed_before,  # recorded with an error by an earlier run
        **counts,
        "total_tokens": bar.tokens,
        "weighted_tokens": round(bar.weighted, 1),
        "search_steps": bar.steps,
        "pool": None
        if pool is None
        else {"total": pool, "spent": bar.spent, "left": max(pool - bar.spent, 0)},
        "wall_s": round(wall, 3),
        "questions_per_s": round(ran / wall, 3) if wall > 0 else 0.0,
    }
