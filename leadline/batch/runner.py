"""Running a batch: bounded concurrency, an optional shared token pool, each result as it ends."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Unpack

from leadline.agents.workspace import PlanEntry
from leadline.batch.inputs import BatchItem, QuestionLike, as_items
from leadline.batch.output import BATCH_ROW_FIELDS, ResultLog
from leadline.budgets.allocate import allocate, load_model
from leadline.budgets.budget import MIN_MAX_TOKENS, Budget, Spend, whole_tokens
from leadline.budgets.ledger import RunUsage
from leadline.budgets.pool import BudgetPool, Grant, difficulty_weight
from leadline.config import Settings
from leadline.core import ResearchResult, aresearch
from leadline.errors import BudgetError, ConfigError, LeadlineError
from leadline.options import OPTION_NAMES, OptionFields, ResearchOptions
from leadline.services import LLMLike, Services, open_services
from leadline.sync import blocking
from leadline.tools.search.base import SearchBackend

DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 256
# Under allocate, a grant is the law's predicted cost of its chosen mix with this much room: the
# law predicts a mean, and a question above it should not be starved of its last round.
ALLOCATE_MARGIN = 1.25


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
    def usage(self) -> RunUsage | None:
        return self.result.usage if self.result is not None else None

    def to_row(self) -> dict[str, Any]:
        r = self.result
        return {
            "id": self.item.id,
            "question": self.item.question,
            "answer": r.answer if r else "",
            "citations": [dataclasses.asdict(c) for c in r.citations] if r else [],
            "usage": self.usage.to_dict() if self.usage is not None else {},
            "stop_reason": self.stop_reason,
            "error": self.error,
            "run_id": r.run_id if r else None,
            "grant": self.grant,
            "wall_s": round(self.wall_s, 3),
        }


async def aresearch_batch(
    questions: Iterable[QuestionLike],
    *,
    budget: Budget | None = None,
    pool: int | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    options: ResearchOptions | None = None,
    search: SearchBackend | None = None,
    llm: LLMLike | None = None,
    settings: Settings | None = None,
    services: Services | None = None,
    output: ResultLog | Path | str | None = None,
    retry_errors: bool = False,
    **option_fields: Unpack[OptionFields],
) -> AsyncIterator[BatchResult]:
    """Research every question, at most `concurrency` at once; yield results as they finish.

    `budget`, `options` (or their fields as keywords), `search`, `llm`, `settings` and
    `services` are `aresearch`'s, for every question (a question's own budget overrides).
    `pool`: a token total shared by the batch (what `output` already records counts against
    it). `output`: append each result there and skip ids it already holds; `retry_errors`
    drops its failed rows first so those questions run again.
    """
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ConfigError(f"concurrency must be in 1..{MAX_CONCURRENCY}, got {concurrency}")
    unknown = option_fields.keys() - OPTION_NAMES
    if unknown:
        raise TypeError(f"unexpected keyword argument {sorted(unknown)[0]!r}")
    options = (options or ResearchOptions()).updated(**option_fields)
    if services is not None and llm is not None:
        raise ConfigError("pass llm= or services=, not both: services hold their own LLM client")
    budget = budget or Budget()
    items = as_items(questions, budget)
    async with AsyncExitStack() as stack:
        log = output if isinstance(output, ResultLog) else None
        if output is not None and log is None:
            log = ResultLog.open(output, retry_errors=retry_errors, row_fields=BATCH_ROW_FIELDS)
            stack.callback(log.close)
        if log is not None:
            items = [i for i in items if str(i.id) not in log.finished]
        token_pool = None
        if pool is not None:
            token_pool = BudgetPool(pool, spent=log.spent_tokens if log else 0)
        if not items:
            return
        if services is None:
            services = await stack.enter_async_context(
                open_services(settings, llm=llm, search=search)
            )
        # The embedded server runs one question per KV slot; more workers would only hold
        # grants while they wait. Remote endpoints are bounded by `concurrency` alone.
        width = concurrency if services.server is None else min(concurrency, services.slots)
        batch = _Batch(
            items,
            budget,
            token_pool,
            services,
            log,
            options,
            search,
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
        options: ResearchOptions,
        search: SearchBackend | None,
    ) -> None:
        self.todo = deque(items)
        self.budget = budget
        self.pool = pool
        self.services = services
        self.log = log
        self.options = options
        self.search = search
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

    def grant_target(
        self, grant: Grant, plan: PlanEntry, budget: Budget, cap: int | None, spent: Spend
    ) -> int:
        """The tokens a question should hold once its plan is known (see `size_by_difficulty`)."""
        if self.options.policy != "allocate":
            return int(grant.tokens * difficulty_weight(plan.hops))
        model = load_model(self.services.settings.allocation_model)
        chosen = allocate(model, plan, dataclasses.replace(budget, max_tokens=cap), spent)
        if chosen.predicted_cost is None:  # a law without a cost model: the hop estimate
            return int(grant.tokens * difficulty_weight(plan.hops))
        return whole_tokens(chosen.predicted_cost * ALLOCATE_MARGIN)

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
            """Once the planner has judged the question, size its grant: by the hop estimate,
            or under the allocate policy by what the fitted law's choice for it costs."""
            nonlocal grant
            assert grant is not None and self.pool is not None
            async with self.granting:
                target = self.grant_target(grant, plan, budget, cap, spent)
                used = whole_tokens(budget.weighted(spent))
                grant = self.pool.resize(grant, target, floor=used + MIN_MAX_TOKENS, cap=cap)
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
                options=self.options,
                search=self.search,
                on_plan=size_by_difficulty if grant is not None else None,
            )
            error = result.error
        except LeadlineError as exc:
            error = str(exc)
        except Exception as exc:  # one question's crash must not sink a long batch; it is recorded
            error = f"{type(exc).__name__}: {exc}"
        finally:
            if grant is not None:  # a run that died has unknown spend: charge its whole grant
                used = whole_tokens(result.usage.weighted_tokens) if result else None
                overspent = await self._settle(grant, grant.tokens if used is None else used)
        return BatchResult(
            item,
            result,
            "; ".join(e for e in (error, overspent) if e),
            result.stop_reason if result else "error",
            grant.tokens if grant else None,
            time.perf_counter() - started,
        )


async def _collect(
    questions: Iterable[QuestionLike],
    *,
    budget: Budget | None = None,
    pool: int | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    options: ResearchOptions | None = None,
    search: SearchBackend | None = None,
    llm: LLMLike | None = None,
    settings: Settings | None = None,
    services: Services | None = None,
    output: ResultLog | Path | str | None = None,
    retry_errors: bool = False,
    **option_fields: Unpack[OptionFields],
) -> list[BatchResult]:
    results = [
        r
        async for r in aresearch_batch(
            questions,
            budget=budget,
            pool=pool,
            concurrency=concurrency,
            options=options,
            search=search,
            llm=llm,
            settings=settings,
            services=services,
            output=output,
            retry_errors=retry_errors,
            **option_fields,
        )
    ]
    return sorted(results, key=lambda r: r.item.index)


research_batch = blocking(
    _collect,
    name="research_batch",
    doc="""Synchronous `aresearch_batch` (same arguments): every result, in input order.

    Like `research`, it also works inside a running event loop (Jupyter).
    """,
)
