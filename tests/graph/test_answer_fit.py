"""A reply that is not the kind of answer its question asks for is read once more, held to it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import ValidationError

from leadline.budgets.budget import Budget
from leadline.graph.read import (
    choice_options,
    constrained_output,
    expects_number,
    misfit,
    reader_messages,
    reread_messages,
    short_answer,
)
from leadline.tools.llm import LLMClient
from tests.fakes.llm_server import Reply, ScriptedLLMServer, agent_role, by_role
from tests.graph.helpers import answer_reply, plan_reply, reason_reply, run


@pytest.mark.parametrize(
    ("question", "answer", "fits"),
    [
        ("Is Paris in France?", "yes", True),
        ("Is Paris in France?", "Paris", False),  # a yes/no question is answered yes or no
        ("Who founded the firm?", "Yes", False),  # no other question is
        ("Who founded the firm?", "Ada Lovelace", True),
        ("How many people live in the city where X was born?", "Lyon", False),
        ("How many people live in the city where X was born?", "513,275", True),
        ("How many people live in the city where X was born?", "three million", True),
        ("When was the author of Y born?", "7 January 1936", True),
        ("When was the author of Y born?", "Thomas Hardy", False),
        ("What was the population of Z in 2001?", "Leeds", False),
        ("Who was king when the war began?", "George V", True),  # "when" inside: a name
        ("How many people live there?", "unknown", True),  # unknown is not read again
        ("Who is older, Ann or Bo?", "no", False),
        ("Were both Ann Lee and Bo Chan born in 1950?", "yes", True),
        ("Which film was written by James Gunn?", "James Gunn", False),  # the question names it
        ("Which film was written by James Gunn?", "Tromeo and Juliet", True),
        ("Who is older, Ann or Bo?", "Ann", True),  # a choice names its answer
        ("Who is older, Ann Lee, or the writer of Y?", "Ann Lee", True),  # so may its options
        ("In which year was the king who made the 1925 Honours born?", "1925", False),
    ],
)
def test_an_answer_fits_its_question_by_the_questions_form(
    question: str, answer: str, fits: bool
) -> None:
    assert (misfit(question, answer) is None) is fits


def test_number_questions_are_told_by_their_wording() -> None:
    assert expects_number("In what year was the bridge built?")
    assert expects_number("how much did it cost?")
    assert not expects_number("Who was president when the bridge opened?")


@pytest.mark.parametrize(
    ("question", "answer", "good", "bad"),
    [
        ("Is it red?", "maybe", ["yes", "no"], ["maybe", "Yes, it is"]),
        ("Who made it?", "yes", ["Ada", "UK", "Ais", "nope", "yep", "y"], ["yes", "No", "NO"]),
        ("How many were built?", "Ford", ["1,462", "about 30", "7"], ["Ford", "many"]),
        (
            "What did the Battle of Adwa secure for Ethiopia?",
            "Ethiopia",
            ["sovereignty", "Ethiopia's sovereignty", "Ethiopi", "Eritrea", "ethiopia"],
            ["Ethiopia"],
        ),
        # Regex characters in the excluded answer are literal.
        ("Who wrote [A-Z].*?", "[A-Z].*", ["[A-Z]", "[A-Z].*x", "[A-Z]x*", "Bo"], ["[A-Z].*"]),
    ],
)
def test_the_re_read_is_held_to_the_kind_the_question_asks_for(
    question: str, answer: str, good: list[str], bad: list[str]
) -> None:
    kind = misfit(question, answer)
    assert kind is not None
    pattern = kind.pattern
    schema = constrained_output(kind)
    for text in good:
        assert schema(answer=text).answer == text and re.match(pattern, text)
    for text in bad:
        with pytest.raises(ValidationError):
            schema(answer=text)
    # The endpoint is told the pattern, so a grammar can hold the decoding to it.
    assert schema.model_json_schema()["properties"]["answer"]["pattern"] == pattern


def reader_patterns(server: ScriptedLLMServer) -> list[str | None]:
    return [
        body.get("response_format", {})
        .get("json_schema", {})
        .get("schema", {})
        .get("properties", {})
        .get("answer", {})
        .get("pattern")
        for body in server.requests
        if agent_role(body) == "answer"
    ]


def constrained_reader(first: str, second: str) -> Any:
    """The reader's reply: `first`, then `second` once a pattern constrains the answer."""

    def reply(body: dict[str, Any]) -> str:
        held = body.get("response_format", {}).get("json_schema", {}).get("schema", {})
        return answer_reply(second if "pattern" in str(held) else first)

    return reply


