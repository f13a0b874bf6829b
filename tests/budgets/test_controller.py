from __future__ import annotations

from leadline.agents.workspace import PlanEntry
from leadline.budgets.budget import Budget, Spend
from leadline.budgets.controller import decide, is_settled
from leadline.budgets.ledger import AnytimeAnswer

BRIDGE = PlanEntry(sub_questions=(), queries=("q1", "q2", "q3"), hops=2, shape="bridge")
COMPARISON = PlanEntry(sub_questions=(), queries=("aa", "bb", "cc"), hops=2, shape="comparison")


def cheap(n: int) -> Spend:
    return Spend(prompt_tokens=10 * n, search_steps=n)


def _decide(**kw):
    args = dict(
        policy="fixed",
        shape="auto",
        plan=BRIDGE,
        budget=Budget(max_search_steps=10),
        spent=Spend(),
        proposed_queries=(),
        queries_done=(),
        round_cost=cheap,
    )
    args.update(kw)
    return decide(**args)


def _anytime(*pairs: tuple[str, float]) -> list[AnytimeAnswer]:
    return [
        AnytimeAnswer(step=i, answer=a, confidence=c, total_tokens=0, search_steps=0)
        for i, (a, c) in enumerate(pairs, 1)
    ]


def test_reasoner_done_stops_with_done_once_the_planned_hops_are_searched() -> None:
    assert _decide(done=True, spent=Spend(search_steps=2)).stop_reason == "done"


def test_done_before_the_planned_hops_is_premature_and_searching_goes_on() -> None:
    action = _decide(done=True, spent=Spend(search_steps=1), queries_done=("q1",))
    assert (action.kind, action.queries) == ("search", ("q2",))
    # a cap below the hop estimate is all the run may search, so done is honoured there
    capped = _decide(done=True, spent=Spend(search_steps=1), budget=Budget(max_search_steps=1))
    assert capped.stop_reason == "done"


def test_auto_shape_is_sequential_for_bridge_and_parallel_for_comparison() -> None:
    assert _decide().queries == ("q1",)
    assert _decide(plan=COMPARISON).queries == ("aa", "bb", "cc")
    assert _decide(shape="parallel").queries == ("q1", "q2", "q3")
    assert _decide(plan=COMPARISON, shape="sequential").queries == ("aa",)


def test_proposed_queries_come_first_and_done_queries_are_skipped() -> None:
    action = _decide(proposed_queries=("new", "q1"), queries_done=("Q1",), shape="parallel")
    assert action.queries == ("new", "q2", "q3")


def test_search_step_cap_stops_with_budget() -> None:
    action = _decide(budget=Budget(max_search_steps=3), spent=Spend(search_steps=3))
    assert (action.kind, action.stop_reason) == ("answer", "budget")
    partial = _decide(
        budget=Budget(max_search_steps=3), spent=Spend(search_steps=2), shape="parallel"
    )
    assert partial.queries == ("q1",)


def test_token_cap_trims_or_refuses_a_round() -> None:
    budget = Budget(max_tokens=1000)
    assert _decide(
        budget=budget,
        round_cost=lambda n: Spend(prompt_tokens=400 * n, search_steps=n),
        shape="parallel",
    ).queries == ("q1", "q2")
    refused = _decide(
        budget=budget,
        spent=Spend(prompt_tokens=700),
        round_cost=lambda n: Spend(prompt_tokens=400 * n, search_steps=n),
    )
    assert refused.stop_reason == "budget"


def test_adaptive_allocates_steps_by_hops() -> None:
    one_hop = PlanEntry(sub_questions=(), queries=("x1", "y1", "z1"), hops=1, shape="bridge")
    assert (
        _decide(policy="adaptive", plan=one_hop, spent=Spend(search_steps=2)).stop_reason
        == "budget"
    )
    assert _decide(policy="fixed", plan=one_hop, spent=Spend(search_steps=2)).kind == "search"


def test_adaptive_stops_early_when_the_answer_is_settled_but_fixed_does_not() -> None:
    settled = _anytime(("Paris", 0.9), ("paris.", 0.85))
    assert is_settled(settled)
    covered = Spend(search_steps=2)
    assert _decide(policy="adaptive", anytime=settled, spent=covered).stop_reason == "early_stop"
    assert _decide(policy="fixed", anytime=settled, spent=covered).kind == "search"
    # settled, but the plan's second hop has not been searched yet
    assert _decide(policy="adaptive", anytime=settled, spent=Spend(search_steps=1)).kind == (
        "search"
    )
    assert not is_settled(_anytime(("Paris", 0.9), ("Lyon", 0.9)))
    assert not is_settled(_anytime(("unknown", 0.9), ("unknown", 0.9)))
    # "unknown" is the reader's one definition: "Not found." agreed on twice is not settled either
    assert not is_settled(_anytime(("Not found.", 0.9), ("not found", 0.9)))
    assert not is_settled(_anytime(("Paris", 0.5), ("Paris", 0.9)))


def test_placeholder_queries_are_ignored() -> None:
    action = _decide(proposed_queries=("unknown", "...", "x"), shape="parallel")
    assert action.queries == ("q1", "q2", "q3")


def test_no_new_query_means_done() -> None:
    action = _decide(queries_done=("q1", "q2", "q3"))
    assert action.stop_reason == "done"
