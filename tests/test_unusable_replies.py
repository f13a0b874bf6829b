"""A model whose replies never parse must not look like success, at any entrypoint (issue 14)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from leadline.cli import main
from tests.test_cli_hostile_input import QUESTION, endpoint  # noqa: F401  (the fixture)


def test_ask_exits_1_with_an_error_when_no_reply_ever_parses(
    endpoint: Any,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    endpoint(lambda _body: "I am not JSON and never will be")
    assert main(["ask", QUESTION, "--max-search-steps", "2", "--json"]) == 1
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["stop_reason"] == "error"
    assert "no usable reply" in result["error"]


def test_batch_records_such_a_question_as_failed_so_retry_errors_retries_it(
    endpoint: Any,  # noqa: F811
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    endpoint(lambda _body: "I am not JSON and never will be")
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, "question": QUESTION}) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(src), "-o", str(out), "--max-search-steps", "2"]) == 1
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["stop_reason"] == "error" and "no usable reply" in row["error"]