async def test_a_yes_to_a_question_that_is_not_yes_no_is_read_again() -> None:
    handler = by_role(
        planner=plan_reply(["topic 5"], hops=1),
        reasoner=reason_reply(),
        answer=constrained_reader("Yes", "Topic 5"),
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget(max_search_steps=1), policy="fixed")
    patterns = reader_patterns(server)
    assert patterns[0] is None and patterns[1] is not None and len(patterns) == 2
    first, again = (b["messages"] for b in server.requests if agent_role(b) == "answer")
    assert again[: len(first)] == first  # the same prompt, so a prefix cache reuses it
    assert again[len(first)]["role"] == "assistant" and "Yes" in again[len(first)]["content"]
    assert (
        '"Yes" does not answer' in again[-1]["content"] and "not yes or no" in again[-1]["content"]
    )
    assert result.answer == "Topic 5"
    assert result.reader_rereads == ["Yes"]  # the reply that was read again
    assert result.reader_confidence is None  # a held answer never counts as sure
    assert result.usage.llm_calls == len(server.requests)  # the re-read is paid for


async def test_an_answer_that_fits_is_not_read_again() -> None:
    handler = by_role(
        planner=plan_reply(["topic 5"], hops=1), reasoner=reason_reply(), answer=answer_reply()
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget(max_search_steps=1), policy="fixed")
    assert reader_patterns(server) == [None]
    assert result.answer == "Topic 5" and result.reader_rereads == []


async def test_a_failed_re_read_keeps_the_first_reply() -> None:
    def reader(body: dict[str, Any]) -> str | Reply:
        if "pattern" in str(body.get("response_format")):
            return Reply(status=500, content="server error")
        return answer_reply("Ford")

    handler = by_role(
        planner=plan_reply(["topic 5"], hops=1), reasoner=reason_reply(), answer=reader
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(
            server, Budget(max_search_steps=1), policy="fixed", question="How many topics?"
        )
    assert result.answer == "Ford" and result.answer_source == "reader"
    assert result.reader_rereads == []


def test_a_leading_yes_is_cut_from_the_answer_to_a_question_that_is_not_yes_no() -> None:
    assert short_answer("What device controls it?", "Yes, Apple TV") == "Apple TV"
    assert short_answer("Is it a device?", "Yes, Apple TV") == "yes"
    assert short_answer("What device controls it?", "Yes") == "Yes"


def test_an_or_question_is_held_to_its_options_as_written() -> None:
    kind = misfit("Who was born first, Ann (b. 1950) or Bo.Jr?", "yes")
    assert kind is not None and '"Ann (b. 1950)" or "Bo.Jr"' in kind.wanted
    assert re.match(kind.pattern, "Ann (b. 1950)") and re.match(kind.pattern, "Bo.Jr")
    assert not re.match(kind.pattern, "BoxJr") and not re.match(kind.pattern, "Ann")
    assert misfit("Who was born first, Ann or Bo?", "ann") is None


HELD_QUESTIONS = [
    ("Is the Kestrel Bridge in Scotland?", "It is in Dundee."),
    ("Which firm built the Kestrel Bridge?", "Kestrel Bridge"),
    ("Who built the Kestrel Bridge?", "yes"),
    ("How many people did the builder of the Kestrel Bridge employ in 2010?", "Marlow & Finch"),
    ("Which is older, the Kestrel Bridge or Marlow & Finch?", "yes"),
]


@pytest.mark.model
@pytest.mark.parametrize(("question", "unfit"), HELD_QUESTIONS)
async def test_the_embedded_server_holds_a_re_read_to_the_pattern(
    embedded_model: str, question: str, unfit: str
) -> None:
    """llama.cpp turns each kind's pattern into a grammar, so the re-read's reply matches it."""
    kind = misfit(question, unfit)
    assert kind is not None
    passages = (
        "[2] Marlow & Finch: Marlow & Finch is a Scottish engineering firm founded in 1884 in "
        "Dundee. In 2010 it employed 4,300 people.\n[1] Kestrel Bridge: The Kestrel Bridge is a "
        "steel arch bridge in Dundee, built between 1961 and 1964 by Marlow & Finch."
    )
    messages = reader_messages(question, passages, "isolated")
    reply = json.dumps({"answer": unfit})
    client = LLMClient(base_url=embedded_model, model="m", timeout_s=300)
    try:
        output, _ = await client.chat_json(
            reread_messages(messages, reply, unfit, kind),
            constrained_output(kind),
            max_tokens=60,
        )
    finally:
        await client.aclose()
    assert re.match(kind.pattern, output.answer), output.answer
    assert misfit(question, short_answer(question, output.answer)) is None


async def test_an_answer_the_question_names_is_read_again_held_away_from_it() -> None:
    question = "Which topic was the subject of topic 5?"
    handler = by_role(
        planner=plan_reply(["topic 5"], hops=1),
        reasoner=reason_reply(),
        answer=constrained_reader("topic 5", "Topic 7"),
    )
    with ScriptedLLMServer(handler) as server:
        result = await run(server, Budget(max_search_steps=1), policy="fixed", question=question)
    patterns = reader_patterns(server)
    assert patterns[0] is None and patterns[1] is not None
    assert not re.match(patterns[1], "topic 5") and re.match(patterns[1], "Topic 7")
    again = [b["messages"] for b in server.requests if agent_role(b) == "answer"][-1]
    assert '"topic 5" does not answer' in again[-1]["content"]
    assert "does not already name" in again[-1]["content"]
    assert result.answer == "Topic 7" and result.reader_rereads == ["topic 5"]


def test_a_long_named_answer_is_not_read_again() -> None:
    """The pattern that holds a re-read away from an answer grows as the answer's square."""
    name = "The Very Long Name " * 4
    assert misfit(f"Who wrote {name}?", name.strip()) is None


def test_an_option_named_in_another_form_fits() -> None:
    question = "Which dog came first: the Manchester Terrier or the Scotch Collie?"
    assert misfit(question, "Scotch Collie") is None  # the article aside
    assert misfit(question, "The Scotch Collie breed") is None
    assert misfit(question, "Collie") is None  # a part of an option's name
    assert misfit(question, "Irish Setter") is not None


@pytest.mark.parametrize(
    ("question", "options"),
    [
        ("Who is older, Al Gore or Tom Cruise?", ["Al Gore", "Tom Cruise"]),
        (
            "Which band, Letters to Cleo or Screaming Trees, had more members?",
            ["Letters to Cleo", "Screaming Trees"],
        ),
        (
            "which is larger Asante Traditional Buildings or Gulangyu?",
            ["Asante Traditional Buildings", "Gulangyu"],
        ),
        (
            "Is the Marsilea or the Brabejum the genus of more species?",
            ["Marsilea", "the Brabejum"],
        ),
        ("Did The Hague or Delft grow faster?", ["The Hague", "Delft"]),
        ("Is tea or coffee stronger?", []),  # nothing named: no choice to hold a reply to
        ("Which team did he play for in 1990 or 1991?", []),
        ("What is the song, written by Ann Lee or Bo Chan, that won?", []),  # an aside
        ("What do people wear during Oranjegekte or to celebrate Koningsdag?", []),
    ],
)
def test_the_options_of_a_choice_are_found_with_or_without_a_separator(
    question: str, options: list[str]
) -> None:
    assert choice_options(question) == options
