"""Many questions, one run: bounded concurrency, an optional shared token pool, nothing lost.

`aresearch_batch` runs `aresearch` over a list of questions with at most `concurrency` in flight
and yields each result as it finishes; `research_batch` is its sync wrapper. With an output file
every finished question is appended as one JSON line, flushed and fsynced before it is reported,
and ids already in the file are skipped, so a killed batch resumes with every id exactly once
(a torn last line left by the kill is cut off). With `pool=TOTAL` the questions share one token
total through `budgets.pool.BudgetPool`: each gets a fair share of what is left as its hard token
cap, and what it leaves unused flows back for the rest. A question that fails is recorded with its
error and the batch goes on. `run_file` is what `leadline batch` runs: JSONL in, JSONL out, a
progress bar on stderr. Runs here are not checkpointed: the output file is the batch's resume
point, and a question interrupted mid-run starts again from scratch.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leadline.agents.workspace import PlanEntry
from leadline.budgets.budget import MIN_MAX_TOKENS, Budget, Spend
from leadline.budgets.controller import Policy, ShapeMode
from leadline.budgets.pool import BudgetPool, Grant, difficulty_weight
from leadline.config import KVMode, Settings
from leadline.core import ResearchResult, aresearch, validate_question
from leadline.errors import BudgetError, ConfigError, LeadlineError
from leadline.services import Services, open_services
from leadline.tools.search.base import Passage, content_id

DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 256
MAX_REPORTED_PROBLEMS = 20


@dataclass(frozen=True)
class BatchItem:
    id: str | int
    question: str
    budget: Budget | None = None  # None: the batch's budget
    index: int = 0  # position in the input (a line number for files)


QuestionLike = str | Mapping[str, Any] | BatchItem


@dataclass(frozen=True)
class InputProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class BatchResult:
    """One question's outcome; `recorded`: appended to the output (pool-starved ones are not)."""

    item: BatchItem
    result: ResearchResult | None
    error: str = ""
    stop_reason: str = "error"
    grant: int | None = None
    wall_s: float = 0.0
    recorded: bool = False

    @property
    def ok(self) -> bool:
        return self.result is not None and not self.error

    @property
    def usage(self) -> dict[str, Any]:
        return self.result.usage if self.result is not None else {}

    def to_row(self) -> dict[str, Any]:
        r = self.result
        return {
            "id": self.item.id,
            "question": self.item.question,
            "answer": r.answer if r else "",
            "citations": [dataclasses.asdict(c) for c in r.citations] if r else [],
            "usage": self.usage,
            "stop_reason": self.stop_reason,
            "error": self.error,
            "run_id": r.run_id if r else None,
            "grant": self.grant,
            "wall_s": round(self.wall_s, 3),
        }


# --- input ---------------------------------------------------------------------------------------


def parse_row(data: Any, budget: Budget, index: int = 0) -> BatchItem:
    """One input row `{id, question, budget?}`; the row's budget fields override `budget`."""
    if not isinstance(data, dict):
        raise ConfigError("a row must be a JSON object with 'id' and 'question'")
    raw_id = data.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
        raise ConfigError("'id' must be a non-empty string or an integer")
    if not isinstance(data.get("question"), str):
        raise ConfigError("'question' must be a string")
    question = validate_question(data["question"])
    overrides = data.get("budget")
    row_budget = None
    if overrides is not None:
        if not isinstance(overrides, dict):
            raise ConfigError("'budget' must be an object of budget fields")
        try:
            row_budget = Budget.from_dict({**budget.to_dict(), **overrides})
        except (BudgetError, TypeError, ValueError) as exc:
            raise ConfigError(f"bad 'budget': {exc}") from exc
    return BatchItem(raw_id, question, row_budget, index)


def _refuse_duplicate(seen: dict[str, int], item: BatchItem, where: str) -> None:
    key = str(item.id)
    if key in seen:
        raise ConfigError(
            f"{where}: duplicate id {item.id!r} ({seen[key]} and {item.index}); "
            "every question needs its own id"
        )
    seen[key] = item.index


