"""The reader's pure pieces: pool ranking, short answer spans, citations, the vote."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadline.agents.reasoner import ReasonerOutput, proposed_queries, resolve_queries
from leadline.agents.searcher import rank_pool
from leadline.agents.workspace import PoolHit
from leadline.budgets.budget import Budget, Spend
from leadline.budgets.guard import BudgetGuard
from leadline.graph.read import (
    RankedPassage,
    answer_logprobs,
    best_pair_first,
    choice_options,
    cite,
    confidence,
    focus_passage,
    is_yes_no_question,
    names,
    quote,
    reader_prompt,
    render_passages,
    short_answer,
    sure_enough,
)
from leadline.graph.state import FinalAnswer, RunSpec
from leadline.tools.search.rank import bm25_ranks
from leadline.tools.tokens import count_tokens


def hit(pid: str, query: str, rank: int, step: int = 1, text: str = "") -> PoolHit:
    return PoolHit(pid, f"Title {pid}", text or f"text of {pid}", "src", query, rank, step)


def test_a_passage_many_queries_found_outranks_one_query_found_once() -> None:
    pool = [hit("a", "q1", 1), hit("b", "q1", 2), hit("b", "q2", 1), hit("b", "q3", 3)]
    assert [h.passage_id for h in rank_pool("unrelated", pool)] == ["b", "a"]


def test_a_repeat_hit_of_one_query_is_not_a_second_vote() -> None:
    pool = [hit("a", "q1", 1), hit("a", "q1", 1, step=2), hit("b", "q1", 2), hit("b", "q2", 2)]
    assert [h.passage_id for h in rank_pool("unrelated", pool)][0] == "b"


def test_relevance_to_the_question_breaks_equal_query_ranks() -> None:
    pool = [
        hit("a", "q1", 1, text="A river in France."),
        hit("b", "q2", 1, text="Shirley Temple served as Chief of Protocol."),
    ]
    ranked = rank_pool("Which position did Shirley Temple hold?", pool)
    assert ranked[0].passage_id == "b"


def test_the_pool_can_be_ranked_as_it_was_after_a_step() -> None:
    pool = [hit("a", "q1", 1, step=1), hit("b", "q2", 1, step=2)]
    assert [h.passage_id for h in rank_pool("q", pool, up_to_step=1)] == ["a"]
    assert {h.passage_id for h in rank_pool("q", pool)} == {"a", "b"}


@given(st.lists(st.text(max_size=30), max_size=8), st.text(max_size=20))
def test_bm25_ranks_are_a_permutation(docs: list[str], query: str) -> None:
    assert sorted(bm25_ranks(query, docs)) == list(range(1, len(docs) + 1))


def test_the_best_passage_is_rendered_last_nearest_the_question() -> None:
    passages = [
        RankedPassage(2, "x", "Best", "b", "s", 1.0),
        RankedPassage(5, "y", "Next", "n", "s", 0.5),
    ]
    assert render_passages(passages) == "[5] Next: n\n[2] Best: b"


@pytest.mark.parametrize(
    ("question", "reply", "expected"),
    [
        ("Who directed Jaws?", "Steven Spielberg.", "Steven Spielberg"),
        ("Who directed Jaws?", "The answer is: Steven Spielberg [2]", "Steven Spielberg"),
        ("Who directed Jaws?", '"Steven Spielberg"', "Steven Spielberg"),
        ("Are both bands from Canada?", "Yes, both are from Canada.", "yes"),
        ("Was he born in 1950?", "No [1]", "no"),
        (
            "Which magazine was started first, Arthur's Magazine or First for Women?",
            "Arthur's Magazine was started first.",
            "Arthur's Magazine",
        ),
        ("Who was born first, Al Gore or Tom Cruise?", "Al Gore", "Al Gore"),
        ("Who directed Jaws?", "  ", ""),
    ],
)
def test_a_reply_is_cut_to_its_answer_span(question: str, reply: str, expected: str) -> None:
    assert short_answer(question, reply) == expected


def test_yes_no_and_choice_questions_are_told_apart() -> None:
    assert is_yes_no_question("Are Local H and For Against both from the United States?")
    assert not is_yes_no_question("Is the river longer, the Nile or the Amazon?")
    assert not is_yes_no_question("Who wrote Hamlet?")
    assert choice_options("Who is older, Al Gore or Tom Cruise?") == ["Al Gore", "Tom Cruise"]
    assert choice_options("Which came first: the egg or the hen?") == ["the egg", "the hen"]
    assert choice_options("Is tea or coffee stronger?") == []  # no separator: ambiguous


def test_a_comparative_reply_naming_both_options_is_cut_to_the_first() -> None:
    q = "Who is older, Annie Morton or Terry Richardson?"
    assert short_answer(q, "Terry Richardson is older than Annie Morton") == "Terry Richardson"
    assert short_answer(q, "Annie Morton") == "Annie Morton"
    assert short_answer(q, "Morton's agent") == "Morton's agent"  # a part is not a name


def test_citations_are_the_passages_that_hold_the_answer() -> None:
    passages = [
        RankedPassage(1, "a", "Kiss and Tell", "A 1945 film starring Shirley Temple.", "s", 1),
        RankedPassage(4, "b", "Shirley Temple", "She was Chief of Protocol.", "s", 0.5),
    ]
    assert [p.n for p in cite("Chief of Protocol", passages)] == [4]
    assert [p.n for p in cite("something else", passages)] == [1]  # none holds it: the top one
    assert [p.n for p in cite("yes", passages)] == [1, 4]
    assert quote("Chief of Protocol", "Born 1928. She was Chief of Protocol. Died.", 200) == (
        "She was Chief of Protocol."
    )


def test_the_found_bridge_entity_is_written_into_next_queries() -> None:
    queries = ["government position held by the actress", "Shirley Temple career"]
    assert resolve_queries(queries, "Shirley Temple") == [
        "Shirley Temple government position held by the actress",
        "Shirley Temple career",
    ]
    # a clause or "unknown" is not a name to write in
    assert resolve_queries(queries, "unknown") == queries
    assert resolve_queries(queries, "she played the lead in a film about a teenager") == queries


def test_without_next_queries_the_found_entity_leads_the_next_search() -> None:
    decision = ReasonerOutput(found="Shirley Temple", answer="unknown")
    assert proposed_queries("What office did she hold?", decision) == [
        "Shirley Temple What office did she hold?"
    ]
    assert proposed_queries("Q?", ReasonerOutput(answer="unknown")) == []


def test_vote_takes_the_majority_in_normal_form_ties_to_the_first() -> None:
    from leadline.graph.read import vote

    assert vote(["Oslo"]) == 0  # one sample: the single read
    assert vote(["Oslo", "Bergen", "bergen."]) == 1
    assert vote(["Oslo", "Bergen"]) == 0  # a tie goes to the greedy first sample
    assert vote(["unknown", "Bergen", "Oslo"]) == 1  # unknowns take no part
    assert vote(["unknown", "", "none"]) is None
    assert vote([]) is None


def test_only_the_answer_value_tokens_carry_the_confidence() -> None:
    tokens = [('{"', -0.01), ("answer", -0.02), ('":', 0.0), (' "', 0.0)]
    tokens += [("Shir", -0.7), ("ley Temple", -0.1), ('"', -0.3), ("}", 0.0)]
    assert answer_logprobs(tokens) == (-0.7, -0.1)
    assert confidence(answer_logprobs(tokens)) == pytest.approx(math.exp(-0.4))


def test_a_token_straddling_the_opening_quote_counts_as_answer() -> None:
    tokens = [('{"answer": "Ye', -0.5), ("s", -0.1), ('"}', 0.0)]
    assert answer_logprobs(tokens) == (-0.5, -0.1)


def test_no_answer_value_means_no_confidence() -> None:
    assert answer_logprobs([("not json", -0.1)]) == ()
    assert answer_logprobs([]) == ()
    assert confidence(()) is None


def test_a_read_is_sure_enough_only_at_or_above_the_threshold() -> None:
    read = FinalAnswer("Paris", (), "reader", answer_logprobs=(math.log(0.9),))
    assert sure_enough(read, 0.9) and sure_enough(read, 0.5)
    assert not sure_enough(read, 0.95)
    assert not sure_enough(read, None)  # the run may not stop on confidence
    assert not sure_enough(FinalAnswer("Paris", (), "reader"), 0.1)  # no log-probabilities


def test_a_long_passage_keeps_its_first_sentence_and_the_sentences_that_match_the_question() -> (
    None
):
    filler = " ".join(f"Filler sentence {i} says nothing of use here." for i in range(30))
    text = (
        "Shirley Temple was an American actress. "
        f"{filler} "
        "She served as Chief of Protocol of the United States. "
        "Another filler sentence closes it."
    )
    question = "What government position did Shirley Temple hold as Chief of Protocol?"
    focused = focus_passage(text, question, max_tokens=40)
    assert focused.startswith("Shirley Temple was an American actress.")
    assert "Chief of Protocol of the United States." in focused
    assert count_tokens(focused) <= 40 and "Filler sentence 29" not in focused
    # in the passage's own order, whole sentences only
    assert focused.index("actress") < focused.index("Protocol")
    short = "Shirley Temple was an American actress."
    assert focus_passage(short, question, max_tokens=40) == short  # fits: untouched


def ranked_passage(n: int, title: str, text: str) -> RankedPassage:
    return RankedPassage(n, f"p{n}", title, text, "src", -n)


BRIDGE = [
    ranked_passage(1, "Suburban Madness", "A film in which Sela Ward plays Bobbi Bacha."),
    ranked_passage(2, "Marissa Perry", "An actress in a madness film."),
    ranked_passage(3, "Starlite", "Another film."),
    ranked_passage(4, "Sela Ward", "Sela Ann Ward is an American actress."),
]


def test_a_passage_names_another_by_its_title_less_its_qualifier() -> None:
    album = ranked_passage(5, "Against the Wind (album)", "An album.")
    singer = ranked_passage(6, "Bob Seger", "Seger recorded Against the Wind in 1980.")
    assert names(singer, album)
    assert not names(album, singer)
    assert names(BRIDGE[0], BRIDGE[3])
    assert not names(BRIDGE[3], BRIDGE[0])


BRIDGE_QUESTION = (
    "What is the middle name of the actress who plays Bobbi Bacha in Suburban Madness?"
)


def test_the_linked_pair_goes_first_then_the_rest_by_rank() -> None:
    order = [p.n for p in best_pair_first(BRIDGE_QUESTION, BRIDGE)]
    assert order == [1, 4, 2, 3]


def test_of_two_linked_pairs_the_one_covering_more_of_the_question_wins() -> None:
    # Suburban Madness also names Starlite, which ranks higher than Sela Ward but says nothing
    # the question asks about; the pair with Sela Ward (an actress, named Ann) covers more.
    films = [
        ranked_passage(1, "Suburban Madness", "A film with Starlite, where Sela Ward plays Bobbi."),
        ranked_passage(2, "Starlite", "Another film."),
        ranked_passage(3, "Sela Ward", "Sela Ann Ward is an American actress and middle child."),
    ]
    assert [p.n for p in best_pair_first(BRIDGE_QUESTION, films)] == [1, 3, 2]


def test_without_a_linked_pair_the_two_passages_covering_the_question_go_first() -> None:
    passages = [
        ranked_passage(1, "Title 1", "The river is long."),
        ranked_passage(2, "Title 2", "The river is wide."),
        ranked_passage(3, "Title 3", "The bridge opened in 1900."),
    ]
    order = [p.n for p in best_pair_first("When did the bridge over the river open?", passages)]
    assert order == [1, 3, 2]
    same = [ranked_passage(i, f"Title {i}", "text") for i in (1, 2, 3)]
    assert best_pair_first("Who is it?", same) == same  # a tie: the rank order stands
    assert best_pair_first("Who is it?", same[:1]) == same[:1]


def test_a_pair_outside_the_window_is_not_moved() -> None:
    order = [p.n for p in best_pair_first(BRIDGE_QUESTION, BRIDGE, window=3)]
    assert order == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "question",
    [
        "Were Sela Ward and Marissa Perry both born in Texas?",
        "Who was born first, Sela Ward or Marissa Perry?",
    ],
)
def test_a_comparison_reads_the_two_compared_entities(question: str) -> None:
    people = [
        ranked_passage(1, "Suburban Madness", "A film in which Ward plays Bobbi Bacha."),
        ranked_passage(2, "Bobbi Bacha", "A detective in Texas; the film Suburban Madness."),
        ranked_passage(3, "Marissa Perry", "Marissa Perry was born in Texas in 1970."),
        ranked_passage(4, "Sela Ward", "Sela Ward was born in 1956."),
    ]
    # Bobbi Bacha names Suburban Madness, a linked pair, but a comparison is not a bridge.
    assert [p.n for p in best_pair_first(question, people)][:2] == [3, 4]


def test_the_reader_reads_the_best_pair_when_it_reads_two() -> None:
    question = BRIDGE_QUESTION
    pool = [
        PoolHit(p.passage_id, p.title, p.text, "src", question, rank, 1)
        for rank, p in enumerate(BRIDGE, start=1)
    ]
    budget = Budget(max_tokens=10_000)
    spec = RunSpec(question=question, budget=budget, reader_passages=2)
    guard = BudgetGuard(budget, Spend(), reserve=Spend(), agent="answer", step=0)
    messages, shown = reader_prompt(spec, [], pool, guard)
    assert [p.title for p in shown] == ["Suburban Madness", "Sela Ward"]
    assert "Sela Ann Ward" in messages[-1]["content"]
    assert "Marissa Perry" not in messages[-1]["content"]
