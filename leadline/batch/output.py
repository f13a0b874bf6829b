"""Batch output: the result JSONL, read back for resuming and appended durably row by row."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from leadline.budgets.budget import whole_tokens
from leadline.errors import ConfigError
from leadline.text import dumps

# Fields every row `leadline batch` writes has, `grant` and `stop_reason` among them, which no
# question file has: an -o that names the input (or any other JSONL with ids) is refused, not
# appended to.
BATCH_ROW_FIELDS = ("id", "answer", "stop_reason", "error", "grant")


def retried_path(path: Path) -> Path:
    """Where `--retry-errors` moves failed rows: kept, and still counted against a pool."""
    return path.with_name(f"{path.stem}.retried{path.suffix or '.jsonl'}")


def row_tokens(row: dict[str, Any]) -> int:
    """Tokens a recorded row cost the pool, in the budget's unit (weighted tokens, rounded up;
    rows written before the unit had weights count their raw total); a row without usage is
    charged its whole grant."""
    usage = row.get("usage") or {}
    if not isinstance(usage, dict):
        return int(row.get("grant") or 0)
    weighted, raw = usage.get("weighted_tokens"), usage.get("total_tokens")
    numeric = isinstance(weighted, int | float) and not isinstance(weighted, bool)
    if numeric and math.isfinite(weighted) and weighted >= 0:
        return whole_tokens(weighted)
    return raw if isinstance(raw, int) else int(row.get("grant") or 0)


class ResultLog:
    """The output JSONL: what already finished (for resuming) and durable appends.

    Held open with an exclusive lock, so two batches cannot interleave rows in one file.
    """

    def __init__(
        self,
        path: Path,
        fd: int,
        rows: list[dict[str, Any]],
        discarded: int,
        retried_tokens: int = 0,
    ) -> None:
        self.path = path
        self._fd = fd
        self.finished: dict[str, dict[str, Any]] = {str(r["id"]): r for r in rows}
        self.discarded_bytes = discarded
        self.retried_tokens = retried_tokens  # what the failed rows moved aside had cost

    @classmethod
    def open(
        cls, path: Path | str, *, retry_errors: bool = False, row_fields: tuple[str, ...] = ("id",)
    ) -> ResultLog:
        """Open (and lock) `path`; every whole line must be a row holding `row_fields`."""
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
            rows = _parse_results(path, data[:keep], row_fields)
            failed = [r for r in rows if r.get("error")] if retry_errors else []
            if failed:  # moved aside first: a crash in between counts them twice, never zero
                _append_rows(retried_path(path), failed)
                rows = [r for r in rows if not r.get("error")]
                fd = _rewrite(path, fd, rows)
            retried = sum(row_tokens(r) for r in _read_rows(retried_path(path)))
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, rows, len(data) - keep, retried)

    @property
    def spent_tokens(self) -> int:
        """Tokens the recorded rows cost, and the failed rows `--retry-errors` moved aside."""
        return sum(row_tokens(r) for r in self.finished.values()) + self.retried_tokens

    def append(self, row: dict[str, Any]) -> None:
        data = _line(row)
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


def _line(row: dict[str, Any]) -> bytes:
    """One row as a UTF-8 JSON line; text that is not valid Unicode is escaped, never a crash."""
    return (dumps(row, default=str) + "\n").encode()


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


def _parse_results(path: Path, data: bytes, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(data.split(b"\n")[:-1], 1):
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        missing = [f for f in fields if f not in row] if isinstance(row, dict) else list(fields)
        if missing:
            raise ConfigError(
                f"{path}:{n} is not a result row (no {', '.join(missing)}); this does not look "
                "like a results file leadline wrote, so nothing was appended to it (fix or "
                "remove that line, or choose another output)"
            )
        rows.append(row)
    return rows


def _rewrite(path: Path, fd: int, rows: list[dict[str, Any]]) -> int:
    """Atomically replace the file with `rows`; return a locked descriptor of the new file."""
    tmp = path.with_name(f".{path.name}.retry-{os.getpid()}")
    with tmp.open("wb") as fh:
        fh.writelines(_line(r) for r in rows)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    os.close(fd)
    return _open_locked(path)


def _append_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("ab") as fh:
        fh.writelines(_line(r) for r in rows)
        fh.flush()
        os.fsync(fh.fileno())


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """The whole rows of a file this module appended to; missing file: none."""
    try:
        lines = path.read_bytes().split(b"\n")[:-1]
    except FileNotFoundError:
        return []
    rows = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows
