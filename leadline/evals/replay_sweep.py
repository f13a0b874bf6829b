"""One run, whole curve: a sweep of search steps × reasoning tokens × width replayed from one
max-budget run per question plus reader calls.

A true sweep runs leadline once per cell and question (search, reasoning and reading, ~40 s a
question on two cores); here each question's stored max-budget run (`leadline eval` records keep
the pool, what was spent after every step and the reasoner's tokens) is cut where a smaller
budget would have stopped (`replay.cut_at`), and only the final reader runs on each distinct
cut, once, with the largest width any cell asks of it: a cell of width w votes over the first w
samples. Cells that end up with the same pool share one read. The outputs are a sweep's:
`cells/`, `curves.csv`, `law.json`, the plots and `report.md` (mode "replay").

The replay is an approximation, and says where: a capped run's later rounds could differ (its
reasoning saw less), and after its reasoning budget a true run would go on with the plan's
queries, which a replay cannot know. `--check N` measures the gap: it runs the true cells on N
of the questions and reports replayed − true per cell, with paired bootstrap intervals.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from leadline.agents.reasoner import UNKNOWN
from leadline.budgets.budget import Budget, Spend
from leadline.budgets.curves import paired_difference
from leadline.budgets.guard import BudgetGuard, CallRefused
from leadline.budgets.ledger import summarize, total_spend
from leadline.errors import ConfigError, LLMError, LLMOutputError
from leadline.evals.baselines import SystemSpec, parse_system
from leadline.evals.datasets import Dataset
from leadline.evals.metrics import QuestionCost, exact_match, f1, support_recall
from leadline.evals.records import LEGACY_FIELDS
from leadline.evals.replay import Cut, anytime_at, cut_at, workspace_at
from leadline.evals.runner import progress_bar
from leadline.evals.sweep import Cell, CellRecords, grid_dict, point, violations, write_outputs
from leadline.graph.read import (
    prompt_key,
    reader_prompt,
    sample_answers,
    second_look,
    vote,
)
from leadline.graph.state import FinalAnswer, RunSpec

REPLAY_MAX_TOKENS = 1_000_000  # the replayed reads are bounded by their width, not a cap


@dataclass(frozen=True)
class ReplayGrid:
    search_steps: tuple[int, ...]
    reasoning_tokens: tuple[int | None, ...] = (None,)
    widths: tuple[int, ...] = (1,)

    def __post_init__(self) -> None:
        if not self.search_steps or not self.reasoning_tokens or not self.widths:
            raise ConfigError("a replayed sweep needs search steps, reasoning caps and widths")
        if min(self.search_steps) < 0 or min(self.widths) < 1:
            raise ConfigError("search steps must be >= 0 and widths >= 1")

    @property
    def varied(self) -> tuple[str, ...]:
        named = (
            ("search_steps", self.search_steps),
            ("reasoning_tokens", self.reasoning_tokens),
            ("width", self.widths),
        )
        return tuple(name for name, values in named if len(values) > 1)


@dataclass(frozen=True)
class ReplaySource:
    """What the stored runs were: one leadline system under one budget."""

    system: SystemSpec
    budget: Budget
    kv_mode: str
    reader: dict[str, int]

    def cells(self, grid: ReplayGrid) -> list[Cell]:
        return [
            Cell(self.system.shape, self.system.policy, s, self.budget.max_tokens or 0, r, w)
            for s in grid.search_steps
            for r in grid.reasoning_tokens
            for w in grid.widths
        ]


def budget_from_config(data: dict[str, Any]) -> Budget:
    """A record's budget; fields its configuration leaves out had their old values."""
    return Budget.from_dict({**LEGACY_FIELDS, **data})


def replay_source(records: Sequence[dict[str, Any]]) -> ReplaySource:
    """The one system and budget the records were run with; mixing is refused (a curve must
    come from one configuration)."""
    keys = {r.get("config_key") for r in records}
    if len(keys) != 1:
        raise ConfigError(
            f"the records come from {len(keys)} configurations; replay one eval file "
            "(one system, one budget) at a time"
        )
    config = records[0].get("config") or {}
    system = parse_system(records[0].get("system") or config.get("system", "leadline"))
    if system.kind != "leadline":
        raise ConfigError(f"only leadline records hold a pool to replay, not {system.name}")
    budget = budget_from_config(config.get("budget") or {})
    if budget.max_tokens is None:
        raise ConfigError("the stored runs had no token cap; a replayed cell needs one")
    return ReplaySource(
        system, budget, config.get("kv_mode", "shared"), dict(config.get("reader") or {})
    )


