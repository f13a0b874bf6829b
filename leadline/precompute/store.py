"""Precomputed results of one collection, in one SQLite file beside the collection's indexes.

Why SQLite: every unit of work (a batch of linked passages, one distilled passage) is committed
as it finishes, so a killed job loses at most what was in flight and a rerun skips what is done.
Validity follows the collection's fingerprint (a hash of its passage ids, which hash content):
- the link graph depends on every title in the corpus, so it is rebuilt whole when the
  fingerprint changes (it takes seconds to minutes);
- distillations depend only on their own passage, and a passage id is a hash of its content, so
  they are kept across changes; only passages new to the collection need the model.
Each invocation's cost (wall time; tokens and calls for the model stage) is recorded per stage,
so reports can weigh the precompute against what it saves per question.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from leadline.errors import SearchError
from leadline.usage import TokenUsage

DB_FILE = "precompute.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS links (passage_id TEXT PRIMARY KEY, targets TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS distilled (
    passage_id TEXT PRIMARY KEY,
    facts TEXT NOT NULL,
    questions TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stage TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    started_at REAL NOT NULL,
    wall_s REAL NOT NULL,
    passages INTEGER NOT NULL,
    calls INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    stopped TEXT NOT NULL
);
"""
LinksState = Literal["missing", "partial", "fresh", "stale"]


@dataclass(frozen=True)
class Distillation:
    """What a later question is likely to ask of a passage: short facts, and such questions."""

    facts: tuple[str, ...]
    questions: tuple[str, ...]

    def text(self) -> str:
        """What gets indexed for search (doc2query: the questions a passage answers)."""
        return " ".join([*self.questions, *self.facts])


@dataclass(frozen=True, kw_only=True)
class StageCost(TokenUsage):
    """One stage of one invocation: what it did and what it cost (its tokens: `TokenUsage`)."""

    stage: Literal["links", "distil"]
    fingerprint: str
    started_at: float
    wall_s: float
    passages: int
    calls: int = 0
    stopped: str = "done"  # done | budget | paused | interrupted | error

    def to_dict(self) -> dict[str, Any]:
        return {
            **{name: getattr(self, name) for name in COST_COLUMNS},
            "total_tokens": self.total_tokens,
        }


# A cost row's columns, in the order the runs table and `to_dict` have them.
COST_COLUMNS = (
    "stage",
    "fingerprint",
    "started_at",
    "wall_s",
    "passages",
    "calls",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "stopped",
)


