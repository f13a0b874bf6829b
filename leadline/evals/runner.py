"""Run systems over a dataset: one JSONL record per question, resumable, with a summary.

`evaluate` answers every question of a dataset with one system under one budget and appends a
record per question as soon as it finishes (answer, EM/F1 against all aliases, supporting
recall, costs, anytime answers), so an interrupted run loses at most the questions in flight;
run again with the same output file and finished ids are skipped. Records carry a key of the
configuration that made them, and resuming with a different configuration is refused rather
than mixing results. Questions run concurrently up to the server's KV slots, each pinned to one.
`run_eval` is what `leadline eval` calls: corpus ingestion, several systems, summary files.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tqdm import tqdm

from leadline.agents.prompting import KVMode
from leadline.batch.output import ResultLog
from leadline.budgets.budget import Budget
from leadline.config import Settings
from leadline.evals.baselines import SystemContext, SystemSpec, run_system
from leadline.evals.datasets import Dataset, Example
from leadline.evals.metrics import summarize_records
from leadline.evals.records import (
    LEGACY_FIELDS,
    EvalConfig,
    budget_key,
    finished,
    load_records,
    make_record,
)
from leadline.evals.types import TypeLabels, types_summary

# Records live in `evals.records`; these names stay importable from here, where they were.
__all__ = [
    "LEGACY_FIELDS",
    "EvalConfig",
    "budget_key",
    "evaluate",
    "load_records",
    "prepare_corpus",
    "run_eval",
]


def progress_bar(total: int, initial: int, desc: str, enabled: bool) -> tqdm:
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit="q",
        file=sys.stderr,
        disable=not enabled,
        dynamic_ncols=True,
        leave=True,
    )


def reader_options(
    settings: Settings, system: SystemSpec, stop_confidence: float | None = None
) -> dict[str, Any] | None:
    """leadline's pool and reader settings (part of its records' configuration);
    `stop_confidence` overrides the settings' (a sweep measures whole runs: 0)."""
    if system.kind != "leadline":
        return None
    stop = settings.stop_confidence if stop_confidence is None else stop_confidence
    return {
        "passages_per_query": settings.passages_per_query,
        "reader_passages": settings.reader_passages,
        "stop_confidence": stop,
    }


def allocation_label(system: SystemSpec, settings: Settings) -> str | None:
    """Which law an allocate run reads (part of its configuration: another law, other records)."""
    if system.kind != "leadline" or system.policy != "allocate":
        return None
    from leadline.budgets.allocate import load_model

    model = load_model(settings.allocation_model)
    return f"{settings.allocation_model or 'default'}: {model.label}"


def precompute_used(search: Any, system: SystemSpec, settings: Settings) -> dict[str, Any] | None:
    """What of the collection's precomputed results `system` uses: links (leadline's link
    steps) and distilled questions (fused into every search); None when it uses neither."""
    info = getattr(search, "info", None)
    if info is None or not hasattr(info, "distilled"):
        return None
    links = (
        bool(info.links)
        and system.kind == "leadline"
        and system.follow_links
        and settings.follow_links
    )
    if not links and not info.distilled:
        return None
    return {"links": links, "distilled": info.distilled, "fingerprint": info.fingerprint}


