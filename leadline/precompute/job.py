"""The precompute job over one collection: link graph, then (with a token allowance) distillation.

Resumable by construction: each unit is committed to the `PrecomputeStore` as it finishes (links
in small batches, distillations one passage at a time), and a rerun skips what is there. A kill
loses at most the batch or the passage in flight. A `Gate` lets a host pause the job between
units and abandon a model call in flight (the server does this when a research job arrives);
the abandoned passage is simply redone later. Progress goes to a tqdm bar (stderr, with ETA)
and to an optional callback (the server's progress endpoint).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from leadline.errors import LLMError
from leadline.precompute.distil import AllowanceSpent, TokenAllowance, distil
from leadline.precompute.links import LinkMatcher, collect_names
from leadline.precompute.store import PrecomputeStore, StageCost
from leadline.tools.llm import LLMClient
from leadline.tools.search.base import Passage

LINK_BATCH = 200  # passages linked per commit: ~10-50 ms of work, so pausing is prompt
Stage = Literal["links", "distil"]


class Corpus(Protocol):
    """What the job reads from a collection (`LocalCorpus` provides it)."""

    collection: str
    precompute_dir: Any

    def fingerprint(self) -> str: ...

    def iter_passages(self) -> Any: ...


class Gate:
    """Open: the job may run. Closed: it waits (and a model call in flight is abandoned)."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self.closed = asyncio.Event()

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    def open(self) -> None:
        self.closed.clear()
        self._open.set()

    def close(self) -> None:
        self._open.clear()
        self.closed.set()

    async def wait_open(self) -> None:
        await self._open.wait()


@dataclass
class Progress:
    """Where a job stands; what the server's progress endpoint shows."""

    collection: str
    state: str = "pending"  # pending | running | paused | done | error
    stage: Stage | None = None
    done: int = 0
    total: int = 0
    started_at: float | None = None
    eta_s: float | None = None
    tokens: int = 0
    error: str = ""
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class PrecomputeReport:
    collection: str
    fingerprint: str
    passages: int
    stages: list[StageCost]

    def to_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "fingerprint": self.fingerprint,
            "passages": self.passages,
            "stages": [s.to_dict() for s in self.stages],
        }


class _Tracker:
    """One stage's bar and progress record, updated together."""

    def __init__(
        self,
        progress: Progress,
        stage: Stage,
        total: int,
        done: int,
        show: bool,
        notify: Callable[[Progress], None] | None,
    ) -> None:
        from tqdm import tqdm

        self.progress, self.notify = progress, notify
        progress.stage, progress.total, progress.done, progress.eta_s = stage, total, done, None
        self._started, self._first = time.monotonic(), done
        self.bar = tqdm(
            total=total,
            initial=done,
            desc=f"{stage} {progress.collection}",
            unit="passage",
            file=sys.stderr,
            disable=not show,
            dynamic_ncols=True,
        )
        self._emit()

    def advance(self, n: int, tokens: int = 0) -> None:
        p = self.progress
        p.done += n
        p.tokens += tokens
        rate = (p.done - self._first) / max(time.monotonic() - self._started, 1e-6)
        p.eta_s = round((p.total - p.done) / rate, 1) if rate > 0 else None
        self.bar.update(n)
        if tokens:
            self.bar.set_postfix_str(f"{p.tokens:,} tok", refresh=False)
        self._emit()

    def _emit(self) -> None:
        if self.notify is not None:
            self.notify(self.progress)

    def close(self) -> None:
        self.bar.close()


async def _link_stage(
    store: PrecomputeStore,
    passages: Sequence[Passage],
    fingerprint: str,
    progress: Progress,
    gate: Gate,
    show: bool,
    notify: Callable[[Progress], None] | None,
) -> StageCost | None:
    if store.links_state(fingerprint) == "fresh":
        return None
    started, t0 = time.time(), time.perf_counter()
    done = await asyncio.to_thread(store.begin_links, fingerprint)
    todo = [p for p in passages if p.id not in done]
    tracker = _Tracker(progress, "links", len(passages), len(passages) - len(todo), show, notify)
    linked, stopped = 0, "interrupted"
    try:
        matcher = await asyncio.to_thread(lambda: LinkMatcher(collect_names(passages).names))
        for start in range(0, len(todo), LINK_BATCH):
            await _wait(gate, progress, notify)
            batch = todo[start : start + LINK_BATCH]

            def work(batch: Sequence[Passage] = batch) -> None:
                store.add_links([(p.id, matcher.links(p)) for p in batch])

            await asyncio.to_thread(work)
            linked += len(batch)
            tracker.advance(len(batch))
        store.finish_links(fingerprint)
        stopped = "done"
    finally:
        tracker.close()
        wall = time.perf_counter() - t0
        cost = StageCost("links", fingerprint, started, wall, linked, stopped=stopped)
        store.record(cost)
    return cost


