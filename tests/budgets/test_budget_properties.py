"""Property: no run ever spends more than its caps, whatever the model says or the budget is."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadline.budgets.budget import Budget, Rates
from tests.fakes.llm_server import CL100K, QWEN_LIKE, ScriptedLLMServer, agent_role, repaired_role
from tests.graph.helpers import run


class RandomModel:
    """Replies drawn from a seeded RNG: valid decisions, garbage, long notes, done or not."""

    def __init__(self) -> None:
        self.rng = random.Random(0)
        self.lock = threading.Lock()

    def reseed(self, seed: int) -> None:
        with self.lock:
            self.rng = random.Random(seed)

    def __call__(self, body: dict[str, Any]) -> str:
        with self.lock:
            r = self.rng
            if r.random() < 0.15:
                return r.choice(["", "{", "garbage", "[]", '{"answer": 3}'])
            role = agent_role(body)
            if role == "repair":  # fix the JSON of the agent being repaired, in its own form
                role = repaired_role(body)
            words = " ".join(
                r.choice(["alpha", "topic", "7", "fact", "beta"]) for _ in range(r.randint(1, 60))
            )
            if role == "planner":
                return json.dumps(
                    {
                        "sub_questions": [words[:80]],
                        "hops": r.randint(0, 6),
                        "queries": [f"topic {r.randint(0, 11)}" for _ in range(r.randint(0, 3))],
                        "shape": r.choice(["bridge", "comparison", "odd"]),
                    }
                )
            if role == "answer":
                return json.dumps({"answer": words[:40], "citations": [r.randint(0, 9)]})
            return json.dumps(
                {
                    "note": words,
                    "answer": r.choice(["unknown", "topic 5", words[:20]]),
                    "confidence": r.random(),
                    "done": r.random() < 0.2,
                    "next_queries": [
                        f"topic {r.randint(0, 11)} {r.randint(0, 99)}"
                        for _ in range(r.randint(0, 3))
                    ],
                }
            )


MODEL = RandomModel()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    max_tokens=st.integers(400, 12_000),
    max_steps=st.integers(0, 8),
    max_compute=st.none() | st.floats(500, 20_000),
    max_reasoning=st.none() | st.integers(0, 1_200),
    step_tokens=st.none() | st.integers(16, 400),
    width=st.integers(1, 4),
    cached_rate=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    policy=st.sampled_from(["fixed", "adaptive"]),
    shape=st.sampled_from(["sequential", "parallel", "auto"]),
    kv_mode=st.sampled_from(["shared", "isolated"]),
    # cl100k is what leadline estimates with; QWEN_LIKE bills more, as a real local model does
    tokenizer=st.sampled_from([CL100K, QWEN_LIKE]),
)
def test_no_run_ever_exceeds_its_caps(
    seed,
    max_tokens,
    max_steps,
    max_compute,
    max_reasoning,
    step_tokens,
    width,
    cached_rate,
    policy,
    shape,
    kv_mode,
    tokenizer,
) -> None:
    budget = Budget(
        max_tokens=max_tokens,
        max_search_steps=max_steps,
        max_compute=max_compute,
        rates=Rates(search_step=100),
        max_reasoning_tokens=max_reasoning,
        reasoning_step_tokens=step_tokens,
        width=width,
        cached_token_rate=cached_rate,
    )
    MODEL.reseed(seed)
    with ScriptedLLMServer(MODEL, tokenizer=tokenizer) as server:
        result = asyncio.run(run(server, budget, policy=policy, shape=shape, kv_mode=kv_mode))
    u = result.usage
    uncached = u["prompt_tokens"] - u["cached_tokens"]
    weighted = uncached + cached_rate * u["cached_tokens"] + u["completion_tokens"]
    assert weighted <= max_tokens + 1e-6
    assert u["weighted_tokens"] == round(weighted, 1)
    assert u["search_steps"] <= max_steps
    if max_compute is not None:
        compute = uncached + 0.1 * u["cached_tokens"] + u["completion_tokens"]
        assert compute + 100 * u["search_steps"] <= max_compute + 1e-6
    # the reasoning axis: the reasoner's completion tokens, each call and all of them together
    reasoner_calls = [e for e in result.events if e.kind == "llm" and e.agent == "reasoner"]
    reasoned = sum(e.completion_tokens for e in reasoner_calls)
    assert u["reasoner_tokens"] == reasoned
    if max_reasoning is not None:
        assert reasoned <= max_reasoning
    if step_tokens is not None:
        assert all(e.completion_tokens <= step_tokens for e in reasoner_calls)
    # the width axis: never more reader samples than the width
    answers = [e for e in result.events if e.kind == "llm" and e.agent == "answer"]
    assert len(answers) <= 2 * width  # each sample may need one JSON repair
    assert u.budget_overrun is None
    if result.stop_reason == "error":  # garbage was all the model ever said (15% per call)
        assert "no usable reply" in result.error
    else:
        assert result.stop_reason in {"done", "early_stop", "budget"}
    assert isinstance(result.answer, str)
