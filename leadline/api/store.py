"""Where jobs and their progress events live: SQLite by default, Postgres for shared deployments.

Two tables. `jobs` holds one row per job (request, status, result, error, attempts, times);
`events` holds every progress event a job emitted, numbered per job, so an event stream can be
replayed from any point after a restart. The research runs themselves are checkpointed by
LangGraph's checkpointer (`graph.runs.open_checkpointer`), which lives next to this store.

Both backends share the SQL below (`?` placeholders, rewritten for psycopg). Postgres is optional:
`pip install 'leadline[postgres]'` brings psycopg and LangGraph's Postgres checkpointer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leadline.errors import ConfigError

ACTIVE_STATUSES = ("queued", "running")
TERMINAL_STATUSES = ("succeeded", "failed", "cancelled")
JOB_COLUMNS = (
    "seq, id, key_id, kind, status, question, request, result, error, attempts, "
    "created_at, started_at, finished_at"
)
UPDATABLE = {"status", "result", "error", "attempts", "started_at", "finished_at"}

SQLITE_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, key_id TEXT NOT NULL,
        kind TEXT NOT NULL, status TEXT NOT NULL, question TEXT NOT NULL, request TEXT NOT NULL,
        result TEXT, error TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL, started_at REAL, finished_at REAL)""",
    """CREATE TABLE IF NOT EXISTS events (
        job_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL,
        created_at REAL NOT NULL, PRIMARY KEY (job_id, seq))""",
    "CREATE INDEX IF NOT EXISTS jobs_by_key ON jobs (key_id, seq)",
    "CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status)",
]
POSTGRES_SCHEMA = [
    s.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY").replace(
        "REAL", "DOUBLE PRECISION"
    )
    for s in SQLITE_SCHEMA
]


@dataclass
class JobRecord:
    id: str
    key_id: str
    kind: str
    status: str
    question: str
    request: dict[str, Any]
    created_at: float
    result: dict[str, Any] | None = None
    error: str = ""
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    seq: int = 0

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    type: str
    data: dict[str, Any] = field(default_factory=dict)


def _record(row: Sequence[Any]) -> JobRecord:
    seq, id_, key_id, kind, status, question, request, result, error, attempts, c, s, f = row
    return JobRecord(
        id=id_,
        key_id=key_id,
        kind=kind,
        status=status,
        question=question,
        request=json.loads(request),
        result=json.loads(result) if result else None,
        error=error or "",
        attempts=attempts,
        created_at=c,
        started_at=s,
        finished_at=f,
        seq=seq,
    )


