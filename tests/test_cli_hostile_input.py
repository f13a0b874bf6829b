"""Hostile and broken input through the command line: `ask`, `batch`, `serve` and `ingest` with
budgets that are not numbers, text that is not Unicode, endpoints that answer HTML or bill more
than the cap, and output files that are not leadline's."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leadline.cli import main
from leadline.services import Services
from tests.fakes.llm_server import ScriptedLLMServer, by_role, inflated, not_json
from tests.fakes.search import MemorySearch, make_passages
from tests.graph.helpers import answer_reply, plan_reply, reason_reply

QUESTION = "Which topic holds fact number 5?"


def good_handler(**overrides: Any) -> Any:
    replies = {
        "planner": plan_reply(["topic 5"], hops=1),
        "reasoner": reason_reply("Topic 5", 0.9, done=True),
        "answer": answer_reply("Topic 5", [1]),
    }
    return by_role(**{**replies, **overrides})


@pytest.fixture
def endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`endpoint(handler)`: a scripted LLM the CLI talks to, an in-memory corpus, a private
    data dir and no config file of the developer's."""
    servers: list[ScriptedLLMServer] = []
    for var in list(os.environ):
        if var.startswith(("LEADLINE_", "OPENAI_")):
            monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEADLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LEADLINE_MODEL", "scripted")
    monkeypatch.setenv("LEADLINE_MAX_RETRIES", "1")
    monkeypatch.setattr(
        Services, "search_backend", lambda self, c=None: MemorySearch(make_passages())
    )

    def start(handler: Any = None) -> ScriptedLLMServer:
        server = ScriptedLLMServer(handler or good_handler()).__enter__()
        servers.append(server)
        monkeypatch.setenv("LEADLINE_BASE_URL", server.base_url)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def last_json(out: str) -> dict[str, Any]:
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--max-compute", "nan", "max_compute must be a finite number"),
        ("--max-compute", "inf", "max_compute must be a finite number"),
        ("--max-compute", "-5", "max_compute must be > 0"),
        ("--max-search-steps", "-1", "max_search_steps must be in 0.."),
        ("--max-tokens", "10000000000000000", "max_tokens must be in 0.."),
        ("--width", "0", "width must be in 1..16"),
        ("--max-reasoning-tokens", "-1", "max_reasoning_tokens must be in 0.."),
        ("--reasoning-step-tokens", "8", "reasoning_step_tokens must be in 16..4,096"),
        ("--cached-token-rate", "nan", "cached_token_rate must be a finite number"),
        ("--cached-token-rate", "2", "cached_token_rate must be >= 0 and <= 1"),
    ],
)
def test_ask_refuses_a_budget_that_is_not_a_finite_number_in_range(
    endpoint: Any, capsys: pytest.CaptureFixture[str], flag: str, value: str, message: str
) -> None:
    server = endpoint()
    assert main(["ask", QUESTION, flag, value, "--json"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert server.requests == []  # refused before any model call


def test_ask_prints_tokens_raw_and_weighted(
    endpoint: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint()
    assert main(["ask", QUESTION, "--width", "2", "--max-reasoning-tokens", "300"]) == 0
    spend = next(line for line in capsys.readouterr().out.splitlines() if "Spend:" in line)
    assert "weighted, cached x0.1" in spend and "reasoner tokens" in spend


def test_ask_refuses_a_question_that_is_not_unicode(
    endpoint: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    server = endpoint()
    assert main(["ask", "What is \udcff?"]) == 2  # argv bytes that are not UTF-8
    err = capsys.readouterr().err
    assert "not valid Unicode" in err and len(err.strip().splitlines()) == 1
    assert server.requests == []


def test_ask_against_an_endpoint_answering_html_is_a_clear_error(
    endpoint: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    server = endpoint(lambda _body: not_json())
    assert main(["ask", QUESTION, "--json"]) == 1
    captured = capsys.readouterr()
    result = last_json(captured.out)
    assert result["stop_reason"] == "error"
    assert "not a chat completion (not JSON" in result["error"]
    assert "Traceback" not in captured.err
    assert len(server.requests) == 2  # retried once (LEADLINE_MAX_RETRIES=1), then gave up


def test_ask_flags_usage_the_server_reported_above_the_cap(
    endpoint: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint(good_handler(planner=inflated(plan_reply(["topic 5"], hops=1))))
    assert main(["ask", QUESTION, "--max-tokens", "6000", "--json"]) == 1
    captured = capsys.readouterr()
    result = last_json(captured.out)
    overrun = result["usage"]["budget_overrun"]
    assert overrun["max_tokens"]["cap"] == 6000
    assert overrun["max_tokens"]["spent"] == result["usage"]["total_tokens"] >= 55_000
    assert "more than the budget allows" in captured.err


def write_rows(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_batch_skips_rows_with_bad_text_or_budgets_and_answers_the_rest(
    endpoint: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint()
    src = write_rows(
        tmp_path / "in.jsonl",
        [
            json.dumps({"id": "ok1", "question": QUESTION}),
            '{"id": "bad-text", "question": "What is \\ud800?"}',
            '{"id": "bad-\\udfff", "question": "What is topic 2?"}',
            '{"id": "nan", "question": "What?", "budget": {"max_compute": NaN}}',
            '{"id": "inf", "question": "What?", "budget": {"max_tokens": Infinity}}',
            '{"id": "str", "question": "What?", "budget": {"max_search_steps": "3"}}',
            json.dumps({"id": "ok2", "question": "What is topic 3?"}),
        ],
    )
    out = tmp_path / "out.jsonl"
    argv = ["batch", str(src), "-o", str(out), "--no-progress", "--json"]
    for _ in range(2):  # a rerun is not poisoned either
        assert main(argv) == 1  # the skipped lines leave questions unanswered
        captured = capsys.readouterr()
        summary = last_json(captured.out)
        assert summary["malformed_lines"] == [2, 3, 4, 5, 6]
        assert "Traceback" not in captured.err
    assert "in.jsonl:line 2: the question holds text that is not valid Unicode" in captured.err
    assert "line 4: bad 'budget': max_compute must be a finite number" in captured.err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == ["ok1", "ok2"]


@pytest.mark.parametrize("length", [256, 512])
def test_a_long_collection_name_can_be_ingested_searched_and_reingested(
    endpoint: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], length: int
) -> None:
    source = tmp_path / "facts.jsonl"
    source.write_text(
        json.dumps({"title": "Tides", "text": "Tides are caused by the Moon."}) + "\n"
    )
    name = "c" * length  # the README allows 3-512 characters; a file name allows 255 bytes
    for added in (1, 0):  # re-ingesting the same file adds nothing, and does not crash
        assert main(["ingest", str(source), "--collection", name, "--json"]) == 0
        assert last_json(capsys.readouterr().out)["added"] == added
    assert (
        main(["search", "what causes tides", "--collection", name, "--mode", "bm25", "--json"]) == 0
    )
    assert [p["title"] for p in last_json(capsys.readouterr().out)["passages"]] == ["Tides"]


def test_batch_refuses_an_output_file_it_did_not_write(
    endpoint: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = endpoint()
    src = write_rows(tmp_path / "in.jsonl", [json.dumps({"id": "q1", "question": QUESTION})])
    other = write_rows(tmp_path / "other.jsonl", [json.dumps({"id": "x", "question": "Why?"})])
    before = other.read_bytes()
    assert main(["batch", str(src), "-o", str(other), "--no-progress"]) == 2
    assert "other.jsonl:1 is not a result row (no answer, stop_reason, error, grant)" in (
        capsys.readouterr().err
    )
    assert other.read_bytes() == before and server.requests == []
    out = tmp_path / "out.jsonl"  # its own output is recognised, and resumed
    assert main(["batch", str(src), "-o", str(out), "--no-progress"]) == 0
    assert main(["batch", str(src), "-o", str(out), "--no-progress", "--json"]) == 0
    assert last_json(capsys.readouterr().out)["already_done"] == 1


def test_serve_with_the_endpoint_down_is_one_line_and_status_2(
    endpoint: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADLINE_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    monkeypatch.delenv("LEADLINE_MODEL")  # so the server asks the endpoint for its model
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("leadline: error: cannot list models at")