class ReadCache:
    """The replayed reads, one JSON line each, keyed by question, cut and K; appended and
    fsynced as they finish, so a killed replay redoes at most the read in flight."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reads: dict[tuple[str, str, int], dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut off by a kill
                self.reads[(str(row["id"]), row["signature"], int(row["k"]))] = row
        self.calls = 0  # reader calls made by this process
        self.used = 0  # reader samples the cells read (made now or earlier)

    def get(self, qid: str, signature: str, k: int, width: int) -> dict[str, Any] | None:
        row = self.reads.get((qid, signature, k))
        # A read stored before second looks were taken is read again, as a run now reads.
        enough = (
            row is not None
            and "second_look" in row
            and (len(row["answers"]) >= width or row.get("short"))
        )
        return row if enough else None

    def put(self, row: dict[str, Any]) -> None:
        self.reads[(str(row["id"]), row["signature"], int(row["k"]))] = row
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


async def read_cut(
    record: dict[str, Any],
    cut: Cut,
    width: int,
    *,
    llm: Any,
    source: ReplaySource,
    k: int,
    extra_body: dict[str, Any],
) -> dict[str, Any]:
    """`width` reader samples on one cut's pool, with what each cost."""
    budget = Budget(
        max_tokens=REPLAY_MAX_TOKENS,
        max_search_steps=None,
        answer_tokens=source.budget.answer_tokens,
        width=width,
    )
    spec = RunSpec(
        question=record["question"], budget=budget, kv_mode=source.kv_mode, reader_passages=k
    )  # type: ignore[arg-type]
    guard = BudgetGuard(budget, Spend(), reserve=Spend(), agent="answer", step=0)
    answers: list[str] = []
    spends: list[dict[str, int]] = []
    calls: list[int] = []  # model calls per sample: a re-read is a second call
    look: dict[str, Any] | None = None
    error = ""
    try:
        shown = workspace_at(record, cut.round)
        messages, read = reader_prompt(spec, shown, cut.hits, guard)
        samples = await sample_answers(llm, spec, messages, guard, extra_body)
        answers = samples.answers
        spends = [s.to_dict() for s in samples.spends(guard.events)]
        calls = [summarize(events).llm_calls for events in samples.split(guard.events)]
        first = FinalAnswer(
            answer=samples.answers[0] if samples.answers else "",
            citations=(),
            source="reader",
            answer_logprobs=samples.greedy_logprobs,
            prompt_key=prompt_key(messages),
            conversation=samples.greedy_conversation,
            passage_ids=tuple(p.passage_id for p in read),
        )
        look = await look_again(llm, spec, shown, cut.hits, guard, extra_body, first)
    except (CallRefused, LLMOutputError):
        spends = [total_spend(guard.events).to_dict()]
        answers = [UNKNOWN]
    except LLMError as exc:
        error = str(exc)
    return {
        "id": record["id"],
        "signature": cut.signature,
        "k": k,
        "answers": answers,
        "spends": spends,
        "calls": calls,
        "second_look": look,
        "short": len(answers) < width,  # the endpoint stopped sampling early: do not retry
        "error": error,
    }


async def look_again(
    llm: Any,
    spec: RunSpec,
    shown: Sequence[Any],
    hits: Sequence[Any],
    guard: BudgetGuard,
    extra_body: dict[str, Any],
    first: FinalAnswer,
) -> dict[str, Any] | None:
    """The greedy sample's second look (`first`), as a run of width 1 takes it
    (`second_look`): its answer, whether it replaced the greedy one, and what it cost; None when
    none was taken."""
    if vote([first.answer]) is None:
        return None
    single = replace(spec, budget=replace(spec.budget, width=1))
    before = len(guard.events)
    looked = await second_look(llm, single, shown, hits, guard, extra_body, first)
    events = guard.events[before:]
    if not events:
        return None
    return {
        "answer": looked.second_look,
        "kept": looked.prompt_key != first.prompt_key,
        "spend": total_spend(events).to_dict(),
        "calls": summarize(events).llm_calls,
    }


