"""Sleep time in the server: run pending precompute only while no research job is running.

`SleepTimeRunner` works through its collections one after another (`precompute` skips what is
already done, so on a warm server this is a fingerprint check per collection). Its `Gate` is
closed the moment a research job is submitted or resumed and opened when the last one ends
(`JobManager` reports both), so the model and the CPUs belong to questions first: between link
batches (tens of milliseconds) the runner waits, and a model call in flight is abandoned and
redone later. When a collection's results change, the server's search backend for it is
re-wrapped, so the next job uses them without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from leadline.errors import LeadlineError
from leadline.precompute.job import precompute_collection
from leadline.precompute.progress import Gate, Progress

log = logging.getLogger("leadline.precompute")


class SleepTimeRunner:
    """Precomputes `collections` in the server's idle time; `snapshot()` is its progress."""

    def __init__(self, services: Any, collections: Sequence[str], *, max_tokens: int = 0) -> None:
        self.services = services
        self.collections = list(dict.fromkeys(collections))
        self.max_tokens = max_tokens
        self.gate = Gate()
        self.progress: dict[str, Progress] = {name: Progress(name) for name in self.collections}
        self._task: asyncio.Task[None] | None = None

    def set_busy(self, busy: bool) -> None:
        """Called by the job manager whenever research jobs start or all have ended."""
        if busy:
            self.gate.close()
        else:
            self.gate.open()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="leadline-sleep-time")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def snapshot(self) -> dict[str, Any]:
        finished = all(p.state in ("done", "error") for p in self.progress.values())
        overall = "idle" if finished else "running" if self.gate.is_open else "paused"
        return {
            "state": overall,
            "max_tokens": self.max_tokens,
            "collections": {name: p.to_dict() for name, p in self.progress.items()},
        }

    async def _run(self) -> None:
        for name in self.collections:
            await self.gate.wait_open()
            try:
                await self._precompute(name)
            except LeadlineError as exc:  # e.g. the collection does not exist (yet)
                progress = self.progress[name]
                progress.state, progress.error = "error", str(exc)
                log.warning("precompute of %s failed: %s", name, exc)

    async def _precompute(self, name: str) -> None:
        report = await precompute_collection(
            self.services.settings,
            name,
            llm=self.services.llm if self.max_tokens else None,
            max_tokens=self.max_tokens,
            extra_body=self.services.slot_extra_body(0),
            gate=self.gate,
            show_progress=False,
            on_progress=lambda p: self._update(name, p),
        )
        if report.stages:
            await asyncio.to_thread(self.services.refresh_precompute, name)
            log.info("precompute of %s: %s", name, [s.to_dict() for s in report.stages])

    def _update(self, name: str, progress: Progress) -> None:
        self.progress[name] = progress
