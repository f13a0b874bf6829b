"""The precompute job: links built and used, resumed after an interruption, invalidated when the
collection changes; distillation within its token allowance."""

from __future__ import annotations

import json
from typing import Any

import pytest

from leadline.precompute import job as job_module
from leadline.precompute.job import precompute, status
from leadline.precompute.progress import Gate
from leadline.precompute.search import PrecomputedSearch, attach_precompute
from leadline.precompute.store import Distillation, PrecomputeStore, StageCost
from leadline.tools.llm import LLMClient
from leadline.tools.search.base import LinkFollower, Passage
from leadline.tools.search.corpus import LocalCorpus
from tests.fakes.llm_server import Reply, ScriptedLLMServer
from tests.precompute.conftest import PASSAGES


async def test_links_are_built_stored_and_followed_at_question_time(corpus: LocalCorpus) -> None:
    assert attach_precompute(corpus, corpus) is corpus  # nothing precomputed: unchanged
    report = await precompute(corpus, max_tokens=0, show_progress=False)
    assert [s.stage for s in report.stages] == ["links"]
    assert report.stages[0].passages == len(PASSAGES)
    search = attach_precompute(corpus, corpus)
    assert isinstance(search, PrecomputedSearch) and isinstance(search, LinkFollower)
    assert search.info.links and search.info.distilled == 0
    linked = await search.follow(["kiss"], "Which country was she ambassador to?", 5)
    assert [p.id for p in linked] == ["shirley", "corliss"]  # out-link first, then an in-link
    assert linked[0].backend == "links"
    # A second run has nothing to do and records no new cost.
    again = await precompute(corpus, max_tokens=0, show_progress=False)
    assert again.stages == []
    assert status(corpus)["cost"]["links"]["runs"] == 1


