"""The pre-call estimate covers what a real server bills, which is not what cl100k counts.

leadline estimates with cl100k plus a margin (`tools.tokens`); local models tokenize with their
own vocabularies and chat templates. The scripted server can bill like Qwen (`QWEN_LIKE`: 15%
more tokens, template tokens per message), so these tests check the margin on every prompt
leadline sends, show it is what protects the caps (a skew past it is not covered), and run
budgeted graphs against such a server.
"""

from __future__ import annotations

import pytest

from leadline.agents import planner, reasoner
from leadline.agents.workspace import Evidence, Note, PlanEntry, append_entries
from leadline.budgets.budget import Budget
from leadline.graph.read import reader_messages
from leadline.tools.llm import repair_messages
from leadline.tools.tokens import count_tokens, estimate_prompt_tokens
from tests.fakes.llm_server import (
    QWEN_LIKE,
    ScriptedLLMServer,
    Tokenizer,
    by_role,
    flatten_prompt,
)
from tests.graph.helpers import answer_reply, plan_reply, reason_reply, run, spent_within

QUESTION = "Which 1994 film by the director of Kiss and Tell (1945) won 3 awards, and when?"


def workspace(n: int) -> list:
    entries: list = [PlanEntry(("who directed it", "what else"), ("q1", "q2"), 2, "bridge")]
    for i in range(n):
        text = f"Richard Wallace (born 1894-04-{i % 28 + 1:02d}) directed {i * 37} films; " * 6
        entries.append(Evidence(0, f"p{i}", f"Wallace {i}", text, "s"))
        entries.append(Note(i + 1, f"[{i + 1}] names Wallace, ID 0x{i * 7919:06X}.", "Wallace"))
    return append_entries([], entries)


def prompts() -> list[list[dict[str, str]]]:
    """Every kind of request leadline sends, small and large, in both layouts."""
    out = []
    for kv in ("shared", "isolated"):
        for n in (0, 3, 12):
            entries = workspace(n)
            out.append(planner.planner_messages(QUESTION, entries[:1], kv))
            out.append(reasoner.reasoner_messages(QUESTION, entries, kv))
            passages = "\n".join(e.render() for e in entries if isinstance(e, Evidence))
            out.append(reader_messages(QUESTION, passages or "(none)", kv))
    out.append(repair_messages(out[-2], '{"note": "Wallace 1945", "answer": 19', "bad JSON"))
    return out


def billed(messages: list[dict[str, str]], tokenizer: Tokenizer) -> int:
    """What the scripted server bills for this prompt with `tokenizer`."""
    cl100k = count_tokens(flatten_prompt({"messages": messages}))
    return tokenizer.prompt_tokens(cl100k, len(messages))


@pytest.mark.parametrize("index", range(len(prompts())))
def test_the_estimate_covers_a_qwen_like_server(index: int) -> None:
    messages = prompts()[index]
    assert estimate_prompt_tokens(messages) >= billed(messages, QWEN_LIKE)


def test_a_skew_past_the_margin_is_not_covered() -> None:
    """The margin is what protects the caps: a tokenizer 40% hungrier than cl100k beats it."""
    hungry = Tokenizer(skew=1.4, per_message=5, per_request=3)
    uncovered = [m for m in prompts() if estimate_prompt_tokens(m) < billed(m, hungry)]
    assert len(uncovered) >= len(prompts()) // 2


@pytest.mark.parametrize("max_tokens", [900, 1500, 3000, 6000, 9000])
@pytest.mark.parametrize("kv_mode", ["shared", "isolated"])
async def test_caps_hold_against_a_server_that_bills_more_than_cl100k(
    max_tokens: int, kv_mode: str
) -> None:
    handler = by_role(
        planner=plan_reply(["Richard Wallace 1894", "Kiss and Tell 1945"], hops=3),
        reasoner=reason_reply(
            "unknown", 0.2, note="[1] says 1894-04-26; [2] 37 films " * 8, next_queries=["x 1"]
        ),
        answer=answer_reply("Richard Wallace"),
    )
    budget = Budget(max_tokens=max_tokens, max_search_steps=6)
    with ScriptedLLMServer(handler, tokenizer=QWEN_LIKE) as server:
        result = await run(server, budget, policy="fixed", kv_mode=kv_mode)
    assert spent_within(result, budget) and result.usage.budget_overrun is None
    # the larger budgets allow real work: searches, reasoning, the reader
    if max_tokens >= 6000:
        assert result.usage.search_steps >= 2 and result.usage.llm_calls >= 4
    # the server really billed more than cl100k counts
    counted = sum(count_tokens(flatten_prompt(body)) for body in server.requests)
    assert result.usage.prompt_tokens > counted
