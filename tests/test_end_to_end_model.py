"""End to end through the real parts: embedded llama.cpp server (0.5B), real chromadb + BM25
corpus built from HotpotQA dev paragraphs, the research graph, the ledger and the caps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from leadline.budgets.budget import Budget
from leadline.config import load_settings
from leadline.core import aresearch
from leadline.services import Services
from leadline.tools.llm import Completion, LLMClient

DEV300 = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hotpotqa" / "dev300.jsonl"
)
N_QUESTIONS = 12

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(
        not DEV300.exists(), reason="../shared/data/hotpotqa/dev300.jsonl not present"
    ),
]


class RecordingClient(LLMClient):
    """Keeps every completion the server returned, to compare with the ledger."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.completions: list[Completion] = []

    async def chat(self, *args: Any, **kwargs: Any) -> Completion:
        completion = await super().chat(*args, **kwargs)
        self.completions.append(completion)
        return completion


@pytest.fixture(scope="module")
def dev_subset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    rows = [json.loads(line) for line in DEV300.read_text().splitlines()[:N_QUESTIONS]]
    path = tmp_path_factory.mktemp("data") / "dev_subset.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path, rows


@pytest.fixture(scope="module")
def corpus_dir(
    dev_subset: tuple[Path, list[dict]], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    from leadline.tools.search.corpus import LocalCorpus
    from leadline.tools.search.ingest import ingest

    root = tmp_path_factory.mktemp("corpus")
    ingest([dev_subset[0]], LocalCorpus.embedded(root, "dev"), progress=False)
    return root


async def _run(
    embedded_model: str,
    corpus_dir: Path,
    question: str,
    budget: Budget,
    kv_mode: str = "shared",
    stop_confidence: float | None = None,
) -> tuple[Any, RecordingClient, Any]:
    from leadline.tools.search.corpus import LocalCorpus

    corpus = LocalCorpus.embedded(corpus_dir, "dev")
    llm = RecordingClient(base_url=embedded_model, model="embedded", timeout_s=300)
    settings = load_settings(environ={}, data_dir=corpus_dir, base_url=embedded_model)
    services = Services(settings=settings, llm=llm, search=corpus)
    try:
        result = await aresearch(
            question,
            services=services,
            budget=budget,
            kv_mode=kv_mode,
            checkpoint=False,
            **({} if stop_confidence is None else {"stop_confidence": stop_confidence}),
        )
    finally:
        await llm.aclose()
    return result, llm, corpus


async def test_answers_a_dev_question_with_real_citations_within_caps(
    embedded_model: str, corpus_dir: Path, dev_subset: tuple[Path, list[dict]]
) -> None:
    question = dev_subset[1][0]["question_text"]
    budget = Budget(max_tokens=6000, max_search_steps=3)
    result, llm, corpus = await _run(embedded_model, corpus_dir, question, budget)

    assert result.answer.strip()
    assert result.stop_reason in {"done", "early_stop", "confident", "budget"}
    for citation in result.citations:  # citations point at ingested passages
        stored = corpus.get(citation.passage_id)
        assert stored is not None and stored.title == citation.title
    assert all(e.passage_id for e in result.evidence)
    # ledger totals equal the sum of what the server reported, call for call
    assert result.usage["llm_calls"] == len(llm.completions)
    assert result.usage["prompt_tokens"] == sum(c.usage.prompt_tokens for c in llm.completions)
    assert result.usage["completion_tokens"] == sum(
        c.usage.completion_tokens for c in llm.completions
    )
    assert result.usage["cached_tokens"] == sum(c.usage.cached_tokens for c in llm.completions)
    assert result.usage["total_tokens"] <= 6000
    assert result.usage["search_steps"] <= 3


async def test_shared_kv_mode_is_served_from_the_prefix_cache(
    embedded_model: str, corpus_dir: Path, dev_subset: tuple[Path, list[dict]]
) -> None:
    question = dev_subset[1][1]["question_text"]
    result, llm, _ = await _run(
        embedded_model,
        corpus_dir,
        question,
        Budget(max_tokens=8000, max_search_steps=2),
        kv_mode="shared",
        stop_confidence=0,  # plan first and read last: the shared prefix's own path
    )
    assert len(llm.completions) >= 2
    # every call after the first reuses the shared prefix (charter + question + workspace)
    assert all(c.usage.cached_tokens > 0 for c in llm.completions[1:])
    assert result.usage["cache_hit_rate"] > 0.3