def cell_record(
    record: dict[str, Any], cell: Cell, cut: Cut, read: dict[str, Any], source: ReplaySource
) -> dict[str, Any]:
    """The replayed cell's record, in the shape of an eval record (scores, cost, type)."""
    answers = read["answers"][: cell.width]
    winner = vote(answers)
    fallback = anytime_at(record, cut.round - 1) if cut.round > 0 else UNKNOWN
    answer = answers[winner] if winner is not None else fallback
    spends = read["spends"][: cell.width]
    # A read of width 1 looks again when unsure (`second_look`); a wider one votes instead.
    look = read.get("second_look") if cell.width == 1 else None
    if look is not None:
        spends = [*spends, look["spend"]]
        answer = look["answer"] if look["kept"] else answer
    reader_spend = sum(
        (
            Spend(**{k: s[k] for k in ("prompt_tokens", "cached_tokens", "completion_tokens")})
            for s in spends
        ),
        Spend(),
    )
    golds = record["answers"]
    supporting = record.get("supporting_titles") or []
    # A read stored before calls were recorded counts one call per sample.
    calls = sum((read.get("calls") or [1] * len(read["answers"]))[: cell.width])
    calls += look["calls"] if look is not None else 0
    cost = QuestionCost.of(cut.spent + reader_spend, llm_calls=calls, wall_s=0.0).to_dict(
        source.budget.rates, source.budget.cached_token_rate
    )
    return {
        "id": record["id"],
        "question": record["question"],
        "answers": golds,
        "type": record.get("type"),
        "type_source": record.get("type_source"),
        "system": record.get("system", ""),
        "prediction": answer,
        "em": exact_match(answer, golds),
        "f1": round(f1(answer, golds), 4),
        "support_recall": support_recall([h.title for h in cut.hits], supporting)
        if supporting
        else None,
        "cost": {**cost, "reasoner_tokens": cut.reasoner_tokens},
        "answer_source": "reader" if winner is not None else "anytime",
        "error": read.get("error", ""),
        "replay": {
            "cell": cell.name,
            "round": cut.round,
            "signature": cut.signature,
            "samples": answers,
            "second_look": look["answer"] if look is not None else "",
        },
    }


async def replay_cells(
    records: Sequence[dict[str, Any]],
    cells: Sequence[Cell],
    cache: ReadCache,
    *,
    services: Any,
    source: ReplaySource,
    k: int,
    progress: bool,
) -> CellRecords:
    """Every cell's replayed records: one read per distinct cut of each question."""
    out: CellRecords = {c: [] for c in cells}
    bar = progress_bar(len(records), 0, "replay", progress)
    try:
        for record in records:
            cuts = {c: cut_at(record, c.max_search_steps, c.max_reasoning_tokens) for c in cells}
            widest: dict[str, int] = {}
            for c, cut in cuts.items():
                widest[cut.signature] = max(widest.get(cut.signature, 1), c.width)
            reads: dict[str, dict[str, Any]] = {}
            for cut in cuts.values():
                sig = cut.signature
                if sig in reads:
                    continue
                read = cache.get(str(record["id"]), sig, k, widest[sig])
                if read is None:
                    async with services.acquire_slot() as slot:
                        read = await read_cut(
                            record,
                            cut,
                            widest[sig],
                            llm=services.llm,
                            source=source,
                            k=k,
                            extra_body=services.slot_extra_body(slot),
                        )
                    cache.calls += len(read["answers"])
                    cache.put(read)
                reads[sig] = read
                cache.used += len(read["answers"])
            for c, cut in cuts.items():
                out[c].append(cell_record(record, c, cut, reads[cut.signature], source))
            bar.update(1)
    finally:
        bar.close()
    return out


