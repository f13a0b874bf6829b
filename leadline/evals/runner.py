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
import hashlib
import json
import sys
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from leadline.agents.prompting import KVMode
from leadline.batch.output import ResultLog
from leadline.budgets.budget import LEGACY_CACHED_TOKEN_RATE, Budget, Spend
from leadline.budgets.ledger import reasoner_tokens, total_spend
from leadline.config import Settings
from leadline.errors import ConfigError
from leadline.evals.baselines import SystemContext, SystemOutput, SystemSpec, run_system
from leadline.evals.datasets import Dataset, Example
from leadline.evals.metrics import QuestionCost, exact_match, f1, summarize_records, support_recall
from leadline.evals.types import TypeLabels, question_type, types_summary


@dataclass(frozen=True)
class EvalConfig:
    """Everything that makes two records comparable; part of every record."""

    dataset: str
    system: SystemSpec
    budget: Budget
    kv_mode: KVMode
    collection: str | None
    reader: dict[str, int] | None = None  # leadline's pool and reader settings
    # What sleep-time compute the system used (None: none, and the key is left out, so records
    # written before precompute existed keep their configuration key).
    precompute: dict[str, Any] | None = None
    allocation: str | None = None  # the allocate policy's law (its label), when it has one

    def to_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "dataset": self.dataset,
            "system": self.system.name,
            "budget": budget_key(self.budget),
            "kv_mode": self.kv_mode,
            "collection": self.collection,
        }
        if self.reader is not None:
            config["reader"] = self.reader
        if self.precompute is not None:
            config["precompute"] = self.precompute
        if self.allocation is not None:
            config["allocation"] = self.allocation
        return config

    @property
    def key(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


# Budget fields added with the compute axes, at the values that mean "as before": left out of
# a configuration key, so records written before them resume under the same key.
LEGACY_FIELDS = {
    "max_reasoning_tokens": None,
    "reasoning_step_tokens": None,
    "width": 1,
    "cached_token_rate": LEGACY_CACHED_TOKEN_RATE,
}


def budget_key(budget: Budget) -> dict[str, Any]:
    """The budget as a configuration records: every field, except new ones at their old value.

    So a change of unit (the default `cached_token_rate` of 0.1) makes a new configuration,
    while `--cached-token-rate 1` resumes the records written in the old unit.
    """
    data = budget.to_dict()
    return {k: v for k, v in data.items() if k not in LEGACY_FIELDS or LEGACY_FIELDS[k] != v}


def spend_until(out: SystemOutput, step: int) -> Spend:
    """What a run had spent when its reasoning step `step` ended (what its anytime answer cost)."""
    return total_spend(e for e in out.events if e.step <= step and e.agent != "answer")


def make_record(
    example: Example,
    config: EvalConfig,
    out: SystemOutput,
    wall_s: float,
    types: TypeLabels | None = None,
) -> dict[str, Any]:
    golds = example.answers
    retrieved = [e.title for e in out.retrieved]
    budget = config.budget
    kind, kind_source = question_type(example, types)
    steps = sorted({e.step for e in out.events if e.agent != "answer"})
    return {
        "id": example.id,
        "question": example.question,
        "answers": list(golds),
        "type": kind,  # bridge / comparison (HotpotQA), for reports split by question type
        "type_source": kind_source,
        "system": config.system.name,
        "prediction": out.answer,
        "em": exact_match(out.answer, golds),
        "f1": round(f1(out.answer, golds), 4),
        "support_recall": support_recall(retrieved, example.supporting_titles),
        "supporting_titles": list(example.supporting_titles),
        "retrieved": retrieved,
        "cost": {
            **QuestionCost.of(out.usage, llm_calls=out.usage.llm_calls, wall_s=wall_s).to_dict(
                budget.rates, budget.cached_token_rate
            ),
            "reasoner_tokens": reasoner_tokens(out.events),
        },
        # What the run had spent after each step (reader excluded), and what its reader cost:
        # a replay of the reader at step k costs spend_after_step[k] plus its own call.
        "spend_after_step": {str(step): spend_until(out, step).to_dict() for step in steps},
        # The reasoner's completion tokens by the end of each step: a replay on the reasoning
        # axis reads the pool a smaller reasoning budget would have reached.
        "reasoner_after_step": {
            str(step): reasoner_tokens(e for e in out.events if e.step <= step) for step in steps
        },
        "reader_cost": total_spend(e for e in out.events if e.agent == "answer").to_dict(),
        # Each reader sample's short answer (width), so smaller widths can be voted again.
        "reader_samples": list(out.reader_samples),
        "stop_reason": out.stop_reason,
        "error": out.error,
        "answer_source": out.answer_source,
        "found": list(out.found),
        "allocation": out.allocation,
        # The whole evidence pool, so `leadline eval --replay` can re-run just the reader.
        "pool": [
            {
                "id": h.passage_id,
                "title": h.title,
                "text": h.text,
                "source": h.source,
                "query": h.query,
                "rank": h.rank,
                "step": h.step,
            }
            for h in out.pool
        ],
        "anytime": [
            {
                "step": a.step,
                "answer": a.answer,
                "confidence": a.confidence,
                "total_tokens": a.total_tokens,
                "search_steps": a.search_steps,
                "weighted_tokens": round(budget.weighted(spend_until(out, a.step)), 1),
                "compute": round(spend_until(out, a.step).compute(budget.rates), 1),
                "em": exact_match(a.answer, golds),
                "f1": round(f1(a.answer, golds), 4),
            }
            for a in out.anytime
        ],
        "precompute": config.precompute,
        "config_key": config.key,
        "config": config.to_dict(),
    }


def load_records(path: Path) -> list[dict[str, Any]]:
    """Records already written; a torn last line (a crash mid-write) is ignored."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def finished(
    path: Path, config: EvalConfig, records: Iterable[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Finished records by question id; refuses a file written with another configuration."""
    done: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.get("config_key") != config.key:
            raise ConfigError(
                f"{path} holds results of another configuration ({record.get('config')}); "
                "use a different --out directory or delete the file"
            )
        done[str(record["id"])] = record
    return done


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


def reader_options(settings: Settings, system: SystemSpec) -> dict[str, int] | None:
    """leadline's pool and reader settings (part of its records' configuration)."""
    if system.kind != "leadline":
        return None
    return {
        "passages_per_query": settings.passages_per_query,
        "reader_passages": settings.reader_passages,
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
) -> list[dict[str, Any]]:
    """Answer every question not yet in `path`; return all records in dataset order.

    With `deadline` (a `time.monotonic()` value) no question is started after it, so a
    time-boxed benchmark ends with fewer questions instead of being killed mid-way. `types`
    labels questions by id (see `evals.types`) where the dataset has no types of its own.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kv = kv_mode or services.settings.kv_mode
    needs_search = system.kind != "closed-book"
    collection = collection or services.settings.collection
    reader = reader_options(services.settings, system)
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
    summary = await asyncio.to_thread(ingest, [pooled], corpus, progress=progress)
    return f"corpus: {summary}"


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