def read_questions(
    path: Path | str, budget: Budget | None = None, *, strict: bool = False
) -> tuple[list[BatchItem], list[InputProblem]]:
    """Rows of a JSONL file, and the malformed lines skipped (with `strict`, refuse instead)."""
    path, budget = Path(path), budget or Budget()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    items: list[BatchItem] = []
    problems: list[InputProblem] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            item = parse_row(json.loads(line), budget, index=n)
        except UnicodeDecodeError:
            problems.append(InputProblem(n, "not valid UTF-8"))
        except json.JSONDecodeError as exc:
            problems.append(InputProblem(n, f"not valid JSON ({exc.msg}, column {exc.colno})"))
        except ConfigError as exc:
            problems.append(InputProblem(n, str(exc)))
        else:
            _refuse_duplicate(seen, item, f"{path} lines")
            items.append(item)
    if strict and problems:
        listed = "\n".join(f"  {path}:{p}" for p in problems[:MAX_REPORTED_PROBLEMS])
        more = len(problems) - MAX_REPORTED_PROBLEMS
        raise ConfigError(
            f"{path} has {len(problems)} malformed line(s); nothing was run (--strict):\n{listed}"
            + (f"\n  ... and {more} more" if more > 0 else "")
        )
    return items, problems


def as_items(questions: Iterable[QuestionLike], budget: Budget) -> list[BatchItem]:
    """Strings (id = position), row mappings or BatchItems, with unique ids."""
    items: list[BatchItem] = []
    seen: dict[str, int] = {}
    for i, q in enumerate(questions):
        if isinstance(q, BatchItem):
            item = dataclasses.replace(q, index=i)
        elif isinstance(q, str):
            item = BatchItem(i, validate_question(q), None, i)
        else:
            try:
                item = parse_row(dict(q), budget, index=i)
            except ConfigError as exc:
                raise ConfigError(f"question {i}: {exc}") from exc
        _refuse_duplicate(seen, item, "questions")
        items.append(item)
    return items


# --- output --------------------------------------------------------------------------------------


class ResultLog:
    """The output JSONL: what already finished (for resuming) and durable appends.

    Held open with an exclusive lock, so two batches cannot interleave rows in one file.
    """

    def __init__(self, path: Path, fd: int, rows: list[dict[str, Any]], discarded: int) -> None:
        self.path = path
        self._fd = fd
        self.finished: dict[str, dict[str, Any]] = {str(r["id"]): r for r in rows}
        self.discarded_bytes = discarded

    @classmethod
    def open(cls, path: Path | str, *, retry_errors: bool = False) -> ResultLog:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = _open_locked(path)
        except OSError as exc:
            raise ConfigError(f"cannot open the output {path}: {exc.strerror or exc}") from exc
        try:
            data = path.read_bytes()
            keep = data.rfind(b"\n") + 1  # a tail without its newline is a write cut off by a kill
            if keep < len(data):
                os.ftruncate(fd, keep)
                os.fsync(fd)
            rows = _parse_results(path, data[:keep])
            if retry_errors and any(r.get("error") for r in rows):
                rows = [r for r in rows if not r.get("error")]
                fd = _rewrite(path, fd, rows)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, rows, len(data) - keep)

    @property
    def spent_tokens(self) -> int:
        """Tokens the recorded rows cost (a row without usage is charged its whole grant)."""
        total = 0
        for row in self.finished.values():
            usage = row.get("usage") or {}
            spent = usage.get("total_tokens") if isinstance(usage, dict) else None
            total += spent if isinstance(spent, int) else int(row.get("grant") or 0)
        return total

    def append(self, row: dict[str, Any]) -> None:
        data = (json.dumps(row, ensure_ascii=False, default=str) + "\n").encode()
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
        except OSError as exc:  # disk full, file system gone: stop; a rerun resumes from here
            raise ConfigError(f"cannot append to {self.path}: {exc.strerror or exc}") from exc
        self.finished[str(row["id"])] = row

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _open_locked(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # no flock (Windows): run unlocked
        pass
    except BlockingIOError as exc:
        os.close(fd)
        raise ConfigError(f"{path} is being written by another leadline batch") from exc
    return fd


def _parse_results(path: Path, data: bytes) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(data.split(b"\n")[:-1], 1):
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict) or "id" not in row:
            raise ConfigError(
                f"{path}:{n} is not a result row; this does not look like a batch output file "
                "(fix or remove that line, or choose another output)"
            )
        rows.append(row)
    return rows


