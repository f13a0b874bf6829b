"""A throwaway PostgreSQL server for the Postgres tests: its own cluster in a temp dir, on loopback.

It uses the machine's PostgreSQL binaries (`initdb`, `pg_ctl`; Debian's `postgresql` package puts
them under /usr/lib/postgresql/N/bin). PostgreSQL refuses to run as root, so under root the
cluster is owned by and run as the `postgres` user. Tests skip, saying why, where no binaries are.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

START_TIMEOUT_S = 60


def find_bin_dir() -> Path | None:
    """The directory holding `initdb` and `pg_ctl`, newest version first; None if there is none."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).parent] if on_path else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """`with PostgresServer(tmp) as pg:` starts a cluster; `pg.new_database()` gives a fresh URL."""

    def __init__(self, root: Path, bin_dir: Path) -> None:
        self.root = root
        self.bin_dir = bin_dir
        self.data = root / "cluster"
        self.port = _free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # postgres will not run as root: run it as its own system user
            self._as_user = ["runuser", "-u", "postgres", "--"]
            os.chmod(root, 0o777)

    def _run(self, *args: str, timeout: float = START_TIMEOUT_S) -> None:
        result = subprocess.run(
            [*self._as_user, *args], capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stderr or result.stdout}")

    def __enter__(self) -> PostgresServer:
        self._run(
            str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"
        )
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "start",
            "-l", str(self.root / "server.log"),
        )  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A new empty database, so every test starts from nothing."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