async def evaluate(
    dataset: Dataset,
    system: SystemSpec,
    budget: Budget,
    path: Path | str,
    *,
    services: Any,
    collection: str | None = None,
    kv_mode: KVMode | None = None,
    progress: bool = True,
    desc: str | None = None,
    deadline: float | None = None,
    types: TypeLabels | None = None,
    stop_confidence: float | None = None,
) -> list[dict[str, Any]]:
    """Answer every question not yet in `path`; return all records in dataset order.

    With `deadline` (a `time.monotonic()` value) no question is started after it, so a
    time-boxed benchmark ends with fewer questions instead of being killed mid-way. `types`
    labels questions by id (see `evals.types`) where the dataset has no types of its own;
    `stop_confidence` replaces the settings' for leadline (0: every run searches on).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kv = kv_mode or services.settings.kv_mode
    needs_search = system.kind != "closed-book"
    collection = collection or services.settings.collection
    reader = reader_options(services.settings, system, stop_confidence)
    search = services.search_backend(collection) if needs_search else None
    config = EvalConfig(
        dataset.name,
        system,
        budget,
        kv,
        collection if needs_search else None,
        reader,
        precompute_used(search, system, services.settings),
        allocation_label(system, services.settings),
    )
    # The same durable log as `leadline batch`: locked, a torn last line cut off, each record
    # fsynced, so a killed eval resumes with every question exactly once.
    with contextlib.closing(ResultLog.open(path)) as log:
        done = finished(path, config, log.finished.values())
        todo = [ex for ex in dataset.examples if ex.id not in done]
        queue: asyncio.Queue[Example] = asyncio.Queue()
        for ex in todo:
            queue.put_nowait(ex)
        lock = asyncio.Lock()
        bar = progress_bar(
            len(dataset.examples), len(dataset.examples) - len(todo), desc or system.name, progress
        )
        scores = [
            (r["em"], r["f1"]) for r in done.values() if r["id"] in {e.id for e in dataset.examples}
        ]

        async def worker() -> None:
            while not queue.empty() and (deadline is None or time.monotonic() < deadline):
                example = queue.get_nowait()
                async with services.acquire_slot() as slot:
                    ctx = SystemContext(
                        llm=services.llm,
                        search=search,
                        collection=collection,
                        extra_body=services.slot_extra_body(slot),
                        kv_mode=kv,
                        follow_links=services.settings.follow_links,
                        allocation_model=services.settings.allocation_model,
                        **(reader or {}),
                    )
                    started = time.perf_counter()
                    out = await run_system(system, example.question, budget, ctx)
                    wall = time.perf_counter() - started
                    record = make_record(example, config, out, wall, types)
                async with lock:
                    await asyncio.to_thread(log.append, record)
                    done[example.id] = record
                    scores.append((record["em"], record["f1"]))
                    bar.set_postfix(
                        em=f"{sum(s[0] for s in scores) / len(scores):.2f}",
                        f1=f"{sum(s[1] for s in scores) / len(scores):.2f}",
                        tok=record["cost"]["total_tokens"],
                        refresh=False,
                    )
                    bar.update(1)

        try:
            await asyncio.gather(*(worker() for _ in range(max(1, min(services.slots, len(todo))))))
        finally:
            bar.close()
        return [done[ex.id] for ex in dataset.examples if ex.id in done]


async def prepare_corpus(
    dataset: Dataset, settings: Settings, collection: str, progress: bool
) -> str:
    """Ingest the dataset's pooled corpus into `collection` (idempotent); a one-line summary."""
    if not dataset.corpus:
        return f"{dataset.name} has no paragraphs; searching collection {collection!r} as it is"
    from leadline.precompute.job import precompute
    from leadline.tools.search import LocalCorpus

    # From the submodule: once it is imported, the package attribute `ingest` is the module.
    from leadline.tools.search.ingest import ingest

    # The pooled file is kept in the data directory: passages cite it as their source, so it must
    # outlive the eval (a temporary file would leave citations pointing nowhere).
    pooled = settings.data_dir / "datasets" / f"{collection}.corpus.jsonl"
    pooled.parent.mkdir(parents=True, exist_ok=True)
    partial = pooled.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as fh:
        for doc in dataset.corpus:
            fh.write(json.dumps({"title": doc.title, "text": doc.text}, ensure_ascii=False) + "\n")
    partial.replace(pooled)
    corpus = LocalCorpus.from_settings(settings, collection=collection)
    try:
        summary = await asyncio.to_thread(ingest, [pooled], corpus, progress=progress)
        # The link graph too (no model, seconds): leadline's link steps read it, and an eval on
        # a collection without it would measure a run that never follows a link.
        report = await precompute(corpus, max_tokens=0, show_progress=progress)
    finally:
        await corpus.aclose()
    links = "built" if report.stages else "up to date"
    return f"corpus: {summary}; link graph {links}"


def eval_collection(dataset: Dataset, explicit: str | None, settings: Settings) -> str:
    return explicit or (dataset.collection if dataset.corpus else settings.collection)


@asynccontextmanager
async def open_eval_services(settings: Settings) -> AsyncIterator[Any]:
    """The services an evaluation uses (a seam tests replace)."""
    from leadline.services import open_services

    async with open_services(settings) as services:
        yield services


async def run_eval(
    dataset: Dataset,
    systems: list[SystemSpec],
    budget: Budget,
    out_dir: Path | str,
    *,
    settings: Settings,
    services: Any = None,
    collection: str | None = None,
    kv_mode: KVMode | None = None,
    progress: bool = True,
    log: Any = None,
    types: TypeLabels | None = None,
) -> dict[str, Any]:
    """Evaluate each system into OUT/<system>.jsonl, then write OUT/summary.{md,json}, with
    each system's scores by question type and paired shape comparisons per type."""
    from leadline.evals.report import eval_summary_markdown

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    collection = eval_collection(dataset, collection, settings)
    say = log or (lambda m: print(m, file=sys.stderr, flush=True))
    if services is None and any(s.kind != "closed-book" for s in systems):
        say(await prepare_corpus(dataset, settings, collection, progress))
    started = time.perf_counter()
    summaries: dict[str, dict[str, Any]] = {}
    by_system: dict[str, list[dict[str, Any]]] = {}
    async with _maybe_services(services, settings) as svc:
        for system in systems:
            records = await evaluate(
                dataset,
                system,
                budget,
                out / f"{system.name}.jsonl",
                services=svc,
                collection=collection,
                kv_mode=kv_mode,
                progress=progress,
                types=types,
            )
            summaries[system.name] = summarize_records(records)
            by_system[system.name] = records
        precompute = precompute_costs(svc, collection) if any_search(systems) else None
    result = {
        "dataset": dataset.name,
        "collection": collection,
        "budget": budget.to_dict(),
        "systems": summaries,
        "by_type": types_summary(by_system),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    if precompute:
        result["precompute"] = precompute
    (out / "summary.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / "summary.md").write_text(eval_summary_markdown(result), encoding="utf-8")
    return result


def any_search(systems: list[SystemSpec]) -> bool:
    return any(s.kind != "closed-book" for s in systems)


def precompute_costs(services: Any, collection: str) -> dict[str, Any] | None:
    """What sleep-time compute has cost on this collection so far (per stage), if any."""
    corpus = getattr(services.search_backend(collection), "corpus", None)
    if corpus is None:
        return None
    from leadline.precompute.store import PrecomputeStore

    totals = PrecomputeStore(corpus.precompute_dir).cost_totals()
    return {"cost": totals} if totals else None


@asynccontextmanager
async def _maybe_services(services: Any, settings: Settings) -> AsyncIterator[Any]:
    if services is not None:
        yield services
        return
    async with open_eval_services(settings) as opened:
        yield opened