async def check_against_true(
    dataset: Dataset,
    replayed: CellRecords,
    source: ReplaySource,
    out: Path,
    *,
    n: int,
    services: Any,
    collection: str | None,
    progress: bool,
) -> dict[str, Any]:
    """True runs of every cell on the first `n` replayed questions the dataset has, and the
    paired difference replayed − true per cell."""
    from leadline.evals.runner import evaluate

    ids = [r["id"] for r in next(iter(replayed.values()))]
    wanted = [i for i in ids if i in {ex.id for ex in dataset.examples}][:n]
    if not wanted:
        raise ConfigError("none of the replayed questions is in --dataset; check the file")
    subset = Dataset(
        dataset.kind,
        dataset.path,
        tuple(ex for ex in dataset.examples if ex.id in set(wanted)),
        dataset.corpus,
    )
    cells: dict[str, Any] = {}
    for cell, records in replayed.items():
        true = await evaluate(
            subset,
            SystemSpec("leadline", cell.policy, cell.shape, source.system.follow_links),
            cell.budget(source.budget),
            out / "check" / f"{cell.name}.jsonl",
            services=services,
            collection=collection,
            kv_mode=source.kv_mode,  # type: ignore[arg-type]
            progress=progress,
            desc=f"check {cell.name}",
            stop_confidence=0.0,
        )
        by_id = {r["id"]: r for r in true}
        pairs = [(r, by_id[r["id"]]) for r in records if r["id"] in by_id]
        cells[cell.name] = {
            m: paired_difference([a[m] for a, _ in pairs], [b[m] for _, b in pairs])
            for m in ("em", "f1")
        }
    diffs = [abs(c["em"]["difference"]) for c in cells.values()]
    return {
        "n": len(wanted),
        "cells": cells,
        "mean_abs_em_difference": round(sum(diffs) / len(diffs), 4) if diffs else 0.0,
    }


@dataclass(frozen=True)
class CheckSpec:
    """`--check N`: true runs of every cell on N questions of `dataset`."""

    dataset: Dataset
    n: int
    collection: str | None = None


async def run_replay_sweep(
    records: Sequence[dict[str, Any]],
    grid: ReplayGrid,
    out_dir: Path | str,
    *,
    services: Any,
    reader_passages: int | None = None,
    check: CheckSpec | None = None,
    progress: bool = True,
    command: str = "",
    replayed_from: str = "",
) -> dict[str, Any]:
    """Replay every cell of `grid` from `records` into `out_dir`; the sweep's outputs."""
    if not records:
        raise ConfigError("no records to replay")
    source = replay_source(records)
    k = reader_passages or source.reader.get("reader_passages") or 5
    out = Path(out_dir)
    (out / "cells").mkdir(parents=True, exist_ok=True)
    cache = ReadCache(out / "reads.jsonl")
    started = time.perf_counter()
    cells = source.cells(grid)
    replayed = await replay_cells(
        records, cells, cache, services=services, source=source, k=k, progress=progress
    )
    for cell, rows in replayed.items():
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (out / "cells" / f"{cell.name}.jsonl").write_text(text, encoding="utf-8")
    summary: dict[str, Any] = {
        "mode": "replay",
        "dataset": (records[0].get("config") or {}).get("dataset", "?"),
        "n": len(records),
        "replayed_from": replayed_from,
        "system": source.system.name,
        "reader_passages": k,
        "grid": {
            **grid_dict_for(source, grid),
        },
        "cached_token_rate": source.budget.cached_token_rate,
        "cells": len(cells),
        "reader_calls": cache.used,
        "reader_calls_now": cache.calls,
        "budget_violations": {c.name: v for c, r in replayed.items() if (v := violations(c, r))},
        "command": command,
    }
    if check is not None:
        summary["check"] = await check_against_true(
            check.dataset,
            replayed,
            source,
            out,
            n=check.n,
            services=services,
            collection=check.collection,
            progress=progress,
        )
    summary["wall_s"] = round(time.perf_counter() - started, 1)
    points = [point("replay", c, r) for c, r in replayed.items()]
    return write_outputs(out, summary, points, replayed, grid.varied, "replay")


def grid_dict_for(source: ReplaySource, grid: ReplayGrid) -> dict[str, Any]:
    from leadline.evals.sweep import SweepGrid

    return grid_dict(
        SweepGrid(
            grid.search_steps,
            (source.budget.max_tokens or 0,),
            (source.system.shape,),
            source.system.policy,
            grid.reasoning_tokens,
            grid.widths,
        )
    )