async def test_an_interrupted_link_stage_resumes_where_it_stopped(
    corpus: LocalCorpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_module, "LINK_BATCH", 2)
    store = PrecomputeStore(corpus.precompute_dir)
    real_add = PrecomputeStore.add_links
    calls = {"n": 0}

    def dying_add(self: PrecomputeStore, rows: list[Any], *args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # a kill between two commits
        real_add(self, rows, *args)

    monkeypatch.setattr(PrecomputeStore, "add_links", dying_add)
    with pytest.raises(KeyboardInterrupt):
        await precompute(corpus, max_tokens=0, show_progress=False)
    fingerprint = corpus.fingerprint()
    assert store.links_state(fingerprint) == "partial"
    assert store.links_count() == 2
    monkeypatch.setattr(PrecomputeStore, "add_links", real_add)
    report = await precompute(corpus, max_tokens=0, show_progress=False)
    assert report.stages[0].passages == len(PASSAGES) - 2  # only what was left
    assert store.links_state(fingerprint) == "fresh"
    assert [c.stopped for c in store.costs()] == ["interrupted", "done"]


async def test_results_are_invalidated_and_rebuilt_when_the_collection_changes(
    corpus: LocalCorpus,
) -> None:
    await precompute(corpus, max_tokens=0, show_progress=False)
    store = PrecomputeStore(corpus.precompute_dir)
    fact = Distillation(("a fact",), ("a question?",))
    cost = StageCost(
        stage="distil", fingerprint=corpus.fingerprint(), started_at=0.0, wall_s=0.0, passages=1
    )
    store.add_distilled("kiss", fact, (1, 0, 1), cost, store.record(cost))
    corpus.add([Passage("ghana2", "Accra", "Accra is the capital of Ghana.", "m")], progress=False)
    # The old graph does not know the new passage: at question time it is not used ...
    search = attach_precompute(corpus, corpus)
    assert isinstance(search, PrecomputedSearch)
    assert search.links is None and search.info.distilled == 1  # ... distillations still are
    assert status(corpus)["links"] == "stale"
    report = await precompute(corpus, max_tokens=0, show_progress=False)
    assert report.stages[0].passages == len(PASSAGES) + 1  # rebuilt whole
    search = attach_precompute(corpus, corpus)
    assert isinstance(search, PrecomputedSearch) and search.links is not None
    assert "ghana" in search.links.out["ghana2"]
    assert store.distilled_ids() == {"kiss"}


def distil_reply(body: dict[str, Any]) -> Reply:
    text = body["messages"][-1]["content"]
    title = text.split("\n", 1)[0].removeprefix("Passage: ")
    return Reply(
        json.dumps({"facts": [f"{title} is notable."], "questions": [f"Who is {title} known as?"]})
    )


async def test_distillation_spends_at_most_its_allowance_and_is_searchable(
    corpus: LocalCorpus,
) -> None:
    with ScriptedLLMServer(distil_reply) as server:
        llm = LLMClient(base_url=server.base_url, model="scripted", max_retries=0)
        try:
            first = await precompute(corpus, llm=llm, max_tokens=600, show_progress=False)
            distil = first.stages[-1]
            assert distil.stage == "distil" and distil.stopped == "budget"
            assert 0 < distil.passages < len(PASSAGES)
            assert distil.total_tokens <= 600
            rest = await precompute(corpus, llm=llm, max_tokens=None, show_progress=False)
        finally:
            await llm.aclose()
    assert rest.stages[-1].passages == len(PASSAGES) - distil.passages  # resumed, none redone
    assert len(server.requests) == len(PASSAGES)
    search = attach_precompute(corpus.with_mode("bm25"), corpus)
    assert isinstance(search, PrecomputedSearch) and search.expansions is not None
    # "known as" is in no passage, only in the distilled questions, which now find them.
    hits = await search.search("known as", 3)
    assert hits and all(h.id in {p.id for p in PASSAGES} for h in hits)
    assert status(corpus)["cost"]["distil"]["calls"] == len(PASSAGES)


async def test_a_closed_gate_abandons_the_call_in_flight_and_redoes_that_passage(
    corpus: LocalCorpus,
) -> None:
    import asyncio

    gate = Gate()

    def slow(body: dict[str, Any]) -> Reply:
        reply = distil_reply(body)
        reply.delay_s = 0.3
        return reply

    with ScriptedLLMServer(slow) as server:
        llm = LLMClient(base_url=server.base_url, model="scripted", max_retries=0)
        try:
            task = asyncio.create_task(
                precompute(corpus, llm=llm, max_tokens=None, gate=gate, show_progress=False)
            )
            while not server.requests:
                await asyncio.sleep(0.01)
            gate.close()
            await asyncio.sleep(0.6)
            paused_at = len(server.requests)
            await asyncio.sleep(0.4)
            assert len(server.requests) == paused_at  # nothing new while closed
            gate.open()
            report = await asyncio.wait_for(task, 20)
        finally:
            await llm.aclose()
    assert report.stages[-1].passages == len(PASSAGES)
    assert len(server.requests) == len(PASSAGES) + 1  # the abandoned passage, once more
    assert report.stages[-1].calls == len(PASSAGES) + 1  # and its worst case is booked


async def test_an_unusable_reply_skips_its_passage_and_a_rerun_tries_it_again(
    corpus: LocalCorpus,
) -> None:
    bad_title = PASSAGES[1].title
    healed = False

    def flaky(body: dict[str, Any]) -> Reply:
        about_it = any(
            str(m["content"]).startswith(f"Passage: {bad_title}\n") for m in body["messages"]
        )
        if about_it and not healed:  # its first reply and the repair's
            return Reply("the passage is about many things")  # not JSON, nor after the repair
        return distil_reply(body)

    with ScriptedLLMServer(flaky) as server:
        llm = LLMClient(base_url=server.base_url, model="scripted", max_retries=0)
        try:
            first = await precompute(corpus, llm=llm, max_tokens=None, show_progress=False)
            healed = True
            rerun = await precompute(corpus, llm=llm, max_tokens=None, show_progress=False)
        finally:
            await llm.aclose()
    assert first.skipped == 1 and not first.error and first.stages[-1].stopped == "done"
    assert first.stages[-1].passages == len(PASSAGES) - 1  # the job went on past the bad one
    assert first.stages[-1].total_tokens > 0 and first.to_dict()["skipped"] == 1
    assert rerun.skipped == 0 and rerun.stages[-1].passages == 1  # only the skipped one
    assert status(corpus)["distilled"] == len(PASSAGES)
