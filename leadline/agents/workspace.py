"""The shared, append-only workspace: typed entries that render themselves into prompts.

Every agent reads the same workspace. Entries are only ever appended and each renders to the
same bytes every time, which is what lets a prefix-caching server reuse its KV cache across
agents and steps (shared-KV mode). Evidence numbers are assigned once, in order, and never change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

QuestionShape = Literal["bridge", "comparison"]


@dataclass(frozen=True)
class PlanEntry:
    sub_questions: tuple[str, ...]
    queries: tuple[str, ...]
    hops: int
    shape: QuestionShape

    def render(self) -> str:
        subs = "; ".join(self.sub_questions) or "(none)"
        return f"Plan ({self.hops} hop{'s' if self.hops != 1 else ''}, {self.shape}): {subs}"


# Tokens one evidence line adds on top of its title and text ("[12] " and ": "), for estimates.
EVIDENCE_LINE_OVERHEAD = 8


@dataclass(frozen=True)
class Evidence:
    n: int  # 0 until the workspace reducer numbers it
    passage_id: str
    title: str
    text: str
    source: str
    score: float = 0.0
    step: int = 0  # the search step that showed it (a replay numbers passages as the run did)

    def render(self) -> str:
        return f"[{self.n}] {self.title}: {self.text}"


@dataclass(frozen=True)
class Note:
    step: int
    text: str
    found: str = ""  # what this hop established (a bridge entity or fact), kept apart

    def render(self) -> str:
        found = f" Found: {self.found}." if self.found else ""
        return f"Note {self.step}: {self.text}{found}"


Entry = PlanEntry | Evidence | Note


@dataclass(frozen=True)
class PoolHit:
    """One passage one query retrieved, at its rank there: the evidence pool the reader ranks.

    The pool holds every hit of every query (not only what the workspace shows), so the final
    reader can choose from all a run found; `step` lets a replay rank the pool as it was then.
    """

    passage_id: str
    title: str
    text: str
    source: str
    query: str
    rank: int
    step: int


def append_entries(existing: Sequence[Entry], new: Sequence[Entry]) -> list[Entry]:
    """Reducer: append `new`, numbering evidence in order and dropping what is already present.

    A passage already in the workspace, or a note repeating an earlier note word for word (small
    models often copy their last note), adds nothing but tokens every later call must read.
    """
    merged = list(existing)
    seen = {e.passage_id for e in merged if isinstance(e, Evidence)}
    notes = {_note_key(e.text) for e in merged if isinstance(e, Note)}
    count = sum(1 for e in merged if isinstance(e, Evidence))
    for entry in new:
        if isinstance(entry, Evidence):
            if entry.passage_id in seen:
                continue
            seen.add(entry.passage_id)
            count += 1
            entry = replace(entry, n=count)
        elif isinstance(entry, Note):
            if _note_key(entry.text) in notes:
                continue
            notes.add(_note_key(entry.text))
        merged.append(entry)
    return merged


def _note_key(text: str) -> str:
    return " ".join(text.lower().split())


def evidence(entries: Sequence[Entry]) -> list[Evidence]:
    return [e for e in entries if isinstance(e, Evidence)]


def render_workspace(entries: Sequence[Entry]) -> str:
    """The whole workspace in append order: the shared-KV view, identical prefix every call."""
    return "\n".join(e.render() for e in entries) if entries else "(empty)"


def render_view(entries: Sequence[Entry], kinds: tuple[type, ...]) -> str:
    """A role's own view (isolated mode): its kinds of entry, evidence most relevant first.

    This is how most multi-agent RAG systems present context; re-ranking as evidence arrives
    is also exactly what defeats a server's prefix cache, which shared mode avoids.
    """
    shown = [e for e in entries if isinstance(e, kinds)]
    ranked = sorted((e for e in shown if isinstance(e, Evidence)), key=lambda e: -e.score)
    others = [e for e in shown if not isinstance(e, Evidence)]
    ordered: list[Entry] = [*ranked, *others]
    return "\n".join(e.render() for e in ordered) if ordered else "(empty)"
