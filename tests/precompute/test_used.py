"""Precompute at question time: eval records say whether it was used; batch can run it first."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from leadline.batch.file import run_file
from leadline.budgets.budget import Budget
from leadline.config import Settings
from leadline.evals.baselines import parse_system
from leadline.evals.runner import evaluate, load_records
from leadline.precompute.search import PrecomputeInfo
from leadline.precompute.store import PrecomputeStore
from leadline.tools.search.base import Passage
from leadline.tools.search.corpus import LocalCorpus
from tests.api.harness import quick_handler
from tests.evals.helpers import ScriptedModel, load_mini, make_services, search_for
from tests.fakes.llm_server import ScriptedLLMServer
from tests.fakes.search import MemorySearch


class LinkedMemory(MemorySearch):
    """An in-memory search that says it has a link graph linking every passage to the next."""

    info = PrecomputeInfo(links=True, distilled=0, fingerprint="4-abc")

    async def follow(self, sources: Sequence[str], question: str, k: int) -> list[Passage]:
        ids = [p.id for p in self.passages]
        nxt = [ids[(ids.index(s) + 1) % len(ids)] for s in sources if s in ids]
        return [p for p in self.passages if p.id in nxt and p.id not in sources][:k]


async def test_eval_records_say_whether_precompute_was_used(tmp_path: Path) -> None:
    dataset = load_mini(tmp_path)
    linked = LinkedMemory(search_for(dataset).passages)
    budget = Budget(max_tokens=4000, max_search_steps=2)
    keys = {}
    with ScriptedLLMServer(ScriptedModel()) as server:
        for name, search in (("plain", search_for(dataset)), ("linked", linked)):
            services = make_services(server.base_url, search, tmp_path / name)
            try:
                for system in ("rag", "leadline-fixed-sequential"):
                    out = tmp_path / name / f"{system}.jsonl"
                    await evaluate(
                        dataset,
                        parse_system(system),
                        budget,
                        out,
                        services=services,
                        progress=False,
                    )
                    keys[name, system] = load_records(out)
            finally:
                await services.llm.aclose()
    with_links = keys["linked", "leadline-fixed-sequential"]
    assert all(
        r["precompute"] == {"links": True, "distilled": 0, "fingerprint": "4-abc"}
        for r in with_links
    )
    assert any(h["query"].startswith("links from") for r in with_links for h in r["pool"])
    assert all(r["precompute"] is None for r in keys["plain", "leadline-fixed-sequential"])
    assert all(r["precompute"] is None for r in keys["linked", "rag"])  # rag follows no links
    # Results with and without precompute are different configurations, never mixed.
    assert (
        with_links[0]["config_key"] != keys["plain", "leadline-fixed-sequential"][0]["config_key"]
    )
    assert "precompute" not in keys["plain", "rag"][0]["config"]  # old records keep their key


async def test_batch_precomputes_first_then_follows_links(tmp_path: Path) -> None:
    data = tmp_path / "data"
    corpus = LocalCorpus.embedded(data, "bridge")
    corpus.add(
        [
            Passage(
                "kiss", "Kiss and Tell", "Kiss and Tell is a film starring Shirley Temple.", "m"
            ),
            Passage("shirley", "Shirley Temple", "Shirley Temple was ambassador to Ghana.", "m"),
            Passage("topic", "Topic 5", "Topic 5 is about something else.", "m"),
        ],
        progress=False,
    )
    corpus.close()
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": 1, "question": "Who starred in Kiss and Tell?"}) + "\n")
    with ScriptedLLMServer(quick_handler()) as server:
        settings = Settings(base_url=server.base_url, model="scripted", data_dir=data)
        summary = await run_file(
            questions,
            tmp_path / "out.jsonl",
            budget=Budget(max_search_steps=2),
            precompute=0,
            settings=settings,
            progress=False,
            collection="bridge",
            policy="fixed",
            passages_per_query=1,  # the pool holds the question's best hit only
        )
    assert summary["ok"] == 1
    store = PrecomputeStore(data / "precompute" / "local" / "bridge")
    assert store.links_count() == 3 and store.costs()[0].stopped == "done"
    row = json.loads((tmp_path / "out.jsonl").read_text())
    assert row["usage"]["search_steps"] == 2  # the question's search and the link step


def test_nolinks_variant_and_the_break_even_of_precompute() -> None:
    from leadline.evals.metrics import break_even
    from leadline.evals.report import precompute_section

    spec = parse_system("leadline-fixed-nolinks")
    assert (spec.policy, spec.follow_links, spec.name) == (
        "fixed",
        False,
        "leadline-fixed-auto-nolinks",
    )
    assert parse_system("leadline-fixed").follow_links
    with_ = {"em": 0.40, "f1": 0.5, "mean_compute": 3000.0, "mean_wall_s": 20.0}
    without = {"em": 0.35, "f1": 0.45, "mean_compute": 4000.0, "mean_wall_s": 30.0}
    cost = {
        "links": {"total_tokens": 0, "wall_s": 50.0},
        "distil": {"total_tokens": 20000, "wall_s": 950.0},
    }
    b = break_even(with_, without, cost)
    assert b["em_gain"] == 0.05 and b["saved_compute_per_question"] == 1000.0
    assert b["break_even_questions_tokens"] == 20.0  # 20,000 tokens / 1,000 saved per question
    assert b["break_even_questions_wall"] == 100.0  # 1,000 s / 10 s saved per question
    assert break_even(without, with_, cost)["break_even_questions_wall"] is None  # never repays
    table = precompute_section(
        {
            "systems": {"leadline-fixed-auto": with_, "leadline-fixed-auto-nolinks": without},
            "precompute": {"cost": cost},
        }
    )
    assert (
        "| leadline-fixed-auto | +0.050 | 1000.0 | 10.0 | 20000 | 1000.0 | 20.0 | 100.0 |" in table
    )


async def test_an_evals_corpus_comes_with_its_link_graph(tmp_path: Path) -> None:
    """`leadline eval` ingests a dataset's paragraphs and builds their link graph (no model), so
    leadline's link steps run as they would on a precomputed collection."""
    from leadline.evals.runner import prepare_corpus
    from leadline.precompute.job import status

    dataset = load_mini(tmp_path)
    settings = Settings(data_dir=tmp_path / "data")
    first = await prepare_corpus(dataset, settings, "mini", progress=False)
    corpus = LocalCorpus.from_settings(settings, collection="mini", create=False)
    try:
        state = status(corpus)
    finally:
        await corpus.aclose()
    assert state["links"] == "fresh" and state["links_done"] == state["passages"] > 0
    assert first.endswith("link graph built")
    again = await prepare_corpus(dataset, settings, "mini", progress=False)
    assert again.endswith("link graph up to date")
