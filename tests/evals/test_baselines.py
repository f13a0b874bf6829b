from __future__ import annotations

from pathlib import Path

import pytest

from leadline.budgets.budget import Budget
from leadline.errors import ConfigError
from leadline.evals.baselines import (
    SystemContext,
    SystemSpec,
    first_sentence,
    parse_system,
    run_system,
)
from leadline.tools.llm import LLMClient
from tests.evals.helpers import FACTS, ScriptedModel, load_mini, search_for
from tests.fakes.llm_server import ScriptedLLMServer

QUESTION = next(iter(FACTS))


def test_parse_system_names() -> None:
    assert parse_system("closed-book") == SystemSpec("closed-book")
    assert parse_system("RAG").kind == "rag"
    assert parse_system("leadline").name == "leadline-adaptive-auto"
    assert (
        parse_system("leadline", policy="fixed", shape="sequential").name
        == "leadline-fixed-sequential"
    )
    assert parse_system("leadline-fixed").name == "leadline-fixed-auto"
    assert parse_system("leadline-parallel").name == "leadline-adaptive-parallel"
    assert parse_system("leadline-fixed-parallel").name == "leadline-fixed-parallel"
    for bad in ("leadline-sometimes", "bm25", "leadline-fixed-auto-extra"):
        with pytest.raises(ConfigError, match="unknown system"):
            parse_system(bad)


def test_first_sentence() -> None:
    assert (
        first_sentence("Anna Berg was a painter. Her museum is big.") == "Anna Berg was a painter."
    )
    assert first_sentence("  no stop at all ") == "no stop at all"


async def _run(tmp_path: Path, kind: str, budget: Budget) -> tuple:
    dataset = load_mini(tmp_path)
    search = search_for(dataset)
    with ScriptedLLMServer(ScriptedModel()) as server:
        llm = LLMClient(base_url=server.base_url, model="scripted", max_retries=0, timeout_s=10)
        try:
            out = await run_system(
                SystemSpec(kind), QUESTION, budget, SystemContext(llm=llm, search=search)
            )
        finally:
            await llm.aclose()
        return out, search, server


async def test_closed_book_makes_one_call_and_no_search(tmp_path: Path) -> None:
    out, search, server = await _run(tmp_path, "closed-book", Budget())
    assert len(server.requests) == 1 and not search.queries
    assert out.answer == "Berlin" and out.usage["search_steps"] == 0 and out.usage["llm_calls"] == 1


async def test_rag_searches_once_and_reads(tmp_path: Path) -> None:
    out, search, server = await _run(tmp_path, "rag", Budget())
    assert search.queries == [QUESTION]
    assert out.usage["search_steps"] == 1 and out.answer == "Oslo"
    assert {"Anna Berg", "Berg Museum"} <= {e.title for e in out.retrieved}


async def test_rag_without_search_budget_is_closed_book(tmp_path: Path) -> None:
    out, search, _ = await _run(tmp_path, "rag", Budget(max_search_steps=0))
    assert not search.queries and out.usage["search_steps"] == 0


async def test_ircot_interleaves_reasoning_and_retrieval(tmp_path: Path) -> None:
    out, search, server = await _run(tmp_path, "ircot", Budget())
    # question retrieval, then one retrieval for the first reasoning sentence, then the chain ends
    assert search.queries == [QUESTION, "Paris is named in the passages."]
    assert out.usage["search_steps"] == 2 and out.answer == "Oslo"
    assert out.usage["llm_calls"] == 3  # two reasoning sentences and the reader


@pytest.mark.parametrize("kind", ["closed-book", "rag", "ircot"])
@pytest.mark.parametrize("max_tokens", [400, 900])
@pytest.mark.parametrize("steps", [0, 3])
async def test_baselines_never_exceed_the_budget(
    tmp_path: Path, kind: str, max_tokens: int, steps: int
) -> None:
    budget = Budget(max_tokens=max_tokens, max_search_steps=steps)
    out, _, _ = await _run(tmp_path, kind, budget)
    assert out.usage["total_tokens"] <= max_tokens
    assert out.usage["search_steps"] <= steps
    assert out.answer  # a run that hits its caps still answers (or says unknown)
