"""Batch input: question rows from a JSONL file or a Python list, with unique ids."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leadline.budgets.budget import Budget
from leadline.core import validate_question
from leadline.errors import BudgetError, ConfigError
from leadline.text import first_lone_surrogate

MAX_REPORTED_PROBLEMS = 20


@dataclass(frozen=True)
class BatchItem:
    id: str | int
    question: str
    budget: Budget | None = None  # None: the batch's budget
    index: int = 0  # position in the input (a line number for files)


QuestionLike = str | Mapping[str, Any] | BatchItem


@dataclass(frozen=True)
class InputProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def parse_row(data: Any, budget: Budget, index: int = 0) -> BatchItem:
    """One input row `{id, question, budget?}`; the row's budget fields override `budget`."""
    if not isinstance(data, dict):
        raise ConfigError("a row must be a JSON object with 'id' and 'question'")
    raw_id = data.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
        raise ConfigError("'id' must be a non-empty string or an integer")
    if isinstance(raw_id, str) and first_lone_surrogate(raw_id) is not None:
        raise ConfigError("'id' is not valid Unicode (it holds a lone surrogate)")
    if not isinstance(data.get("question"), str):
        raise ConfigError("'question' must be a string")
    question = validate_question(data["question"])
    overrides = data.get("budget")
    row_budget = None
    if overrides is not None:
        if not isinstance(overrides, dict):
            raise ConfigError("'budget' must be an object of budget fields")
        try:
            row_budget = Budget.from_dict({**budget.to_dict(), **overrides})
        except (BudgetError, TypeError, ValueError) as exc:
            raise ConfigError(f"bad 'budget': {exc}") from exc
    return BatchItem(raw_id, question, row_budget, index)


def _refuse_duplicate(seen: dict[str, int], item: BatchItem, where: str) -> None:
    key = str(item.id)
    if key in seen:
        raise ConfigError(
            f"{where}: duplicate id {item.id!r} ({seen[key]} and {item.index}); "
            "every question needs its own id"
        )
    seen[key] = item.index


def read_questions(
    path: Path | str, budget: Budget | None = None, *, strict: bool = False
) -> tuple[list[BatchItem], list[InputProblem]]:
    """Rows of a JSONL file, and the malformed lines skipped (with `strict`, refuse instead)."""
    path, budget = Path(path), budget or Budget()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    items: list[BatchItem] = []
    problems: list[InputProblem] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            item = parse_row(json.loads(line), budget, index=n)
        except UnicodeDecodeError:
            problems.append(InputProblem(n, "not valid UTF-8"))
        except json.JSONDecodeError as exc:
            problems.append(InputProblem(n, f"not valid JSON ({exc.msg}, column {exc.colno})"))
        except ConfigError as exc:
            problems.append(InputProblem(n, str(exc)))
        else:
            _refuse_duplicate(seen, item, f"{path} lines")
            items.append(item)
    if strict and problems:
        listed = "\n".join(f"  {path}:{p}" for p in problems[:MAX_REPORTED_PROBLEMS])
        more = len(problems) - MAX_REPORTED_PROBLEMS
        raise ConfigError(
            f"{path} has {len(problems)} malformed line(s); nothing was run (--strict):\n{listed}"
            + (f"\n  ... and {more} more" if more > 0 else "")
        )
    return items, problems


def as_items(questions: Iterable[QuestionLike], budget: Budget) -> list[BatchItem]:
    """Strings (id = position), row mappings or BatchItems, with unique ids."""
    items: list[BatchItem] = []
    seen: dict[str, int] = {}
    for i, q in enumerate(questions):
        if isinstance(q, BatchItem):
            item = dataclasses.replace(q, index=i)
        elif isinstance(q, str):
            item = BatchItem(i, validate_question(q), None, i)
        else:
            try:
                item = parse_row(dict(q), budget, index=i)
            except ConfigError as exc:
                raise ConfigError(f"question {i}: {exc}") from exc
        _refuse_duplicate(seen, item, "questions")
        items.append(item)
    return items