def _rewrite(path: Path, fd: int, rows: list[dict[str, Any]]) -> int:
    """Atomically replace the file with `rows`; return a locked descriptor of the new file."""
    tmp = path.with_name(f".{path.name}.retry-{os.getpid()}")
    with tmp.open("wb") as fh:
        fh.writelines(
            (json.dumps(r, ensure_ascii=False, default=str) + "\n").encode() for r in rows
        )
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    os.close(fd)
    return _open_locked(path)


# --- running -------------------------------------------------------------------------------------


async def aresearch_batch(
    questions: Iterable[QuestionLike],
    *,
    budget: Budget | None = None,
    pool: int | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    services: Services | None = None,
    settings: Settings | None = None,
    policy: Policy = "adaptive",
    shape: ShapeMode = "auto",
    kv_mode: KVMode | None = None,
    collection: str | None = None,
    output: ResultLog | Path | str | None = None,
    retry_errors: bool = False,
) -> AsyncIterator[BatchResult]:
    """Research every question, at most `concurrency` at once; yield results as they finish.

    `pool`: a token total shared by the batch (what `output` already records counts against
    it). `output`: append each result there and skip ids it already holds; `retry_errors`
    drops its failed rows first so those questions run again.
    """
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ConfigError(f"concurrency must be in 1..{MAX_CONCURRENCY}, got {concurrency}")
    budget = budget or Budget()
    items = as_items(questions, budget)
    async with AsyncExitStack() as stack:
        log = output if isinstance(output, ResultLog) else None
        if output is not None and log is None:
            log = ResultLog.open(output, retry_errors=retry_errors)
            stack.callback(log.close)
        if log is not None:
            items = [i for i in items if str(i.id) not in log.finished]
        token_pool = None
        if pool is not None:
            token_pool = BudgetPool(pool, spent=log.spent_tokens if log else 0)
        if not items:
            return
        if services is None:
            services = await stack.enter_async_context(open_services(settings))
        # The embedded server runs one question per KV slot; more workers would only hold
        # grants while they wait. Remote endpoints are bounded by `concurrency` alone.
        width = concurrency if services.server is None else min(concurrency, services.slots)
        batch = _Batch(
            items,
            budget,
            token_pool,
            services,
            log,
            dict(policy=policy, shape=shape, kv_mode=kv_mode, collection=collection),
        )
        async for result in batch.run(width):
            yield result


