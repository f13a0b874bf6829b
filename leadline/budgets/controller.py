"""Controller policies: after each step, is the next unit of compute better spent searching?

Pure decisions over the run's situation, so they are unit-testable without a graph or a model.
- `fixed`: keep searching up to the caps unless the reasoner says it is done.
- `allocate`: once the plan is known, the caps become the mix of search steps, reasoning tokens
  and width the fitted law predicts best (`budgets.allocate`); then as `fixed`.
Under both policies a "done" is honoured only once the run has searched at least as many steps as
the planner's hop estimate (within the allocation): small models tend to declare a bridge
question answered after its first hop, naming the bridge entity instead of the answer.
- `adaptive`: allocate search steps from the planner's hop estimate and stop early once the
  answer has stayed the same, with high confidence, across consecutive reasoning steps, and
  every planned hop has been searched.
Shapes: `sequential` runs one query per step (depth, for bridge questions), `parallel` several
(breadth, for comparisons), `auto` picks from the planner's shape estimate.
A search round is issued only if its worst-case cost — the searches, the next reasoning call and
the reserved final answer — still fits the budget (`round_cost` supplies that estimate).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from leadline.agents.planner import clean_queries
from leadline.agents.reasoner import is_unknown
from leadline.agents.workspace import PlanEntry
from leadline.budgets.budget import Budget, Spend, fits
from leadline.budgets.ledger import AnytimeAnswer

Policy = Literal["fixed", "adaptive", "allocate"]
ShapeMode = Literal["sequential", "parallel", "auto"]
StopReason = Literal["done", "early_stop", "confident", "budget", "error"]

PARALLEL_WIDTH = 3
ADAPTIVE_STEPS_PER_HOP = 2
SETTLED_CONFIDENCE = 0.8
SETTLED_WINDOW = 2


@dataclass(frozen=True)
class Action:
    kind: Literal["search", "answer"]
    queries: tuple[str, ...] = ()
    stop_reason: StopReason | None = None


def queries_per_round(shape: ShapeMode, plan: PlanEntry) -> int:
    if shape == "parallel" or (shape == "auto" and plan.shape == "comparison"):
        return PARALLEL_WIDTH
    return 1


def allocated_search_steps(policy: Policy, budget: Budget, hops: int) -> int | None:
    """The search steps this run may use: the cap (for allocate, the cap its law chose once the
    plan was known), or for adaptive a share set by difficulty."""
    if policy in ("fixed", "allocate"):
        return budget.max_search_steps
    allocation = ADAPTIVE_STEPS_PER_HOP * max(hops, 1)
    return (
        allocation if budget.max_search_steps is None else min(allocation, budget.max_search_steps)
    )


def hops_covered(plan: PlanEntry, spent: Spend, allowed: int | None) -> bool:
    """Has the run searched as many steps as the plan has hops (or all it is allowed)?"""
    needed = plan.hops if allowed is None else min(plan.hops, allowed)
    return spent.search_steps >= needed


def normalize_answer_text(answer: str) -> str:
    return " ".join(answer.lower().strip(" .").split())


def is_settled(anytime: Sequence[AnytimeAnswer]) -> bool:
    """The last answers agree, are not unknown (`agents.reasoner.is_unknown`), and were all given
    with high confidence."""
    recent = anytime[-SETTLED_WINDOW:]
    if len(recent) < SETTLED_WINDOW:
        return False
    answers = {normalize_answer_text(a.answer) for a in recent}
    return (
        len(answers) == 1
        and not any(is_unknown(a) for a in answers)
        and all(a.confidence >= SETTLED_CONFIDENCE for a in recent)
    )


def decide(
    *,
    policy: Policy,
    shape: ShapeMode,
    plan: PlanEntry,
    budget: Budget,
    spent: Spend,
    proposed_queries: Sequence[str],
    queries_done: Sequence[str],
    round_cost: Callable[[int], Spend],
    done: bool = False,
    anytime: Sequence[AnytimeAnswer] = (),
) -> Action:
    """Search again (with which queries) or answer now (and why)."""
    allowed = allocated_search_steps(policy, budget, plan.hops)
    if done and hops_covered(plan, spent, allowed):
        return Action("answer", stop_reason="done")
    if policy == "adaptive" and is_settled(anytime) and hops_covered(plan, spent, allowed):
        return Action("answer", stop_reason="early_stop")
    width = queries_per_round(shape, plan)
    candidates = clean_queries(
        [*proposed_queries, *plan.queries], exclude=queries_done, limit=width
    )
    if not candidates:
        return Action("answer", stop_reason="done")
    steps_left = len(candidates) if allowed is None else allowed - spent.search_steps
    n = min(len(candidates), steps_left)
    while n > 0 and not fits(budget, spent, round_cost(n)):
        n -= 1
    if n <= 0:
        return Action("answer", stop_reason="budget")
    return Action("search", queries=tuple(candidates[:n]))
