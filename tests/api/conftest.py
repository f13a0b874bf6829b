from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.harness import ApiHarness, Stack
from tests.api.postgres import PostgresServer, find_bin_dir


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """Start scripted LLMs and API servers with `stack.llm(...)` / `stack.api(...)`."""
    s = Stack(tmp_path)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiHarness]:
    """One server for a module's tests that only read or fail (it saves a start per test)."""
    s = Stack(tmp_path_factory.mktemp("shared"))
    try:
        yield s.api()
    finally:
        s.close()


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (skipped where the machine has none)."""
    pytest.importorskip("psycopg", reason="the postgres extra is not installed")
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl) on this machine")
    if os.geteuid() == 0 and not _user_exists("postgres"):
        pytest.skip("running as root, and there is no 'postgres' user to run PostgreSQL as")
    root = Path(tempfile.mkdtemp(prefix="leadline-pg-"))  # not under pytest's 0700 tmp root
    try:
        with PostgresServer(root, bin_dir) as server:
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    return postgres_server.new_database()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str | None:
    """Each job-store backend in turn: None (SQLite under the data dir), then real Postgres."""
    return None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
