"""The job store on each backend: SQLite, and a real PostgreSQL server where the machine has one."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadline.api.store import JobRecord, open_store, sqlite_path
from leadline.errors import ConfigError


async def test_postgres_is_optional_and_says_how_to_get_it(tmp_path: Path) -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"pip install 'leadline\[postgres\]'"):
            async with open_store("postgresql://localhost/leadline", tmp_path):
                pass
    with pytest.raises(ConfigError, match="use sqlite:///PATH or postgresql"):
        sqlite_path("mysql://host/db", tmp_path)
    assert sqlite_path(None, tmp_path) == tmp_path / "api" / "jobs.sqlite"
    assert sqlite_path(f"sqlite:///{tmp_path}/j.db", tmp_path) == tmp_path / "j.db"


async def test_store_round_trip(tmp_path: Path, db_url: str | None) -> None:
    async with open_store(db_url, tmp_path) as store:
        await store.create(
            JobRecord(
                id="j1",
                key_id="k",
                kind="research",
                status="queued",
                question="q",
                request={"a": 1},
                created_at=1.5,
            )
        )
        await store.update("j1", status="succeeded", result={"answer": "x"}, finished_at=2.0)
        await store.add_events(
            [("j1", 1, "plan", {"type": "plan"}, 1.6), ("j1", 2, "result", {"type": "result"}, 2.0)]
        )
        with pytest.raises(ValueError, match="cannot update"):
            await store.update("j1", question="changed")
    async with open_store(db_url, tmp_path) as store:  # reopened: all still there
        job = await store.get("j1")
        assert job is not None and job.status == "succeeded" and job.result == {"answer": "x"}
        assert job.request == {"a": 1} and job.terminal
        assert [e.type for e in await store.events("j1", after=1)] == ["result"]
        assert await store.last_seq("j1") == 2 and await store.unfinished() == []
        assert await store.get("nope") is None
