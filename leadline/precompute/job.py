"""The precompute job over one collection: link graph, then (with a token allowance) distillation.

Resumable by construction: each unit is committed to the `PrecomputeStore` as it finishes (links
in small batches, distillations one passage at a time, each with the stage's cost so far), and a
rerun skips what is there. A kill loses at most the batch or the passage in flight. A `Gate`
lets a host pause the job between units and abandon a model call in flight (the server does this
when a research job arrives); the abandoned passage is redone later.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from leadline.errors import LLMError, LLMOutputError
from leadline.precompute.distil import AllowanceSpent, TokenAllowance, distil
from leadline.precompute.links import LinkMatcher, collect_names
from leadline.precompute.progress import Gate, Notify, Progress, Tracker, wait_if_paused
from leadline.precompute.store import PrecomputeStore, StageCost
from leadline.tools.llm import LLMClient
from leadline.tools.search.base import Passage

LINK_BATCH = 200  # passages linked per commit: ~10-50 ms of work, so pausing is prompt


class Corpus(Protocol):
    """What the job reads from a collection (`LocalCorpus` provides it)."""

    collection: str
    precompute_dir: Any

    def fingerprint(self) -> str: ...

    def iter_passages(self) -> Any: ...


@dataclass(frozen=True)
class PrecomputeReport:
    collection: str
    fingerprint: str
    passages: int
    stages: list[StageCost]
    skipped: int = 0  # passages left for a rerun: their model reply was unusable
    error: str = ""  # why a stage stopped with "error" (e.g. the model endpoint is down)

    def to_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "fingerprint": self.fingerprint,
            "passages": self.passages,
            "stages": [s.to_dict() for s in self.stages],
            "skipped": self.skipped,
            "error": self.error,
        }


@dataclass
class _Run:
    """Everything a stage needs besides its own inputs."""

    store: PrecomputeStore
    passages: Sequence[Passage]
    fingerprint: str
    progress: Progress
    gate: Gate
    show: bool
    notify: Notify | None


class _CostRow:
    """A stage's cost row, saved after every unit so a killed job's spend stays on record."""

    def __init__(self, store: PrecomputeStore, stage: Any, fingerprint: str) -> None:
        self.store, self._t0 = store, time.perf_counter()
        self.cost = StageCost(
            stage=stage,
            fingerprint=fingerprint,
            started_at=time.time(),
            wall_s=0.0,
            passages=0,
            stopped="interrupted",
        )
        self.id = store.record(self.cost)

    def update(self, **changes: Any) -> StageCost:
        """The row with `changes`, not yet saved (a unit's write saves it with its result)."""
        self.cost = replace(self.cost, wall_s=time.perf_counter() - self._t0, **changes)
        return self.cost

    def save(self, **changes: Any) -> StageCost:
        self.store.record(self.update(**changes), self.id)
        return self.cost


async def _link_stage(run: _Run) -> StageCost | None:
    store, passages = run.store, run.passages
    if store.links_state(run.fingerprint) == "fresh":
        return None
    done = await asyncio.to_thread(store.begin_links, run.fingerprint)
    todo = [p for p in passages if p.id not in done]
    row = await asyncio.to_thread(_CostRow, store, "links", run.fingerprint)
    tracker = Tracker(
        run.progress, "links", len(passages), len(passages) - len(todo), run.show, run.notify
    )
    try:
        matcher = await asyncio.to_thread(lambda: LinkMatcher(collect_names(passages).names))
        for start in range(0, len(todo), LINK_BATCH):
            await wait_if_paused(run.gate, run.progress, run.notify)
            batch = todo[start : start + LINK_BATCH]

            def work(batch: Sequence[Passage] = batch, linked: int = start) -> None:
                rows = [(p.id, matcher.links(p)) for p in batch]
                store.add_links(rows, row.update(passages=linked + len(batch)), row.id)

            await asyncio.to_thread(work)
            tracker.advance(len(batch))
        store.finish_links(run.fingerprint)
        return row.save(stopped="done")
    finally:
        tracker.close()


async def _race(coro: Any, gate: Gate) -> tuple[bool, Any]:
    """Run `coro` unless the gate closes first: (finished, result)."""
    task = asyncio.ensure_future(coro)
    closed = asyncio.ensure_future(gate.closed.wait())
    try:
        await asyncio.wait({task, closed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        closed.cancel()
    if task.done():
        return True, task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False, None


async def _distil_stage(
    run: _Run, llm: LLMClient, max_tokens: int | None, extra_body: dict[str, Any]
) -> StageCost:
    store, passages = run.store, run.passages
    done = await asyncio.to_thread(store.distilled_ids)
    queue = [p for p in passages if p.id not in done]
    row = await asyncio.to_thread(_CostRow, store, "distil", run.fingerprint)
    tracker = Tracker(
        run.progress, "distil", len(passages), len(passages) - len(queue), run.show, run.notify
    )
    allowance = TokenAllowance(max_tokens)
    distilled = 0

    def spent(**extra: Any) -> dict[str, Any]:
        s = allowance.spent
        return dict(
            passages=distilled,
            calls=allowance.calls,
            prompt_tokens=s.prompt_tokens,
            cached_tokens=s.cached_tokens,
            completion_tokens=s.completion_tokens,
            **extra,
        )

    try:
        while queue:
            await wait_if_paused(run.gate, run.progress, run.notify)
            passage, before = queue[0], allowance.spent
            try:
                finished, result = await _race(
                    distil(llm, passage, allowance, extra_body), run.gate
                )
            except LLMOutputError:
                # One unusable reply (cut off, not JSON) costs one passage, not the job; the
                # call is on the bill, and a rerun tries the passage again.
                queue.pop(0)
                run.progress.skipped += 1
                tracker.advance(1, allowance.spent.total_tokens - before.total_tokens)
                continue
            if not finished:
                continue  # paused mid-call: the same passage again once the gate opens
            queue.pop(0)
            after = allowance.spent
            distilled += 1
            await asyncio.to_thread(
                store.add_distilled,
                passage.id,
                result,
                (
                    after.prompt_tokens - before.prompt_tokens,
                    after.cached_tokens - before.cached_tokens,
                    after.completion_tokens - before.completion_tokens,
                ),
                row.update(**spent()),
                row.id,
            )
            tracker.advance(1, after.total_tokens - before.total_tokens)
        return await asyncio.to_thread(row.save, **spent(stopped="done"))
    except AllowanceSpent:
        return await asyncio.to_thread(row.save, **spent(stopped="budget"))
    except LLMError as exc:
        run.progress.error = str(exc)
        return await asyncio.to_thread(row.save, **spent(stopped="error"))
    finally:
        tracker.close()


def status(corpus: Corpus) -> dict[str, Any]:
    """Where a collection's precompute stands, without running anything."""
    store = PrecomputeStore(corpus.precompute_dir)
    fingerprint = corpus.fingerprint()
    return {
        "collection": corpus.collection,
        "fingerprint": fingerprint,
        "passages": int(fingerprint.split("-", 1)[0]),
        "links": store.links_state(fingerprint),
        "links_done": store.links_count(),
        "distilled": len(store.distilled_ids()),
        "cost": store.cost_totals(),
        "directory": str(store.directory),
    }


async def precompute(
    corpus: Corpus,
    *,
    llm: LLMClient | None = None,
    max_tokens: int | None = 0,
    extra_body: dict[str, Any] | None = None,
    gate: Gate | None = None,
    show_progress: bool = True,
    on_progress: Notify | None = None,
) -> PrecomputeReport:
    """Bring the collection's precomputed results up to date; resumable, pausable.

    `max_tokens`: the model allowance for this invocation; 0 runs only the link graph (no
    model), None distils every passage not yet distilled.
    """
    progress = Progress(corpus.collection, state="running", started_at=time.time())
    stages: list[StageCost] = []
    try:
        fingerprint = await asyncio.to_thread(corpus.fingerprint)
        passages = await asyncio.to_thread(lambda: list(corpus.iter_passages()))
        run = _Run(
            PrecomputeStore(corpus.precompute_dir),
            passages,
            fingerprint,
            progress,
            gate or Gate(),
            show_progress,
            on_progress,
        )
        links = await _link_stage(run)
        if links is not None:
            stages.append(links)
        if max_tokens != 0 and llm is not None:
            stages.append(await _distil_stage(run, llm, max_tokens, extra_body or {}))
        progress.state = "error" if progress.error else "done"
    except asyncio.CancelledError:
        progress.state = "interrupted"  # a host stopping; a rerun continues
        raise
    except BaseException as exc:
        progress.state, progress.error = "error", progress.error or f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if on_progress is not None:
            on_progress(progress)
    return PrecomputeReport(
        corpus.collection, fingerprint, len(passages), stages, progress.skipped, progress.error
    )


async def precompute_collection(
    settings: Any, collection: str | None, **options: Any
) -> PrecomputeReport:
    """`precompute` on a named collection of the configured store (CLI, batch, server)."""
    from leadline.tools.search.corpus import LocalCorpus

    corpus = await asyncio.to_thread(LocalCorpus.from_settings, settings, collection, create=False)
    try:
        return await precompute(corpus, **options)
    finally:
        await corpus.aclose()
