"""The link step: after a search round, links from the best evidence are followed as one more
search step, into the pool and the workspace, only when the corpus has links and it fits."""

from __future__ import annotations

from collections.abc import Sequence

from leadline.budgets.budget import Budget
from leadline.tools.search.base import Passage
from tests.fakes.llm_server import Handler, ScriptedLLMServer, by_role
from tests.fakes.search import MemorySearch
from tests.graph.helpers import answer_reply, plan_reply, reason_reply, run

QUESTION = "What government position was held by the star of Kiss and Tell?"
PASSAGES = [
    Passage("kiss", "Kiss and Tell", "Kiss and Tell is a 1945 film starring Shirley Temple.", "m"),
    Passage("shirley", "Shirley Temple", "Shirley Temple was US ambassador to Ghana.", "m"),
    Passage("other", "Other film", "Another film of 1945.", "m"),
]


class LinkedSearch(MemorySearch):
    """Word-overlap search plus a fixed link graph (what PrecomputedSearch provides)."""

    def __init__(self) -> None:
        super().__init__(PASSAGES)
        self.out = {"kiss": ["shirley"]}
        self.followed: list[list[str]] = []

    async def follow(self, sources: Sequence[str], question: str, k: int) -> list[Passage]:
        self.followed.append(list(sources))
        by_id = {p.id: p for p in self.passages}
        return [by_id[t] for s in sources for t in self.out.get(s, [])][:k]


def handler() -> Handler:
    return by_role(
        planner=plan_reply(["Kiss and Tell star"], hops=2),
        reasoner=reason_reply("unknown", 0.3, next_queries=["Shirley Temple position"]),
        answer=answer_reply("US ambassador to Ghana"),
    )


async def test_a_link_step_follows_the_best_evidence_and_counts_as_a_search_step() -> None:
    search = LinkedSearch()
    with ScriptedLLMServer(handler()) as server:
        result = await run(
            server, Budget(max_search_steps=2), search, question=QUESTION, policy="fixed"
        )
    linker = [e for e in result.events if e.agent == "linker"]
    assert len(linker) == 1 and linker[0].search_steps == 1
    assert linker[0].detail.startswith("links from Kiss and Tell")
    assert result.usage["search_steps"] == 2  # the question's search and the link step
    linked = [h for h in result.pool if h.query.startswith("links from")]
    assert [h.passage_id for h in linked] == ["shirley"] and linked[0].step == 1
    assert "shirley" in {e.passage_id for e in result.evidence}  # shown to the reasoner too
    assert search.followed[0][0] == "kiss"


async def test_no_link_step_when_turned_off_or_when_no_step_is_left() -> None:
    for budget, options in (
        (Budget(max_search_steps=2), {"follow_links": False}),
        (Budget(max_search_steps=1), {}),
    ):
        search = LinkedSearch()
        with ScriptedLLMServer(handler()) as server:
            result = await run(server, budget, search, question=QUESTION, policy="fixed", **options)
        assert not [e for e in result.events if e.agent == "linker"]
        assert search.followed == []
        assert result.usage["search_steps"] <= (budget.max_search_steps or 0)


async def test_each_passage_is_followed_from_once_and_a_backend_without_links_is_untouched() -> (
    None
):
    search = LinkedSearch()
    with ScriptedLLMServer(handler()) as server:
        result = await run(
            server, Budget(max_search_steps=4), search, question=QUESTION, policy="fixed"
        )
    followed = [pid for sources in search.followed for pid in sources]
    assert len(followed) == len(set(followed))
    assert result.usage["search_steps"] <= 4
    with ScriptedLLMServer(handler()) as server:
        plain = await run(
            server,
            Budget(max_search_steps=2),
            MemorySearch(PASSAGES),
            question=QUESTION,
            policy="fixed",
        )
    assert not [e for e in plain.events if e.agent == "linker"]