class JobStore:
    """Jobs and events over one async DB connection (aiosqlite or psycopg)."""

    def __init__(self, conn: Any, *, dialect: str) -> None:
        self._conn = conn
        self._dialect = dialect
        self._lock = asyncio.Lock()  # one statement at a time per connection

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._dialect == "postgres" else sql

    async def _execute(self, sql: str, params: Sequence[Any] = (), many: bool = False) -> None:
        async with self._lock:
            if many and self._dialect == "postgres":
                async with self._conn.cursor() as cursor:  # psycopg has no connection.executemany
                    await cursor.executemany(self._sql(sql), params)
            elif many:
                await self._conn.executemany(self._sql(sql), params)
            else:
                await self._conn.execute(self._sql(sql), params)
            if self._dialect == "sqlite":
                await self._conn.commit()

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        async with self._lock:
            cursor = await self._conn.execute(self._sql(sql), params)
            return list(await cursor.fetchall())

    async def setup(self) -> None:
        for statement in SQLITE_SCHEMA if self._dialect == "sqlite" else POSTGRES_SCHEMA:
            await self._execute(statement)

    async def create(self, job: JobRecord) -> None:
        await self._execute(
            "INSERT INTO jobs (id, key_id, kind, status, question, request, error, attempts, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job.id,
                job.key_id,
                job.kind,
                job.status,
                job.question,
                json.dumps(job.request),
                job.error,
                job.attempts,
                job.created_at,
            ),
        )

    async def update(self, job_id: str, **fields: Any) -> None:
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise ValueError(f"cannot update job fields {sorted(unknown)}")
        if "result" in fields and fields["result"] is not None:
            fields["result"] = json.dumps(fields["result"], default=str)
        names = list(fields)
        assignments = ", ".join(f"{n} = ?" for n in names)
        await self._execute(
            f"UPDATE jobs SET {assignments} WHERE id = ?", [*(fields[n] for n in names), job_id]
        )

    async def get(self, job_id: str) -> JobRecord | None:
        rows = await self._fetch(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return _record(rows[0]) if rows else None

    async def list(
        self, key_id: str, *, limit: int, before: int | None = None, status: str | None = None
    ) -> list[JobRecord]:
        """A key's jobs, newest first; `before` is the `seq` cursor of the previous page."""
        where, params = ["key_id = ?"], [key_id]
        if before is not None:
            where.append("seq < ?")
            params.append(before)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        rows = await self._fetch(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE {' AND '.join(where)} "
            f"ORDER BY seq DESC LIMIT {int(limit)}",
            params,
        )
        return [_record(r) for r in rows]

    async def unfinished(self) -> list[JobRecord]:
        rows = await self._fetch(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE status IN (?, ?) ORDER BY seq", ACTIVE_STATUSES
        )
        return [_record(r) for r in rows]

    async def add_events(self, rows: Sequence[tuple[str, int, str, dict[str, Any], float]]) -> None:
        """Append (job_id, seq, type, data, created_at) rows in one transaction."""
        await self._execute(
            "INSERT INTO events (job_id, seq, type, data, created_at) VALUES (?, ?, ?, ?, ?)",
            [(j, s, t, json.dumps(d, default=str), c) for j, s, t, d, c in rows],
            many=True,
        )

    async def events(self, job_id: str, after: int = 0) -> list[StoredEvent]:
        rows = await self._fetch(
            "SELECT seq, type, data FROM events WHERE job_id = ? AND seq > ? ORDER BY seq",
            (job_id, after),
        )
        return [StoredEvent(seq, type_, json.loads(data)) for seq, type_, data in rows]

    async def last_seq(self, job_id: str) -> int:
        rows = await self._fetch("SELECT MAX(seq) FROM events WHERE job_id = ?", (job_id,))
        return int(rows[0][0] or 0) if rows else 0


def default_db_path(data_dir: Path) -> Path:
    return data_dir / "api" / "jobs.sqlite"


def is_postgres(db_url: str | None) -> bool:
    return db_url is not None and db_url.split(":", 1)[0] in ("postgres", "postgresql")


def sqlite_path(db_url: str | None, data_dir: Path) -> Path:
    if not db_url:
        return default_db_path(data_dir)
    if db_url.startswith("sqlite:///"):
        return Path(db_url.removeprefix("sqlite:///"))
    raise ConfigError(
        f"unsupported LEADLINE_API_DB {db_url.split(':', 1)[0]!r}: use sqlite:///PATH or "
        "postgresql://…"
    )


@asynccontextmanager
async def open_store(db_url: str | None, data_dir: Path) -> AsyncIterator[JobStore]:
    """Open (and create if needed) the job store named by `db_url`; close it on exit."""
    if is_postgres(db_url):
        try:
            import psycopg
        except ImportError as exc:
            raise ConfigError(
                "a Postgres job store needs psycopg: pip install 'leadline[postgres]'"
            ) from exc
        conn = await psycopg.AsyncConnection.connect(db_url, autocommit=True)  # type: ignore[arg-type]
        try:
            store = JobStore(conn, dialect="postgres")
            await store.setup()
            yield store
        finally:
            await conn.close()
        return
    import aiosqlite

    path = sqlite_path(db_url, data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(path) as conn:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA busy_timeout=5000")
        store = JobStore(conn, dialect="sqlite")
        await store.setup()
        yield store


@asynccontextmanager
async def open_api_checkpointer(db_url: str | None, data_dir: Path) -> AsyncIterator[Any]:
    """The LangGraph checkpointer beside the store: Postgres with Postgres, else SQLite."""
    from leadline.graph.runs import open_checkpointer

    if not is_postgres(db_url):
        path = sqlite_path(db_url, data_dir).with_name("checkpoints.sqlite")
        async with open_checkpointer(path) as saver:
            yield saver
        return
    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

        from leadline.graph.state import SERIALIZABLE_TYPES
    except ImportError as exc:
        raise ConfigError(
            "Postgres checkpoints need langgraph-checkpoint-postgres: "
            "pip install 'leadline[postgres]'"
        ) from exc
    async with AsyncPostgresSaver.from_conn_string(db_url) as saver:  # type: ignore[arg-type]
        saver.serde = JsonPlusSerializer(allowed_msgpack_modules=SERIALIZABLE_TYPES)
        await saver.setup()
        yield saver
