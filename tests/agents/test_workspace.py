from __future__ import annotations

from leadline.agents.workspace import Evidence, Note, append_entries, render_workspace


def _passage(pid: str) -> Evidence:
    return Evidence(n=0, passage_id=pid, title=pid.upper(), text="body", source="s")


def test_evidence_is_numbered_once_in_order_and_repeats_are_dropped() -> None:
    entries = append_entries([], [_passage("a"), _passage("b")])
    entries = append_entries(entries, [_passage("b"), _passage("c")])
    assert [(e.passage_id, e.n) for e in entries if isinstance(e, Evidence)] == [
        ("a", 1),
        ("b", 2),
        ("c", 3),
    ]


def test_a_note_repeating_an_earlier_one_is_not_appended() -> None:
    entries = append_entries([], [Note(1, "A is B's father [1].")])
    entries = append_entries(
        entries, [Note(2, "a is  B's father [1]."), Note(3, "B was born in 1950.")]
    )
    assert render_workspace(entries) == "Note 1: A is B's father [1].\nNote 3: B was born in 1950."