class _Batch:
    """The state shared by the workers of one `aresearch_batch` call."""

    def __init__(
        self,
        items: list[BatchItem],
        budget: Budget,
        pool: BudgetPool | None,
        services: Services,
        log: ResultLog | None,
        options: dict[str, Any],
    ) -> None:
        self.todo = deque(items)
        self.budget = budget
        self.pool = pool
        self.services = services
        self.log = log
        self.options = options
        self.granting = asyncio.Condition()
        self.waiting = 0  # workers holding a question but no grant yet
        self.writing = asyncio.Lock()
        self.write: asyncio.Future[None] | None = None  # the append in flight, if any
        self.done: asyncio.Queue[BatchResult | BaseException] = asyncio.Queue()

    async def run(self, width: int) -> AsyncIterator[BatchResult]:
        total = len(self.todo)
        workers = [asyncio.create_task(self._worker()) for _ in range(min(width, total))]
        try:
            for _ in range(total):
                outcome = await self.done.get()
                if isinstance(outcome, BaseException):
                    raise outcome
                yield outcome
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            if self.write is not None:  # a cancelled worker's row is still being written
                await asyncio.wait([self.write])

    async def _worker(self) -> None:
        try:
            while self.todo:
                result = await self._run_one(self.todo.popleft())
                if self.log is not None and result.stop_reason != "pool_exhausted":
                    async with self.writing:  # fsync off the event loop, one row at a time
                        self.write = asyncio.ensure_future(
                            asyncio.to_thread(self.log.append, result.to_row())
                        )
                        await asyncio.shield(self.write)
                    result = dataclasses.replace(result, recorded=True)
                await self.done.put(result)
        except Exception as exc:  # a broken output file or pool: fatal, raised to the consumer
            await self.done.put(exc)

    async def _grant(self, cap: int | None) -> Grant | None:
        assert self.pool is not None
        async with self.granting:
            self.waiting += 1
            try:
                while True:
                    grant = self.pool.grant(self.waiting + len(self.todo), cap)
                    if grant is not None or self.pool.exhausted:
                        return grant
                    await self.granting.wait()  # an open grant will come back
            finally:
                self.waiting -= 1

    async def _settle(self, grant: Grant, used: int) -> str:
        """Return the grant's rest to the pool; a non-empty string says the run overspent it."""
        assert self.pool is not None
        async with self.granting:
            try:
                self.pool.settle(grant, used)
            except BudgetError as exc:  # the server billed more than the pre-call estimates
                return f"{exc} (the pool is now overdrawn)"
            finally:
                self.granting.notify_all()
        return ""

    async def _run_one(self, item: BatchItem) -> BatchResult:
        budget = item.budget or self.budget
        grant = None
        if self.pool is not None:
            grant = await self._grant(budget.max_tokens)
            if grant is None:
                return BatchResult(
                    item,
                    None,
                    stop_reason="pool_exhausted",
                    error=(
                        f"budget pool exhausted: {max(self.pool.available, 0)} of "
                        f"{self.pool.total} tokens left; not run (a larger pool would run it)"
                    ),
                )
            budget = dataclasses.replace(budget, max_tokens=grant.tokens)
        cap = (item.budget or self.budget).max_tokens

        async def size_by_difficulty(plan: PlanEntry, spent: Spend) -> Budget | None:
            """Once the planner has judged the question, scale its grant by the hop estimate."""
            nonlocal grant
            assert grant is not None and self.pool is not None
            async with self.granting:
                target = int(grant.tokens * difficulty_weight(plan.hops))
                grant = self.pool.resize(
                    grant,
                    min(target, cap) if cap else target,
                    floor=spent.total_tokens + MIN_MAX_TOKENS,
                )
                self.granting.notify_all()  # a shrink frees tokens for questions waiting
            return dataclasses.replace(budget, max_tokens=grant.tokens)

        started = time.perf_counter()
        result: ResearchResult | None = None
        error = overspent = ""
        try:
            result = await aresearch(
                item.question,
                budget=budget,
                services=self.services,
                checkpoint=False,
                **self.options,
                on_plan=size_by_difficulty if grant is not None else None,
            )
            error = result.error
        except LeadlineError as exc:
            error = str(exc)
        except Exception as exc:  # one question's crash must not sink a long batch; it is recorded
            error = f"{type(exc).__name__}: {exc}"
        finally:
            if grant is not None:  # a run that died has unknown spend: charge its whole grant
                used = int(result.usage.get("total_tokens", grant.tokens)) if result else None
                overspent = await self._settle(grant, grant.tokens if used is None else used)
        return BatchResult(
            item,
            result,
            "; ".join(e for e in (error, overspent) if e),
            result.stop_reason if result else "error",
            grant.tokens if grant else None,
            time.perf_counter() - started,
        )


def research_batch(questions: Iterable[QuestionLike], **kwargs: Any) -> list[BatchResult]:
    """Synchronous `aresearch_batch`; results in input order."""

    async def collect() -> list[BatchResult]:
        return [r async for r in aresearch_batch(questions, **kwargs)]

    return sorted(asyncio.run(collect()), key=lambda r: r.item.index)


# --- a corpus from one JSONL file ----------------------------------------------------------------


