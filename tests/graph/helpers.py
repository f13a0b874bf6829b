"""Shared pieces for graph tests: replies per agent and a one-call runner."""

from __future__ import annotations

import json
from typing import Any

from leadline.budgets.budget import Budget
from leadline.core import ResearchResult, run_graph
from leadline.graph.state import RunSpec
from leadline.tools.llm import LLMClient
from tests.fakes.llm_server import ScriptedLLMServer
from tests.fakes.search import MemorySearch, make_passages


def plan_reply(queries: list[str], hops: int = 2, shape: str = "bridge") -> str:
    return json.dumps(
        {"sub_questions": ["first", "second"], "queries": queries, "hops": hops, "shape": shape}
    )


def reason_reply(
    answer: str = "unknown",
    confidence: float = 0.3,
    done: bool = False,
    next_queries: list[str] | None = None,
    note: str = "Looked at [1].",
) -> str:
    return json.dumps(
        {
            "note": note,
            "answer": answer,
            "confidence": confidence,
            "done": done,
            "next_queries": next_queries or [],
        }
    )


def answer_reply(answer: str = "Topic 5", citations: list[int] | None = None) -> str:
    return json.dumps({"answer": answer, "citations": citations or [1]})


async def run(
    server: ScriptedLLMServer, budget: Budget, search: Any = None, **spec_kw: Any
) -> ResearchResult:
    llm = LLMClient(base_url=server.base_url, model="scripted", max_retries=0, timeout_s=10)
    try:
        spec = RunSpec(
            question=spec_kw.pop("question", "Which topic holds fact number 5?"),
            budget=budget,
            **spec_kw,
        )
        return await run_graph(
            spec,
            llm=llm,
            search=search or MemorySearch(make_passages()),
            **{k: v for k, v in spec_kw.items() if k in ("checkpointer", "run_id")},
        )
    finally:
        await llm.aclose()


def spent_within(result: ResearchResult, budget: Budget) -> bool:
    u = result.usage
    ok = budget.max_tokens is None or u.total_tokens <= budget.max_tokens
    ok &= budget.max_search_steps is None or u.search_steps <= budget.max_search_steps
    return ok


def passages_shown(body: dict[str, Any]) -> int:
    """Passages a reader request has shown in its conversation so far (a look's turn adds one)."""
    turns = [m["content"] for m in body["messages"] if m["role"] == "user"]
    return sum(1 for turn in turns for line in turn.splitlines() if line.startswith("["))
