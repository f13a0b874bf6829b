"""Batch output: the result JSONL, read back for resuming and appended durably row by row."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from leadline.errors import ConfigError


class ResultLog:
    """The output JSONL: what already finished (for resuming) and durable appends.

    Held open with an exclusive lock, so two batches cannot interleave rows in one file.
    """

    def __init__(self, path: Path, fd: int, rows: list[dict[str, Any]], discarded: int) -> None:
        self.path = path
        self._fd = fd
        self.finished: dict[str, dict[str, Any]] = {str(r["id"]): r for r in rows}
        self.discarded_bytes = discarded

    @classmethod
    def open(cls, path: Path | str, *, retry_errors: bool = False) -> ResultLog:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = _open_locked(path)
        except OSError as exc:
            raise ConfigError(f"cannot open the output {path}: {exc.strerror or exc}") from exc
        try:
            data = path.read_bytes()
            keep = data.rfind(b"\n") + 1  # a tail without its newline is a write cut off by a kill
            if keep < len(data):
                os.ftruncate(fd, keep)
                os.fsync(fd)
            rows = _parse_results(path, data[:keep])
            if retry_errors and any(r.get("error") for r in rows):
                rows = [r for r in rows if not r.get("error")]
                fd = _rewrite(path, fd, rows)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, rows, len(data) - keep)

    @property
    def spent_tokens(self) -> int:
        """Tokens the recorded rows cost (a row without usage is charged its whole grant)."""
        total = 0
        for row in self.finished.values():
            usage = row.get("usage") or {}
            spent = usage.get("total_tokens") if isinstance(usage, dict) else None
            total += spent if isinstance(spent, int) else int(row.get("grant") or 0)
        return total

    def append(self, row: dict[str, Any]) -> None:
        data = (json.dumps(row, ensure_ascii=False, default=str) + "\n").encode()
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
        except OSError as exc:  # disk full, file system gone: stop; a rerun resumes from here
            raise ConfigError(f"cannot append to {self.path}: {exc.strerror or exc}") from exc
        self.finished[str(row["id"])] = row

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _open_locked(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # no flock (Windows): run unlocked
        pass
    except BlockingIOError as exc:
        os.close(fd)
        raise ConfigError(f"{path} is being written by another leadline batch") from exc
    return fd


def _parse_results(path: Path, data: bytes) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(data.split(b"\n")[:-1], 1):
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict) or "id" not in row:
            raise ConfigError(
                f"{path}:{n} is not a result row; this does not look like a batch output file "
                "(fix or remove that line, or choose another output)"
            )
        rows.append(row)
    return rows


def _rewrite(path: Path, fd: int, rows: list[dict[str, Any]]) -> int:
    """Atomically replace the file with `rows`; return a locked descriptor of the new file."""
    tmp = path.with_name(f".{path.name}.retry-{os.getpid()}")
    with tmp.open("wb") as fh:
        fh.writelines(
            (json.dumps(r, ensure_ascii=False, default=str) + "\n").encode() for r in rows
        )
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    os.close(fd)
    return _open_locked(path)