class PassageFileSearch:
    """BM25 in memory over a JSONL file of passages `{id?, title?, text}`: no ingest step."""

    name = "passages"

    def __init__(self, passages: list[Passage]) -> None:
        from leadline.tools.search.bm25 import BM25Index

        self.passages = {p.id: p for p in passages}
        ids = list(self.passages)
        self._index = BM25Index.build(ids, [f"{p.title} {p.text}" for p in self.passages.values()])

    @classmethod
    def from_jsonl(cls, path: Path | str) -> PassageFileSearch:
        path = Path(path)
        passages = []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read passages from {path}: {exc}") from exc
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            with contextlib.suppress(ValueError):
                row = json.loads(line)
                if isinstance(row, dict) and isinstance(row.get("text"), str):
                    title = str(row.get("title") or "")
                    pid = str(row.get("id") or content_id(title, row["text"]))
                    passages.append(Passage(pid, title, row["text"], f"{path}:{n}"))
                    continue
            raise ConfigError(f"{path}:{n} is not a passage row {{id?, title?, text}}")
        return cls(passages)

    async def search(self, query: str, k: int) -> list[Passage]:
        return [
            dataclasses.replace(self.passages[pid], score=score, backend=self.name)
            for pid, score in self._index.search(query, k)
        ]


# --- `leadline batch` ----------------------------------------------------------------------------


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

    def update(self, result: BatchResult) -> None:
        usage = result.usage
        self.tokens += int(usage.get("total_tokens", 0))
        self.steps += int(usage.get("search_steps", 0))
        self.spent += int(usage.get("total_tokens", result.grant or 0))
        self.errors += 0 if result.ok else 1
        postfix = f"{self.tokens:,} tok, {self.steps} searches, {self.errors} failed"
        if self.pool is not None:
            postfix += f", pool {max(self.pool - self.spent, 0):,} left"
        self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


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
    settings: Settings | None = None,
    services: Services | None = None,
    progress: bool = True,
    **options: Any,
) -> dict[str, Any]:
    """What `leadline batch` does: read, resume, run with a progress bar; return a summary."""
    budget = budget or Budget()
    if Path(output_path).resolve() == Path(input_path).resolve():
        raise ConfigError("the output must be another file than the input (-o OUT.jsonl)")
    items, problems = read_questions(input_path, budget, strict=strict)
    for p in problems[:MAX_REPORTED_PROBLEMS]:
        print(f"leadline: skipping {input_path}:{p}", file=sys.stderr)
    if len(problems) > MAX_REPORTED_PROBLEMS:
        print(
            f"leadline: ... and {len(problems) - MAX_REPORTED_PROBLEMS} more malformed line(s)",
            file=sys.stderr,
        )
    started = time.perf_counter()
    log = ResultLog.open(output_path, retry_errors=retry_errors)
    try:
        if log.discarded_bytes:
            print(
                f"leadline: cut a partial last line ({log.discarded_bytes} bytes) from "
                f"{output_path}, left by an interrupted batch",
                file=sys.stderr,
            )
        todo = [i for i in items if str(i.id) not in log.finished]
        already = log.spent_tokens
        bar = _Progress(len(todo), pool, already, progress)
        counts = {"ok": 0, "failed": 0, "not_run": 0}
        async with AsyncExitStack() as stack:
            if services is None and todo:
                services = await stack.enter_async_context(open_services(settings))
                if passages is not None:
                    services.search = PassageFileSearch.from_jsonl(passages)
            width = concurrency or DEFAULT_CONCURRENCY
            if services is not None and services.server is not None and services.slots < width:
                print(
                    f"leadline: the embedded server has {services.slots} slot(s), so "
                    f"{services.slots} question(s) run at a time (LEADLINE_PARALLEL sets more)",
                    file=sys.stderr,
                )
            try:
                async for result in aresearch_batch(
                    todo,
                    budget=budget,
                    pool=pool,
                    concurrency=width,
                    services=services,
                    output=log,
                    **options,
                ):
                    bar.update(result)
                    key = "ok" if result.ok else "not_run" if not result.recorded else "failed"
                    counts[key] += 1
                    if not result.ok:
                        bar.bar.write(
                            f"leadline: {result.item.id}: {result.error}", file=sys.stderr
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
        **counts,
        "total_tokens": bar.tokens,
        "search_steps": bar.steps,
        "pool": None
        if pool is None
        else {"total": pool, "spent": bar.spent, "left": max(pool - bar.spent, 0)},
        "wall_s": round(wall, 3),
        "questions_per_s": round(ran / wall, 3) if wall > 0 else 0.0,
    }
