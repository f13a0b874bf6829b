"""Pausing and reporting a precompute job: the gate a host closes, the progress it reads.

Kept apart from the job's stages so the server's idle-time runner and the CLI share one notion
of "where the job stands" (state, stage, done/total, ETA, tokens) without importing its work.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Stage = Literal["links", "distil"]
Notify = Callable[["Progress"], None]


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
    state: str = "pending"  # pending | running | paused | done | interrupted | error
    stage: Stage | None = None
    done: int = 0
    total: int = 0
    started_at: float | None = None
    eta_s: float | None = None
    tokens: int = 0
    skipped: int = 0  # passages whose reply was unusable this time; a rerun tries them again
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def wait_if_paused(gate: Gate, progress: Progress, notify: Notify | None) -> None:
    """Return at once while the gate is open; else report "paused" and wait for it."""
    if gate.is_open:
        return
    previous, progress.state = progress.state, "paused"
    if notify is not None:
        notify(progress)
    await gate.wait_open()
    progress.state = previous
    if notify is not None:
        notify(progress)


class Tracker:
    """One stage's tqdm bar (stderr, with ETA) and progress record, updated together."""

    def __init__(
        self,
        progress: Progress,
        stage: Stage,
        total: int,
        done: int,
        show: bool,
        notify: Notify | None,
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
