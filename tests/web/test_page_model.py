"""The research page end to end on the real embedded model (slow: `pytest -m model`): a person
asks, watches, and gets an answered, cited question with its spend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from leadline.config import Settings
from leadline.services import Services, open_services
from tests.api.harness import ApiHarness
from tests.api.test_model import CORPUS
from tests.fakes.search import MemoryCatalog, MemorySearch
from tests.web.conftest import OpenPage, save_screenshots

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed: pip install -e '.[dev]'"
)
expect = sync_api.expect
RUN_TIMEOUT_MS = 600_000


@pytest.mark.model
def test_the_page_answers_with_citations_on_the_embedded_model(
    embedded_model: str, tmp_path: Path, open_page: OpenPage
) -> None:
    @asynccontextmanager
    async def factory(settings: Settings) -> AsyncIterator[Services]:
        async with open_services(settings) as services:
            services.search = MemorySearch(CORPUS)
            services.catalog = MemoryCatalog({"landmarks": len(CORPUS)})
            yield services

    api = ApiHarness(tmp_path / "data", embedded_model, factory=factory)
    api.start()
    try:
        page = open_page(api)
        expect(page.locator("#collection option")).to_have_text(["landmarks (3 passages)"])
        page.fill("#max_tokens", "6000")
        page.fill("#max_search_steps", "1")
        page.select_option("#policy", "fixed")
        page.fill("#question", "In which year was the Eiffel Tower completed?")
        page.click("#ask-submit")
        status = page.locator("#run-status")
        expect(page.locator("#timeline [data-type=plan]")).to_have_count(1, timeout=RUN_TIMEOUT_MS)
        expect(status).to_have_attribute("data-status", "succeeded", timeout=RUN_TIMEOUT_MS)
        kinds = page.locator("#timeline li.ev").evaluate_all("i => i.map(e => e.dataset.type)")
        assert kinds[:3] == ["status", "plan", "search"] and kinds[-2:] == ["answer", "result"]
        assert page.locator("#answer .answer-text").inner_text().strip()
        expect(page.locator("#meters")).to_contain_text("1 / 1")  # the one search step
        cites = page.locator("#citations button.cite")
        if cites.count():
            cites.first.click()
            expect(page.locator("#passage-text")).not_to_be_empty()
            page.keyboard.press("Escape")
        save_screenshots(page, "research-page-model")
    finally:
        api.stop()
