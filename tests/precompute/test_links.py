"""The link graph on a small handmade corpus: mentions, punctuation, and the common-word rule."""

from __future__ import annotations

from leadline.precompute.links import LinkMatcher, collect_names, fold, link_graph, passage_names
from leadline.tools.search.base import Passage


def P(pid: str, title: str, text: str) -> Passage:
    return Passage(pid, title, text, f"mem://{pid}")


CORPUS = [
    P(
        "kiss",
        "Kiss and Tell (1945 film)",
        "Kiss and Tell is a 1945 comedy starring Shirley Temple.",
    ),
    P("shirley", "Shirley Temple", "Shirley Temple Black (1928-2014) was an actress and diplomat."),
    P("ghana", "Ghana", "Ghana is a country. Shirley Temple Black was ambassador to Ghana."),
    P("smith", "Mr. Smith Goes to Washington", "A 1939 film by Frank Capra."),
    P(
        "capra",
        "Frank Capra",
        "Capra directed Mr Smith Goes to Washington and It Happened One Night.",
    ),
    P("acdc", "AC/DC", "AC/DC are an Australian rock band."),
    P("band", "Highway to Hell", "Highway to Hell is an album by AC DC, released in 1979."),
    # A title that is a common word: the corpus writes "music" in lower case.
    P("music", "Music", "Music is an art form whose medium is sound."),
    P("song", "A Song", "This song has music and lyrics; the music was praised."),
    # A title that is a stopword ("It"), and one that is a year.
    P("it", "It (novel)", "It is a 1986 horror novel by Stephen King."),
    P("year", "1945", "1945 was a common year."),
    P("war", "War", "A war ended in 1945 and It was over."),
    P("ny", "New York", "New York is a state."),
    P("nyc", "New York City", "New York City is the most populous city."),
    P("trip", "A trip", "They flew to New York City, then to Ghana and the Beatles' hometown."),
    P("beatles", "The Beatles", "The Beatles were an English rock band."),
]
GRAPH = link_graph(CORPUS)


def test_a_mention_of_a_title_links_to_its_passage_and_never_to_itself() -> None:
    assert GRAPH["kiss"] == ("shirley",)
    assert "ghana" not in GRAPH["ghana"]


def test_a_title_without_its_disambiguation_and_the_opening_name_are_names_too() -> None:
    assert passage_names("Kiss and Tell (1945 film)", "Kiss and Tell is a film.")[:2] == [
        "Kiss and Tell 1945 film",
        "Kiss and Tell",
    ]
    # "Shirley Temple Black" is the name the passage opens with: Ghana's mention of it links.
    assert "Shirley Temple Black" in passage_names("Shirley Temple", CORPUS[1].text)
    assert GRAPH["ghana"] == ("shirley",)


def test_titles_with_punctuation_match_however_the_text_punctuates_them() -> None:
    assert fold("Mr. Smith Goes to Washington") == "Mr Smith Goes to Washington"
    assert "smith" in GRAPH["capra"]
    assert GRAPH["band"] == ("acdc",)


def test_a_title_that_is_a_common_word_links_nothing() -> None:
    index = collect_names(CORPUS)
    assert index.dropped["Music"] == "common word"  # the corpus writes it "music"
    assert index.dropped["It"] == "common word"  # a stopword, even capitalised
    assert index.dropped["1945"] == "no letter"
    assert GRAPH["song"] == ()
    assert GRAPH["war"] == ()  # "It was over", "in 1945": neither links
    assert "year" not in GRAPH["kiss"]


def test_names_match_whole_words_with_their_own_capitals() -> None:
    matcher = LinkMatcher({"Tell": ("t",), "Ghana": ("g",)})
    assert matcher.mentions("tell me about Ghanaian food") == []
    assert [t for _, t in matcher.mentions("Tell me about Ghana.")] == [("t",), ("g",)]


def test_the_longest_overlapping_name_wins_and_a_leading_the_may_be_lower_case() -> None:
    assert GRAPH["trip"] == ("nyc", "ghana", "beatles")


def test_a_name_shared_by_too_many_documents_is_ambiguous() -> None:
    many = [P(f"d{i}", "Springfield", f"Springfield number {i}.") for i in range(4)]
    index = collect_names([*many, P("x", "Visit", "We saw Springfield.")], max_targets=3)
    assert index.dropped["Springfield"] == "ambiguous"
    # Chunks of one document count once: a long document's title is not ambiguous.
    chunks = [P(f"doc#{i}", "Springfield", f"Part {i}.") for i in range(4)]
    graph = link_graph([*chunks, P("x", "Visit", "We saw Springfield.")], max_targets=3)
    assert graph["x"] == tuple(f"doc#{i}" for i in range(4))
    assert graph["doc#0"] == ()  # never to another chunk of its own document
