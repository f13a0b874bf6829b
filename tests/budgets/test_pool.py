"""The batch budget pool: fair shares, returns, and the proof that its total is never exceeded."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from leadline.budgets.pool import BudgetPool, Grant
from leadline.errors import BudgetError


def test_a_grant_is_a_fair_share_of_what_is_left_capped_per_question() -> None:
    pool = BudgetPool(10_000)
    first = pool.grant(waiting=4)
    assert first is not None and first.tokens == 2_500
    capped = pool.grant(waiting=3, cap=1_000)
    assert capped is not None and capped.tokens == 1_000
    assert pool.available == 10_000 - 3_500


def test_unused_tokens_flow_back_and_later_shares_grow() -> None:
    pool = BudgetPool(10_000)
    easy = pool.grant(waiting=4)
    assert easy is not None
    assert pool.settle(easy, used=500) == 2_000
    assert pool.spent == 500 and pool.outstanding == 0
    later = pool.grant(waiting=3)
    assert later is not None and later.tokens == 9_500 // 3 > easy.tokens


def test_a_nearly_empty_pool_waits_for_open_grants_then_is_exhausted() -> None:
    pool = BudgetPool(1_000, min_grant=400)
    a = pool.grant(waiting=1)
    assert a is not None and a.tokens == 1_000
    assert pool.grant(waiting=1) is None and not pool.exhausted  # a's return may fund it
    pool.settle(a, used=700)
    assert pool.grant(waiting=1) is None and pool.exhausted


def test_below_the_fair_share_the_minimum_grant_still_runs_questions() -> None:
    pool = BudgetPool(1_000, min_grant=400)
    grant = pool.grant(waiting=10)  # the fair share (100) could not plan and answer
    assert grant is not None and grant.tokens == 400


def test_misuse_is_refused() -> None:
    with pytest.raises(BudgetError, match="cannot fund even one question"):
        BudgetPool(100)
    with pytest.raises(BudgetError, match="already spent"):
        BudgetPool(1_000, spent=2_000)
    pool = BudgetPool(5_000)
    grant = pool.grant(waiting=1)
    assert grant is not None
    pool.settle(grant, 10)
    with pytest.raises(BudgetError, match="not open"):
        pool.settle(grant, 10)
    with pytest.raises(BudgetError, match="not open"):
        pool.settle(Grant(99, 10), 1)
    with pytest.raises(BudgetError, match="below the minimum"):
        pool.grant(waiting=1, cap=10)
    over = pool.grant(waiting=1)
    assert over is not None
    with pytest.raises(BudgetError, match="spent"):
        pool.settle(over, over.tokens + 1)
    assert pool.spent == 10 + over.tokens + 1  # the books stay true even then


class PoolMachine(RuleBasedStateMachine):
    """Random interleavings of grants and settlements, as concurrent questions produce them."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = BudgetPool(1_000)
        self.open: list[Grant] = []
        self.used = 0

    @initialize(
        total=st.integers(400, 200_000),
        spent_fraction=st.floats(0, 1),
        min_grant=st.integers(1, 2_000),
    )
    def start(self, total: int, spent_fraction: float, min_grant: int) -> None:
        min_grant = min(min_grant, total)
        self.pool = BudgetPool(
            total, spent=int((total - min_grant) * spent_fraction), min_grant=min_grant
        )
        self.used = self.pool.spent

    @rule(waiting=st.integers(1, 50), cap=st.one_of(st.none(), st.integers(0, 50_000)))
    def ask(self, waiting: int, cap: int | None) -> None:
        if cap is not None and cap < self.pool.min_grant:
            with pytest.raises(BudgetError):
                self.pool.grant(waiting, cap)
            return
        free = self.pool.available
        grant = self.pool.grant(waiting, cap)
        if grant is None:
            assert free < self.pool.min_grant
            return
        assert self.pool.min_grant <= grant.tokens <= free
        assert cap is None or grant.tokens <= cap
        assert grant.tokens >= min(free // waiting, cap or free)  # at least the fair share
        self.open.append(grant)

    @precondition(lambda self: self.open)
    @rule(pick=st.integers(0, 10_000), fraction=st.floats(0, 1))
    def finish(self, pick: int, fraction: float) -> None:
        grant = self.open.pop(pick % len(self.open))
        used = int(grant.tokens * fraction)  # a run never spends more than its grant
        before = self.pool.available
        returned = self.pool.settle(grant, used)
        self.used += used
        assert returned == grant.tokens - used
        assert self.pool.available == before + returned

    @invariant()
    def never_exceeded(self) -> None:
        pool = self.pool
        assert pool.spent + pool.outstanding <= pool.total
        assert pool.outstanding == sum(g.tokens for g in self.open)
        assert pool.spent == self.used
        assert pool.available >= 0

    @invariant()
    def no_deadlock(self) -> None:
        # With nothing open, a pool that cannot grant says so, so no one waits forever.
        if not self.open:
            assert self.pool.exhausted == (self.pool.share(1) == 0)


PoolMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
test_pool_is_never_exceeded = PoolMachine.TestCase


def test_resize_grows_only_from_what_is_free_and_never_below_the_floor() -> None:
    from leadline.budgets.pool import BudgetPool, difficulty_weight

    pool = BudgetPool(10_000)
    a = pool.grant(waiting=2)
    b = pool.grant(waiting=1)
    assert a is not None and b is not None and a.tokens == b.tokens == 5_000
    a = pool.resize(a, 2_500)  # an easy question gives half back at once
    assert a.tokens == 2_500 and pool.available == 2_500
    b = pool.resize(b, 10_000)  # a hard one may grow, but only by what is free
    assert b.tokens == 7_500 and pool.available == 0
    assert pool.spent + pool.outstanding <= pool.total
    a = pool.resize(a, 100, floor=1_800)  # never below what the run has used plus room
    assert a.tokens == 1_800
    a = pool.resize(a, 100, floor=1_800, cap=1_000)  # but the question's own cap comes first
    assert a.tokens == 1_000
    assert [difficulty_weight(h) for h in (1, 2, 4, 9)] == [0.5, 1.0, 2.0, 2.0]
