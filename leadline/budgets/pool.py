"""The batch budget pool: one token total shared by many questions, handed out as grants.

Pure arithmetic — no clocks, locks or I/O — so its one promise can be property-tested: at every
moment `spent + outstanding <= total`, where `outstanding` is the sum of grants not yet settled.
A question asks for a grant before it runs and gets a fair share of what is free (what is left
divided by the questions still waiting for one), never more than its own per-question cap and
never less than the smallest budget a run can work with. Once the planner has estimated the
question's difficulty, `resize` scales the grant by `difficulty_weight(hops)`: a one-hop
question gives half its share back at once, a four-hop one may take up to twice its share.
The grant becomes that run's hard token cap, so the run cannot spend more than it holds; when
it finishes, `settle` books what it really used and the rest flows back to the pool, where
later questions' shares grow. The adaptive
controller is what makes that pay: easy questions stop early and return most of their grant.
The batch runner adds the waiting (an `asyncio.Condition`) around this class.
"""

from __future__ import annotations

from dataclasses import dataclass

from leadline.budgets.budget import MIN_MAX_TOKENS
from leadline.errors import BudgetError

TYPICAL_HOPS = 2
MIN_WEIGHT, MAX_WEIGHT = 0.5, 2.0


def difficulty_weight(hops: int) -> float:
    """How much of a fair share a question of `hops` hops deserves (2 hops = exactly its share)."""
    return min(max(hops / TYPICAL_HOPS, MIN_WEIGHT), MAX_WEIGHT)


@dataclass(frozen=True)
class Grant:
    """Tokens lent to one question; settle it exactly once."""

    id: int
    tokens: int


class BudgetPool:
    """A batch's token total: `grant` lends, `settle` books the spend and takes the rest back."""

    def __init__(self, total: int, *, spent: int = 0, min_grant: int = MIN_MAX_TOKENS) -> None:
        if min_grant < 1:
            raise BudgetError(f"min_grant must be >= 1, got {min_grant}")
        if total < min_grant:
            raise BudgetError(
                f"a budget pool of {total} tokens cannot fund even one question "
                f"(each needs at least {min_grant}); give a larger total"
            )
        if not 0 <= spent <= total:
            raise BudgetError(
                f"{spent} tokens are already spent against a pool of {total}; "
                "give a total at least as large as what the output file records"
            )
        self.total = total
        self.spent = spent
        self.min_grant = min_grant
        self._open: dict[int, int] = {}
        self._next_id = 0

    def __repr__(self) -> str:
        return (
            f"BudgetPool(total={self.total}, spent={self.spent}, "
            f"outstanding={self.outstanding}, grants_open={len(self._open)})"
        )

    @property
    def outstanding(self) -> int:
        return sum(self._open.values())

    @property
    def available(self) -> int:
        return self.total - self.spent - self.outstanding

    @property
    def exhausted(self) -> bool:
        """Nothing can be granted now, and no open grant can return anything to change that."""
        return not self._open and self.available < self.min_grant

    def share(self, waiting: int, cap: int | None = None) -> int:
        """What `grant` would lend now to the next of `waiting` questions (0: nothing yet)."""
        if waiting < 1:
            raise BudgetError(f"waiting must be >= 1, got {waiting}")
        if cap is not None and cap < self.min_grant:
            raise BudgetError(
                f"a per-question cap of {cap} is below the minimum grant {self.min_grant}"
            )
        tokens = max(self.available // waiting, self.min_grant)
        if cap is not None:
            tokens = min(tokens, cap)
        tokens = min(tokens, self.available)
        return tokens if tokens >= self.min_grant else 0

    def grant(self, waiting: int, cap: int | None = None) -> Grant | None:
        """Lend a fair share to the next of `waiting` questions, or None if too little is free.

        None with `exhausted` false means: wait for an open grant to be settled and ask again.
        """
        tokens = self.share(waiting, cap)
        if tokens == 0:
            return None
        grant = Grant(self._next_id, tokens)
        self._next_id += 1
        self._open[grant.id] = tokens
        return grant

    def resize(self, grant: Grant, tokens: int, *, floor: int = 0, cap: int | None = None) -> Grant:
        """Change an open grant to `tokens`, within what is free and not below `floor`.

        Growing takes only from what is available, so `spent + outstanding <= total` still holds;
        `floor` (what the run has already used, plus room to answer) keeps a shrink from cutting
        below spend; `cap` (the question's own token cap) bounds everything, the floor included.
        Returns the grant as it now stands (possibly unchanged).
        """
        if grant.id not in self._open:
            raise BudgetError(f"grant {grant.id} is not open (settled, or from another pool)")
        current = self._open[grant.id]
        target = max(tokens, floor, self.min_grant)
        if cap is not None:
            target = min(target, cap)
        target = min(target, current + self.available)
        self._open[grant.id] = target
        return Grant(grant.id, target)

    def settle(self, grant: Grant, used: int) -> int:
        """Book `used` tokens against `grant`, return the unused rest to the pool; give the rest.

        A run is capped at its grant, so `used > grant.tokens` is a bug elsewhere: the real spend
        is still booked (the pool's books stay true) and BudgetError is raised.
        """
        if grant.id not in self._open:
            raise BudgetError(f"grant {grant.id} is not open (settled twice, or from another pool)")
        if used < 0:
            raise BudgetError(f"used tokens must be >= 0, got {used}")
        del self._open[grant.id]
        self.spent += used
        if used > grant.tokens:
            raise BudgetError(f"a question spent {used} tokens on a grant of {grant.tokens}")
        return grant.tokens - used
