"""One token-usage type: every cost record extends `TokenUsage`, and each serialises as before."""

from __future__ import annotations

import json

from leadline.budgets.budget import Budget, Rates, Spend
from leadline.budgets.ledger import LedgerEvent, RunUsage, summarize, total_spend
from leadline.evals.metrics import QuestionCost
from leadline.precompute.store import StageCost
from leadline.tools.llm import Usage
from leadline.tools.server_metrics import PrefixCacheCounters
from leadline.usage import TokenUsage

EVENTS = [
    LedgerEvent(
        kind="llm",
        agent="planner",
        step=0,
        prompt_tokens=900,
        cached_tokens=400,
        completion_tokens=60,
        reasoning_tokens=10,
        latency_s=1.25,
        detail="m",
    ),
    LedgerEvent(kind="search", agent="searcher", step=1, search_steps=1, latency_s=0.5),
    LedgerEvent(kind="search", agent="searcher", step=1, search_steps=1, error="down"),
]


def test_every_record_is_a_token_usage_and_counts_tokens_one_way() -> None:
    records = [
        Usage(prompt_tokens=10, cached_tokens=4, completion_tokens=3, latency_s=0.1),
        Spend(10, 4, 3, 1),
        EVENTS[0],
        summarize(EVENTS),
        QuestionCost(10, 4, 3, 1, llm_calls=1),
        StageCost(10, 4, 3, stage="links", fingerprint="f", started_at=0, wall_s=0, passages=1),
    ]
    for record in records:
        assert isinstance(record, TokenUsage)
        assert record.total_tokens == record.prompt_tokens + record.completion_tokens
        assert record.uncached_prompt_tokens == record.prompt_tokens - record.cached_tokens


def test_spends_add_up_to_a_plain_spend() -> None:
    total = total_spend(EVENTS)
    assert type(total) is Spend
    assert total == Spend(900, 400, 60, 2)
    assert type(EVENTS[0] + EVENTS[1]) is Spend


def test_run_usage_is_typed_and_serialises_to_the_usage_json_of_the_cli_and_api() -> None:
    usage = summarize(EVENTS)
    assert isinstance(usage, RunUsage)
    assert usage.llm_calls == 1 and usage.errors == 1 and usage.reasoning_tokens == 10
    assert usage.prefill_tokens == 500 and usage.cache_hit_rate == round(400 / 900, 4)
    assert usage.budget_overrun is None and usage.server_prefix_cache is None
    assert list(usage.to_dict()) == [
        "prompt_tokens",
        "cached_tokens",
        "completion_tokens",
        "search_steps",
        "total_tokens",
        "weighted_tokens",
        "cached_token_rate",
        "reasoner_tokens",
        "reasoning_tokens",
        "prefill_tokens",
        "cache_hit_rate",
        "llm_calls",
        "llm_latency_s",
        "search_latency_s",
        "errors",
    ]
    assert usage["total_tokens"] == usage.total_tokens == 960  # dict-style reads still work
    assert dict(usage) == usage.to_dict() and {**usage}["llm_calls"] == 1
    json.dumps(usage.to_dict())


def test_run_usage_says_which_cap_the_billed_spend_went_past() -> None:
    usage = summarize(EVENTS, Budget(max_tokens=400, max_search_steps=1))
    # in the budget's unit: 500 uncached + 400 cached x 0.1 + 60 completion
    assert usage.budget_overrun == {
        "max_tokens": {"cap": 400, "spent": 600.0},
        "max_search_steps": {"cap": 1, "spent": 2},
    }
    assert list(usage.to_dict())[-1] == "budget_overrun"
    assert summarize(EVENTS, Budget(max_tokens=700)).budget_overrun is None
    legacy = Budget(max_tokens=700, cached_token_rate=1.0)  # every prompt token in full
    assert summarize(EVENTS, legacy).budget_overrun == {"max_tokens": {"cap": 700, "spent": 960}}


def test_server_prefix_cache_serialises_as_its_counters() -> None:
    from dataclasses import replace

    usage = replace(summarize(EVENTS), server_prefix_cache=PrefixCacheCounters(100.0, 75.0))
    assert usage.to_dict()["server_prefix_cache"] == {
        "queries": 100.0,
        "hits": 75.0,
        "hit_rate": 0.75,
    }


def test_ledger_lines_keep_their_key_order() -> None:
    assert list(EVENTS[0].to_dict()) == [
        "type",
        "kind",
        "agent",
        "step",
        "prompt_tokens",
        "cached_tokens",
        "completion_tokens",
        "reasoning_tokens",
        "search_steps",
        "latency_s",
        "detail",
        "error",
    ]


def test_question_cost_is_a_spend_with_calls_and_wall_time() -> None:
    cost = QuestionCost.of(summarize(EVENTS), llm_calls=1, wall_s=2.3456)
    d = cost.to_dict(Rates())
    assert list(d) == [
        "prompt_tokens",
        "cached_tokens",
        "completion_tokens",
        "search_steps",
        "llm_calls",
        "wall_s",
        "uncached_tokens",
        "total_tokens",
        "weighted_tokens",
        "compute",
    ]
    assert d["wall_s"] == 2.346 and d["compute"] == round(500 + 40 + 60 + 2 * 250.0, 1)