async def _wait(gate: Gate, progress: Progress, notify: Callable[[Progress], None] | None) -> None:
    if gate.is_open:
        return
    previous, progress.state = progress.state, "paused"
    if notify is not None:
        notify(progress)
    await gate.wait_open()
    progress.state = previous
    if notify is not None:
        notify(progress)


async def _race(coro: Any, gate: Gate) -> tuple[bool, Any]:
    """Run `coro` unless the gate closes first: (finished, result). Abandoned work is redone."""
    task = asyncio.ensure_future(coro)
    closed = asyncio.ensure_future(gate.closed.wait())
    try:
        await asyncio.wait({task, closed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        closed.cancel()
    if task.done():
        return True, task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return False, None


async def _distil_stage(
    store: PrecomputeStore,
    passages: Sequence[Passage],
    fingerprint: str,
    llm: LLMClient,
    max_tokens: int | None,
    extra_body: dict[str, Any],
    progress: Progress,
    gate: Gate,
    show: bool,
    notify: Callable[[Progress], None] | None,
) -> StageCost:
    started, t0 = time.time(), time.perf_counter()
    done = await asyncio.to_thread(store.distilled_ids)
    todo = [p for p in passages if p.id not in done]
    tracker = _Tracker(progress, "distil", len(passages), len(passages) - len(todo), show, notify)
    allowance = TokenAllowance(max_tokens)
    distilled, stopped = 0, "interrupted"
    try:
        queue = list(todo)
        while queue:
            await _wait(gate, progress, notify)
            passage = queue[0]
            before = allowance.spent
            finished, result = await _race(distil(llm, passage, allowance, extra_body), gate)
            if not finished:
                continue  # paused mid-call: the same passage again once the gate opens
            queue.pop(0)
            cost = allowance.spent.total_tokens - before.total_tokens
            spent = allowance.spent
            await asyncio.to_thread(
                store.add_distilled,
                passage.id,
                result,
                spent.prompt_tokens - before.prompt_tokens,
                spent.cached_tokens - before.cached_tokens,
                spent.completion_tokens - before.completion_tokens,
            )
            distilled += 1
            tracker.advance(1, cost)
        stopped = "done"
    except AllowanceSpent:
        stopped = "budget"
    except LLMError as exc:
        stopped, progress.error = "error", str(exc)
    finally:
        tracker.close()
        s = allowance.spent
        cost_row = StageCost(
            "distil",
            fingerprint,
            started,
            time.perf_counter() - t0,
            distilled,
            allowance.calls,
            s.prompt_tokens,
            s.cached_tokens,
            s.completion_tokens,
            stopped,
        )
        store.record(cost_row)
    return cost_row


async def precompute(
    corpus: Corpus,
    *,
    llm: LLMClient | None = None,
    max_tokens: int | None = 0,
    extra_body: dict[str, Any] | None = None,
    gate: Gate | None = None,
    show_progress: bool = True,
    on_progress: Callable[[Progress], None] | None = None,
) -> PrecomputeReport:
    """Bring the collection's precomputed results up to date; resumable, pausable.

    `max_tokens`: the model allowance for this invocation; 0 runs only the link graph (no
    model), None distils every passage not yet distilled.
    """
    gate = gate or Gate()
    store = PrecomputeStore(corpus.precompute_dir)
    progress = Progress(corpus.collection, state="running", started_at=time.time())
    fingerprint = await asyncio.to_thread(corpus.fingerprint)
    passages = await asyncio.to_thread(lambda: list(corpus.iter_passages()))
    stages: list[StageCost] = []
    try:
        links = await _link_stage(
            store, passages, fingerprint, progress, gate, show_progress, on_progress
        )
        if links is not None:
            stages.append(links)
        if max_tokens != 0 and llm is not None:
            stages.append(
                await _distil_stage(
                    store,
                    passages,
                    fingerprint,
                    llm,
                    max_tokens,
                    extra_body or {},
                    progress,
                    gate,
                    show_progress,
                    on_progress,
                )
            )
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
    return PrecomputeReport(corpus.collection, fingerprint, len(passages), stages)
