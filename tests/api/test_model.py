"""One question through the API and the real embedded model (slow: `pytest -m model`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import openai
import pytest

from leadline.config import Settings
from leadline.services import Services, open_services
from leadline.tools.search.base import Passage
from tests.api.harness import ApiHarness, wait_for
from tests.fakes.search import MemorySearch

CORPUS = [
    Passage(
        id="eiffel",
        title="Eiffel Tower",
        source="mem://eiffel",
        text="The Eiffel Tower is a wrought-iron lattice tower in Paris, France. It was "
        "designed by the engineering company of Gustave Eiffel and completed in 1889.",
    ),
    Passage(
        id="gustave",
        title="Gustave Eiffel",
        source="mem://gustave",
        text="Gustave Eiffel was a French civil engineer born in Dijon in 1832.",
    ),
    Passage(
        id="louvre",
        title="Louvre",
        source="mem://louvre",
        text="The Louvre is the world's most-visited art museum, in Paris.",
    ),
]


@pytest.mark.model
def test_chat_completion_through_the_embedded_model(embedded_model: str, tmp_path: Path) -> None:
    @asynccontextmanager
    async def factory(settings: Settings) -> AsyncIterator[Services]:
        async with open_services(settings) as services:
            services.search = MemorySearch(CORPUS)
            yield services

    harness = ApiHarness(tmp_path / "data", embedded_model, factory=factory)
    harness.start()
    try:
        with openai.OpenAI(
            base_url=f"{harness.base_url}/v1", api_key="x", max_retries=0, timeout=600
        ) as client:
            completion = client.chat.completions.create(
                model="leadline",
                messages=[
                    {"role": "user", "content": "In which year was the Eiffel Tower completed?"}
                ],
                extra_body={
                    "leadline": {
                        "budget": {"max_search_steps": 1, "max_tokens": 6000},
                        "policy": "fixed",
                    }
                },
            )
        with harness.client() as http:
            job = wait_for(http, (completion.model_extra or {})["leadline"]["research_id"])
    finally:
        harness.stop()
    assert completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.prompt_tokens > 0
    assert completion.usage.total_tokens <= 6000
    assert job["status"] == "succeeded" and job["result"]["usage"]["search_steps"] == 1
    assert job["result"]["usage"]["llm_calls"] >= 2
