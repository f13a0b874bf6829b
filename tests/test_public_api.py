from __future__ import annotations

import inspect


def test_public_names_are_the_functions_users_expect() -> None:
    from leadline import Budget, aresearch, aresearch_batch, research, research_batch

    assert callable(research) and inspect.iscoroutinefunction(aresearch)
    assert callable(research_batch) and callable(aresearch_batch)
    assert Budget().max_tokens and Budget().max_search_steps is not None
