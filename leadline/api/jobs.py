"""Research jobs as asyncio tasks in the server process, with live, replayable progress.

A job is one `aresearch` run whose run id is the job id, on the server's shared `Services` (one
LLM client, one checkpointer). Its progress events are numbered, kept in memory while it runs
(for live followers) and written to the store by one background writer in batches, so fifty busy
jobs cost one transaction per batch, not one per event. `follow` replays stored events and then
the live ones; the SSE endpoint and streaming chat completions both read it.

On start the manager picks up jobs a previous process left unfinished: a job with a checkpoint
resumes from it under the same id, one without restarts, and one already started `max_attempts`
times (or any, when resuming is off) is marked failed with the reason. Nothing is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from leadline.api.config import ApiConfig
from leadline.api.store import JobRecord, JobStore, StoredEvent
from leadline.api.views import job_view, result_payload
from leadline.budgets.budget import Budget
from leadline.core import aresearch
from leadline.errors import LeadlineError

log = logging.getLogger("leadline.api")


class JobLimitError(LeadlineError):
    """A key already runs as many jobs as the server allows."""


class JobStateError(LeadlineError):
    """The job is not in a state that allows the request (e.g. cancelling a finished job)."""


class ServerStopping(LeadlineError):
    """The server is shutting down and takes no new jobs."""


@dataclass(eq=False)
class LiveJob:
    """A job running in this process: its record, its events so far, and who is waiting."""

    record: JobRecord
    next_seq: int
    events: list[StoredEvent] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    cancel_requested: bool = False
    finishing: bool = False
    last_spend: dict[str, Any] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    first_seq: int = field(init=False)

    def __post_init__(self) -> None:
        self.first_seq = self.next_seq

    def notify(self) -> None:
        old, self.changed = self.changed, asyncio.Event()
        old.set()

    @property
    def progress(self) -> dict[str, Any]:
        """How far the running job has got: events published and the last spend reported."""
        return {"events": self.next_seq - 1, "spend": self.last_spend}

    def after(self, cursor: int) -> list[StoredEvent]:
        return self.events[max(0, cursor - self.first_seq + 1) :]


class EventWriter:
    """One task that writes queued events in batches; `flush` waits for what came before it."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._loop(), name="leadline-event-writer")

    def put(self, job_id: str, event: StoredEvent, ts: float) -> None:
        self.queue.put_nowait((job_id, event.seq, event.type, event.data, ts))

    async def flush(self) -> None:
        barrier: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(barrier)
        await barrier

    async def _loop(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            rows = [item for item in batch if isinstance(item, tuple)]
            if rows:
                try:
                    await self.store.add_events(rows)
                except Exception:  # noqa: BLE001 - the writer must outlive one failed batch
                    log.exception("could not store %d progress event(s)", len(rows))
            for item in batch:
                if isinstance(item, asyncio.Future) and not item.done():
                    item.set_result(None)

    async def close(self) -> None:
        if self.task is None:
            return
        await self.flush()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def first_of(*events: asyncio.Event, timeout: float | None = None) -> bool:
    """Wait until any of `events` is set; False on timeout."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        return bool(done)
    finally:
        for w in waiters:
            w.cancel()


class JobManager:
    """Starts, follows, cancels and recovers jobs; one per server process."""

    def __init__(
        self,
        store: JobStore,
        services: Any,
        config: ApiConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.services = services
        self.config = config
        self.clock = clock
        self.live: dict[str, LiveJob] = {}
        self.writer = EventWriter(store)
        self.stopping = asyncio.Event()
        # Told True when a job starts while none ran, False when the last one ends: the
        # server's sleep-time precompute runs only in between.
        self.busy_listeners: list[Callable[[bool], None]] = []
        self._busy = False

    def _activity_changed(self) -> None:
        busy = any(not j.finishing for j in self.live.values())
        if busy != self._busy:
            self._busy = busy
            for listener in self.busy_listeners:
                listener(busy)

    async def start(self) -> None:
        self.writer.start()
        await self._recover()

    def running(self) -> int:
        return sum(1 for j in self.live.values() if not j.finishing)

    def active(self, key_id: str) -> int:
        return sum(1 for j in self.live.values() if j.record.key_id == key_id and not j.finishing)

    async def submit(
        self, *, key_id: str, kind: str, question: str, request: dict[str, Any]
    ) -> JobRecord:
        if self.stopping.is_set():
            raise ServerStopping("the server is shutting down; retry in a moment")
        limit = self.config.max_jobs_per_key
        if self.active(key_id) >= limit:
            raise JobLimitError(
                f"this API key already has {limit} unfinished job(s), the most this server allows "
                "at once; wait for one to finish or cancel one"
            )
        record = JobRecord(
            id=uuid.uuid4().hex,
            key_id=key_id,
            kind=kind,
            status="queued",
            question=question,
            request=request,
            created_at=self.clock(),
        )
        live = LiveJob(record, next_seq=1)
        self.live[record.id] = live  # reserved before the first await, so the limit holds
        self._activity_changed()
        try:
            await self.store.create(record)
        except BaseException:
            self.live.pop(record.id, None)
            self._activity_changed()
            raise
        live.task = asyncio.create_task(self._run(live, resume=False, note="started"))
        return record

    async def get(self, job_id: str) -> tuple[JobRecord | None, LiveJob | None]:
        live = self.live.get(job_id)
        if live is not None:
            return live.record, live
        return await self.store.get(job_id), None

    def _publish(self, live: LiveJob, event: dict[str, Any]) -> None:
        data = {k: v for k, v in event.items() if k != "run_id"}
        stored = StoredEvent(live.next_seq, str(data.get("type", "event")), data)
        live.next_seq += 1
        live.events.append(stored)
        if isinstance(data.get("spend"), dict):
            live.last_spend = data["spend"]
        self.writer.put(live.record.id, stored, self.clock())
        live.notify()

    async def _run(self, live: LiveJob, *, resume: bool, note: str) -> None:
        record = live.record
        try:
            record.status, record.started_at = "running", self.clock()
            record.attempts += 1
            await self.store.update(
                record.id, status="running", started_at=record.started_at, attempts=record.attempts
            )
            self._publish(live, {"type": "status", "status": "running", "note": note})
            req = record.request
            result = await aresearch(
                record.question,
                budget=Budget.from_dict(req["budget"]),
                policy=req["policy"],
                shape=req["shape"],
                kv_mode=req["kv_mode"],
                collection=req["collection"],
                passages_per_query=req.get("passages_per_query"),
                reader_passages=req.get("reader_passages"),
                follow_links=req.get("follow_links"),
                stop_confidence=req.get("stop_confidence"),
                services=self.services,
                run_id=record.id,
                resume=resume,
                on_event=lambda event: self._publish(live, event),
            )
        except asyncio.CancelledError:
            if not live.cancel_requested:  # shutdown: leave it unfinished, to resume on restart
                self._publish(
                    live,
                    {
                        "type": "status",
                        "status": "interrupted",
                        "note": "the server stopped; the job resumes on restart",
                    },
                )
                raise
            await self._finish(live, "cancelled", None, "cancelled by request")
        except LeadlineError as exc:
            await self._finish(live, "failed", None, str(exc))
        except Exception as exc:  # noqa: BLE001 - a job must end in a recorded state
            log.exception("research job %s crashed", record.id)
            await self._finish(live, "failed", None, f"internal error: {type(exc).__name__}: {exc}")
        else:
            status = "failed" if result.stop_reason == "error" else "succeeded"
            await self._finish(live, status, result_payload(result), result.error)

    async def _finish(
        self, live: LiveJob, status: str, result: dict[str, Any] | None, error: str
    ) -> None:
        live.finishing = True
        record = live.record
        record.status, record.result, record.error = status, result, error
        record.finished_at = self.clock()
        self._publish(live, {"type": "result", **job_view(record)})
        try:
            await self.writer.flush()
            await self.store.update(
                record.id, status=status, result=result, error=error, finished_at=record.finished_at
            )
        finally:  # even if the store failed, no follower may wait on this job forever
            live.done.set()
            live.notify()
            self.live.pop(record.id, None)
            self._activity_changed()

    async def follow(self, job_id: str, after: int = 0) -> AsyncIterator[StoredEvent | None]:
        """Stored events after `after`, then live ones until the job ends; None = keep-alive."""
        live = self.live.get(job_id)
        cursor = after
        for event in await self.store.events(job_id, after):
            yield event
            cursor = event.seq
        if live is None:
            return
        while True:
            changed = live.changed
            fresh = live.after(cursor)
            if fresh:
                for event in fresh:
                    yield event
                    cursor = event.seq
                continue
            if live.done.is_set() or self.stopping.is_set():
                return
            try:
                await asyncio.wait_for(changed.wait(), timeout=self.config.keepalive_s)
            except TimeoutError:
                yield None

    async def wait(self, job_id: str) -> JobRecord | None:
        """The job once it has ended, or as it stands if the server starts shutting down."""
        record, live = await self.get(job_id)
        if live is not None:
            await first_of(live.done, self.stopping)
        return record

    async def cancel(self, job_id: str) -> JobRecord:
        live = self.live.get(job_id)
        if live is None or live.finishing or live.task is None:
            if live is not None:
                await live.done.wait()
            record = live.record if live is not None else await self.store.get(job_id)
            status = record.status if record else "unknown"
            raise JobStateError(
                f"job {job_id} is already {status}; only unfinished jobs can be cancelled"
            )
        live.cancel_requested = True
        live.task.cancel()
        await asyncio.wait({live.task})
        if not live.done.is_set():  # cancelled before its first step ran
            await self._finish(live, "cancelled", None, "cancelled by request")
        return live.record

    async def _has_checkpoint(self, job_id: str) -> bool:
        saver = getattr(self.services, "checkpointer", None)
        if saver is None:
            return False
        return await saver.aget_tuple({"configurable": {"thread_id": job_id}}) is not None

    async def _recover(self) -> None:
        for record in await self.store.unfinished():
            live = LiveJob(record, next_seq=await self.store.last_seq(record.id) + 1)
            self.live[record.id] = live
            if not self.config.resume_interrupted:
                await self._finish(
                    live,
                    "failed",
                    None,
                    "interrupted by a server restart (resuming is off); submit it again",
                )
            elif record.attempts >= self.config.max_attempts:
                await self._finish(
                    live,
                    "failed",
                    None,
                    f"interrupted {record.attempts} time(s) without finishing; giving up",
                )
            else:
                resume = await self._has_checkpoint(record.id)
                note = (
                    "resumed from its last checkpoint after a restart"
                    if resume
                    else "restarted after a restart: no checkpoint had been saved"
                )
                log.info("job %s: %s", record.id, note)
                live.task = asyncio.create_task(self._run(live, resume=resume, note=note))
                self._activity_changed()

    def begin_shutdown(self) -> None:
        """Stop taking jobs and end every follower's stream (clients reconnect after restart)."""
        self.stopping.set()
        for live in self.live.values():
            live.notify()

    async def close(self) -> None:
        self.begin_shutdown()
        running = [j.task for j in self.live.values() if j.task is not None and not j.finishing]
        ending = [j.task for j in self.live.values() if j.task is not None and j.finishing]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, *ending, return_exceptions=True)
        await self.writer.close()
