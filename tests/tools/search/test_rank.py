from leadline.tools.search.rank import bm25_ranks, covered, term_weights

DOCS = [
    "Sela Ward is an American actress.",
    "Marissa Perry is an American actress.",
    "Suburban Madness is an American film.",
]


def test_a_rarer_query_term_weighs_more() -> None:
    weights = term_weights("Which American actress starred in Suburban Madness?", DOCS)
    assert weights["suburban"] > weights["actress"] > weights["american"]
    assert "which" not in weights and "in" not in weights  # stopwords carry no weight


def test_covered_counts_each_query_term_once_across_texts() -> None:
    weights = term_weights("Which American actress starred in Suburban Madness?", DOCS)
    film, actress = DOCS[2], DOCS[0]
    assert covered(weights, [film, actress]) == (
        weights["american"] + weights["actress"] + weights["suburban"] + weights["madness"]
    )
    assert covered(weights, [film, actress]) > covered(weights, [actress, DOCS[1]])
    assert covered(weights, []) == 0


def test_bm25_ranks_put_the_matching_passage_first() -> None:
    assert bm25_ranks("Suburban Madness film", DOCS) == [2, 3, 1]