class PrecomputeStore:
    """The results of one collection; cheap to create (no file is touched until first use)."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.path = self.directory / DB_FILE
        self._ready = False

    def __repr__(self) -> str:
        return f"PrecomputeStore({str(self.directory)!r})"

    def exists(self) -> bool:
        return self.path.exists()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A short-lived connection per call: safe from any thread, no handle to leak."""
        try:
            if not self._ready:
                self.directory.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30.0)
        except (OSError, sqlite3.Error) as exc:
            raise SearchError(f"precompute store {self.path} unusable: {exc}") from exc
        try:
            if not self._ready:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(SCHEMA)
                self._ready = True
            with conn:
                yield conn
        finally:
            conn.close()

    def _meta(self, conn: sqlite3.Connection, key: str) -> str | None:
        row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _set(conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # --- the link graph -----------------------------------------------------------------------

    def links_state(self, fingerprint: str) -> LinksState:
        if not self.exists():
            return "missing"
        with self._db() as conn:
            built_for = self._meta(conn, "links_for")
            complete = self._meta(conn, "links_complete") == "1"
        if built_for is None:
            return "missing"
        if built_for != fingerprint:
            return "stale"
        return "fresh" if complete else "partial"

    def begin_links(self, fingerprint: str) -> set[str]:
        """Start (or continue) building links for `fingerprint`; the ids already linked.

        Rows built for another fingerprint are dropped: names come from the whole corpus.
        """
        with self._db() as conn:
            if self._meta(conn, "links_for") != fingerprint:
                conn.execute("DELETE FROM links")
                self._set(conn, "links_for", fingerprint)
                self._set(conn, "links_complete", "0")
            return {row[0] for row in conn.execute("SELECT passage_id FROM links")}

    def add_links(
        self, rows: Iterable[tuple[str, tuple[str, ...]]], cost: StageCost, run_id: int
    ) -> None:
        """Links of a batch, and the stage's cost so far, in one transaction."""
        with self._db() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO links VALUES (?, ?)",
                ((pid, json.dumps(list(targets))) for pid, targets in rows),
            )
            _write_cost(conn, cost, run_id)

    def finish_links(self, fingerprint: str) -> None:
        with self._db() as conn:
            if self._meta(conn, "links_for") == fingerprint:
                self._set(conn, "links_complete", "1")

    def load_links(self) -> dict[str, tuple[str, ...]]:
        with self._db() as conn:
            rows = conn.execute("SELECT passage_id, targets FROM links").fetchall()
        return {pid: tuple(json.loads(targets)) for pid, targets in rows}

    def links_count(self) -> int:
        if not self.exists():
            return 0
        with self._db() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM links").fetchone()[0])

    # --- distillations ------------------------------------------------------------------------

    def distilled_ids(self) -> set[str]:
        if not self.exists():
            return set()
        with self._db() as conn:
            return {row[0] for row in conn.execute("SELECT passage_id FROM distilled")}

    def add_distilled(
        self,
        passage_id: str,
        d: Distillation,
        spent: tuple[int, int, int],
        cost: StageCost,
        run_id: int,
    ) -> None:
        """One passage's distillation (what it cost: prompt, cached, completion tokens), and
        the stage's cost so far, in one transaction."""
        prompt, cached, completion = spent
        with self._db() as conn:
            _write_cost(conn, cost, run_id)
            conn.execute(
                "INSERT OR REPLACE INTO distilled VALUES (?, ?, ?, ?, ?, ?)",
                (
                    passage_id,
                    json.dumps(list(d.facts)),
                    json.dumps(list(d.questions)),
                    prompt,
                    cached,
                    completion,
                ),
            )

    def load_distilled(self) -> dict[str, Distillation]:
        if not self.exists():
            return {}
        with self._db() as conn:
            rows = conn.execute("SELECT passage_id, facts, questions FROM distilled").fetchall()
        return {pid: Distillation(tuple(json.loads(f)), tuple(json.loads(q))) for pid, f, q in rows}

    # --- costs --------------------------------------------------------------------------------

    def record(self, cost: StageCost, run_id: int | None = None) -> int:
        """Save a stage's cost; with `run_id`, update that row. Jobs save after every unit, so
        a killed job's cost is on record up to its last unit (as stopped "interrupted")."""
        with self._db() as conn:
            return _write_cost(conn, cost, run_id)

    def costs(self) -> list[StageCost]:
        if not self.exists():
            return []
        with self._db() as conn:
            rows = conn.execute(
                "SELECT stage, fingerprint, started_at, wall_s, passages, calls, prompt_tokens, "
                "cached_tokens, completion_tokens, stopped FROM runs ORDER BY id"
            ).fetchall()
        return [StageCost(**dict(zip(COST_COLUMNS, row, strict=True))) for row in rows]

    def cost_totals(self) -> dict[str, dict[str, float]]:
        """Per stage, everything ever spent on this collection (all invocations, all versions)."""
        totals: dict[str, dict[str, float]] = {}
        for c in self.costs():
            t = totals.setdefault(
                c.stage, {"runs": 0, "wall_s": 0.0, "passages": 0, "calls": 0, "total_tokens": 0}
            )
            t["runs"] += 1
            t["wall_s"] = round(t["wall_s"] + c.wall_s, 3)
            t["passages"] += c.passages
            t["calls"] += c.calls
            t["total_tokens"] += c.total_tokens
        return totals


def _write_cost(conn: sqlite3.Connection, cost: StageCost, run_id: int | None) -> int:
    cur = conn.execute(
        "INSERT OR REPLACE INTO runs (id, stage, fingerprint, started_at, wall_s, passages, "
        "calls, prompt_tokens, cached_tokens, completion_tokens, stopped) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run_id,
            cost.stage,
            cost.fingerprint,
            cost.started_at,
            round(cost.wall_s, 3),
            cost.passages,
            cost.calls,
            cost.prompt_tokens,
            cost.cached_tokens,
            cost.completion_tokens,
            cost.stopped,
        ),
    )
    return int(cur.lastrowid or 0) if run_id is None else run_id
