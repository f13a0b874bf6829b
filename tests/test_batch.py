"""The batch runner: bounded concurrency, the token pool, durable resumable output, bad input."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from leadline.batch import (
    BatchItem,
    PassageFileSearch,
    ResultLog,
    aresearch_batch,
    read_questions,
    research_batch,
)
from leadline.budgets.budget import Budget
from leadline.cli import main
from leadline.config import load_settings
from leadline.errors import ConfigError
from leadline.services import Services
from leadline.tools.llm import LLMClient
from leadline.tools.search.base import Passage
from tests.fakes.llm_server import Reply, ScriptedLLMServer, agent_role, by_role, flatten_prompt
from tests.fakes.search import MemorySearch, make_passages
from tests.graph.helpers import answer_reply, plan_reply, reason_reply

MakeServices = Callable[..., Services]


def easy_handler(delay_s: float = 0.0) -> Any:
    """Every question: one search, the reasoner is sure at once, then the answer."""
    return by_role(
        planner=Reply(plan_reply(["topic 5"], hops=1), delay_s=delay_s),
        reasoner=Reply(reason_reply("Topic 5", 0.9, done=True), delay_s=delay_s),
        answer=Reply(answer_reply("Topic 5", [1]), delay_s=delay_s),
    )


async def collect(questions: Any, **kwargs: Any) -> list[Any]:
    """Every result `aresearch_batch` yields, in order."""
    return [r async for r in aresearch_batch(questions, **kwargs)]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# The fields of a row `leadline batch` writes, for tests that prepare an earlier run's output.
ROW = {"question": "What?", "answer": "", "stop_reason": "done", "error": "", "grant": None}


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
async def make_services(tmp_path: Path) -> AsyncIterator[MakeServices]:
    clients: list[LLMClient] = []

    def make(server: ScriptedLLMServer, search: Any = None) -> Services:
        llm = LLMClient(
            base_url=server.base_url,
            model="scripted",
            max_retries=3,
            backoff_initial_s=0.01,
            backoff_max_s=0.05,
            timeout_s=10,
        )
        clients.append(llm)
        return Services(
            settings=load_settings(data_dir=tmp_path),
            llm=llm,
            search=search or MemorySearch(make_passages()),
        )

    yield make
    for llm in clients:
        await llm.aclose()


async def test_results_stream_as_they_finish_and_each_is_recorded(
    tmp_path: Path, make_services: MakeServices
) -> None:
    out = tmp_path / "out.jsonl"
    questions = [{"id": f"q{i}", "question": f"What is topic {i}?"} for i in range(5)]
    with ScriptedLLMServer(easy_handler()) as server:
        results = await collect(
            questions, services=make_services(server), concurrency=2, output=out
        )
    assert sorted(r.item.id for r in results) == [f"q{i}" for i in range(5)]
    assert all(r.ok and r.recorded for r in results)
    rows = read_rows(out)
    assert [r["id"] for r in rows] == [r.item.id for r in results]  # appended in finish order
    row = rows[0]
    assert {"id", "question", "answer", "citations", "usage", "stop_reason", "error"} <= set(row)
    assert row["answer"] == "Topic 5" and row["stop_reason"] == "done" and row["error"] == ""
    assert row["citations"][0]["passage_id"] == f"p{row['id'][1:]}"  # the question, searched
    assert row["usage"]["total_tokens"] > 0 and row["usage"]["search_steps"] == 1


async def test_concurrency_is_bounded(make_services: MakeServices) -> None:
    lock, inflight, peak = threading.Lock(), [0], [0]
    inner = easy_handler()

    def handler(body: dict[str, Any]) -> Any:
        with lock:
            inflight[0] += 1
            peak[0] = max(peak[0], inflight[0])
        time.sleep(0.05)
        with lock:
            inflight[0] -= 1
        return inner(body)

    with ScriptedLLMServer(handler) as server:
        results = await collect(
            [f"What is topic {i}?" for i in range(12)],
            services=make_services(server),
            concurrency=3,
        )
    assert len(results) == 12 and all(r.ok for r in results)
    assert peak[0] == 3  # the bound was reached and never passed


async def test_rate_limits_are_retried_under_load(make_services: MakeServices) -> None:
    calls, inner = Counter[str](), easy_handler()

    def handler(body: dict[str, Any]) -> Any:
        prompt = flatten_prompt(body)
        calls[prompt] += 1
        if calls[prompt] == 1:  # every request is refused once, then served on its retry
            return Reply(status=429, headers={"Retry-After": "0"})
        return inner(body)

    with ScriptedLLMServer(handler) as server:
        results = await collect(
            [f"What is topic {i}?" for i in range(6)],
            services=make_services(server),
            concurrency=4,
        )
    assert len(results) == 6 and all(r.ok for r in results), [r.error for r in results]
    assert sum(calls.values()) == 2 * len(calls)  # each call: one 429, then one retry


def test_the_sync_wrapper_returns_results_in_input_order(tmp_path: Path) -> None:
    with ScriptedLLMServer(easy_handler()) as server:
        settings = load_settings(data_dir=tmp_path, base_url=server.base_url, model="scripted")
        results = research_batch(
            ["What is topic 1?", {"id": "x", "question": "Topic 2?"}, BatchItem("y", "Topic 3?")],
            settings=settings,
            search=MemorySearch(make_passages()),
            concurrency=3,
        )
    assert [r.item.id for r in results] == [0, "x", "y"] and all(r.ok for r in results)


def mixed_handler() -> Any:
    """'hard' questions never settle and keep asking for more; the rest finish at once."""

    def reasoner(body: dict[str, Any]) -> str:
        text = flatten_prompt(body)
        if "hard" in text:
            return reason_reply("unknown", 0.2, next_queries=[f"topic {len(text) % 12}"])
        return reason_reply("Topic 5", 0.9, done=True)

    return by_role(
        planner=plan_reply(["topic 5"], hops=3),
        reasoner=reasoner,
        answer=answer_reply("Topic 5", [1]),
    )


@pytest.mark.parametrize("total", [3_000, 12_000, 40_000])
async def test_the_pool_is_never_exceeded_end_to_end(
    tmp_path: Path, make_services: MakeServices, total: int
) -> None:
    out = tmp_path / "out.jsonl"
    questions = [f"What is the {'hard' if i % 3 == 0 else 'easy'} topic {i}?" for i in range(9)]
    with ScriptedLLMServer(mixed_handler()) as server:
        results = await collect(
            questions,
            services=make_services(server),
            pool=total,
            concurrency=3,
            output=out,
            budget=Budget(max_tokens=8_000, max_search_steps=4),
        )
    ran = [r for r in results if r.result is not None]
    assert ran, "at least one question must have been funded"
    # the pool counts the budget's unit: weighted tokens (cached prompt tokens at 0.1)
    assert sum(r.usage["weighted_tokens"] for r in ran) <= total
    assert all(r.usage["weighted_tokens"] <= r.grant <= 8_000 for r in ran)  # type: ignore[operator]
    recorded = read_rows(out)
    assert sum(row["usage"]["weighted_tokens"] for row in recorded) <= total
    starved = [r for r in results if r.result is None]
    assert all(r.stop_reason == "pool_exhausted" and not r.recorded for r in starved)
    assert len(recorded) == len(ran)


async def test_unused_budget_flows_back_to_later_questions(make_services: MakeServices) -> None:
    with ScriptedLLMServer(easy_handler()) as server:
        results = await collect(
            [f"What is topic {i}?" for i in range(6)],
            services=make_services(server),
            pool=30_000,
            concurrency=1,
        )
    grants = [r.grant for r in results]
    # a fair sixth of the pool, halved once the planner judged the question one-hop (easy)
    assert grants[0] == 5_000 // 2
    assert grants == sorted(grants) and grants[-1] > 2 * grants[0]  # easy questions gave back
    assert sum(r.usage["weighted_tokens"] for r in results) <= 30_000


async def test_a_server_billing_past_the_grant_overdraws_the_pool_loudly_not_fatally(
    make_services: MakeServices,
) -> None:
    inner = easy_handler()

    def handler(body: dict[str, Any]) -> Any:
        reply = inner(body)
        if "What is topic 2?" in flatten_prompt(body):  # billed far beyond any estimate
            return Reply(reply.content, usage={"prompt_tokens": 40_000, "completion_tokens": 1})
        return reply

    with ScriptedLLMServer(handler) as server:
        results = await collect(
            [f"What is topic {i}?" for i in range(5)],
            services=make_services(server),
            pool=30_000,
            concurrency=1,
        )
    assert [r.ok for r in results[:2]] == [True, True]
    assert "overdrawn" in results[2].error and results[2].result is not None
    assert [r.stop_reason for r in results[3:]] == ["pool_exhausted"] * 2


async def test_stopping_early_leaves_only_whole_rows(
    tmp_path: Path, make_services: MakeServices
) -> None:
    out = tmp_path / "out.jsonl"
    with ScriptedLLMServer(easy_handler(delay_s=0.02)) as server:
        async with aclosing(
            aresearch_batch(
                [f"What is topic {i}?" for i in range(12)],
                services=make_services(server),
                concurrency=4,
                output=out,
            )
        ) as results:
            async for n, _ in aenumerate(results):
                if n == 1:
                    break
    rows = read_rows(out)  # every line parses
    assert 2 <= len(rows) < 12 and len({r["id"] for r in rows}) == len(rows)


async def aenumerate(items: AsyncIterator[Any]) -> AsyncIterator[tuple[int, Any]]:
    n = 0
    async for item in items:
        yield n, item
        n += 1


class ExplodingSearch(MemorySearch):
    async def search(self, query: str, k: int) -> list[Passage]:
        if query == "What is topic 3?":
            raise RuntimeError("index corrupted")  # not a LeadlineError: the run itself dies
        return await super().search(query, k)


async def test_a_failing_question_is_recorded_and_the_batch_goes_on(
    tmp_path: Path, make_services: MakeServices
) -> None:
    inner = easy_handler()

    def handler(body: dict[str, Any]) -> Any:
        if "What is topic 1?" in flatten_prompt(body):
            return Reply(status=400)
        return inner(body)

    out = tmp_path / "out.jsonl"
    with ScriptedLLMServer(handler) as server:
        results = await collect(
            [f"What is topic {i}?" for i in range(5)],
            pool=50_000,
            output=out,
            services=make_services(server, ExplodingSearch(make_passages())),
        )
    by_id = {r.item.id: r for r in results}
    assert "HTTP 400" in by_id[1].error and by_id[1].stop_reason == "error"
    assert by_id[3].error == "RuntimeError: index corrupted" and by_id[3].result is None
    assert all(by_id[i].ok for i in (0, 2, 4)), [by_id[i].error for i in (0, 2, 4)]
    rows = {row["id"]: row for row in read_rows(out)}
    # question 3 died in its first search, before a plan could resize its grant: it keeps (and
    # is charged) the whole grant it started with
    assert set(rows) == set(range(5)) and rows[3]["usage"] == {} and rows[3]["grant"] == 10_000


def test_malformed_lines_are_reported_by_line_number_and_skipped(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"id": "a", "question": "What is topic 1?"},
            "{not json",
            "",
            {"question": "no id"},
            {"id": "b", "question": "   "},
            {"id": "c", "question": "What is topic 2?", "budget": {"max_search_steps": 1}},
            {"id": "d", "question": "What?", "budget": {"max_tokens": 5}},
            {"id": "e", "question": "What?", "budget": {"max_tokenz": 5000}},
            ["a", "list"],
        ],
    )
    items, problems = read_questions(path, Budget(max_tokens=9_000))
    assert [i.id for i in items] == ["a", "c"]
    assert items[1].budget == Budget(max_tokens=9_000, max_search_steps=1)
    assert [p.line for p in problems] == [2, 4, 5, 7, 8, 9]
    assert "not valid JSON" in problems[0].message and "'id'" in problems[1].message
    assert "empty" in problems[2].message and "too small" in problems[3].message
    assert "max_tokenz" in problems[4].message
    with pytest.raises(ConfigError, match=r"6 malformed line\(s\); nothing was run") as exc:
        read_questions(path, strict=True)
    assert "in.jsonl:line 2: not valid JSON" in str(exc.value)


def test_duplicate_ids_are_refused_clearly(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [{"id": 7, "question": "a?"}, {"id": "x", "question": "b?"}, {"id": "7", "question": "c?"}],
    )
    with pytest.raises(ConfigError, match=r"duplicate id '7' \(1 and 3\)"):
        read_questions(path)
    with pytest.raises(ConfigError, match="duplicate id 'q'"):
        research_batch([BatchItem("q", "a?"), BatchItem("q", "b?")])


async def test_a_rerun_skips_finished_ids_and_cuts_a_torn_last_line(
    tmp_path: Path, make_services: MakeServices
) -> None:
    out = tmp_path / "out.jsonl"
    done = {
        "id": "q0",
        "question": "What is topic 0?",
        "answer": "Topic 0",
        "usage": {"total_tokens": 900},
        "stop_reason": "done",
        "error": "",
        "grant": 1000,
    }
    out.write_text(json.dumps(done) + "\n" + '{"id": "q1", "question": "What is to')
    log = ResultLog.open(out)
    assert log.discarded_bytes > 0 and set(log.finished) == {"q0"} and log.spent_tokens == 900
    with pytest.raises(ConfigError, match="another leadline batch"):
        ResultLog.open(out)
    log.close()
    questions = [{"id": f"q{i}", "question": f"What is topic {i}?"} for i in range(3)]
    with ScriptedLLMServer(easy_handler()) as server:
        results = await collect(questions, services=make_services(server), output=out, pool=20_000)
        assert sorted(r.item.id for r in results) == ["q1", "q2"]
        # recorded spend counts against the pool; the one-hop plan then halves the fair share
        assert results[0].grant == (20_000 - 900) // 2 // 2
    rows = read_rows(out)
    assert rows[0] == done and sorted(r["id"] for r in rows) == ["q0", "q1", "q2"]
    out.write_text(out.read_text() + "garbage\n" + json.dumps(done) + "\n")
    with pytest.raises(ConfigError, match=r"out.jsonl:4 is not a result row"):
        ResultLog.open(out)


async def test_retry_errors_runs_failed_questions_again(
    tmp_path: Path, make_services: MakeServices
) -> None:
    out = write_jsonl(
        tmp_path / "out.jsonl",
        [
            {**ROW, "id": 0, "error": "", "usage": {"total_tokens": 1}},
            {**ROW, "id": 1, "error": "HTTP 500", "stop_reason": "error", "grant": 700},
        ],
    )
    with ScriptedLLMServer(easy_handler()) as server:
        results = await collect(
            ["What is topic 0?", "What is topic 1?"],
            services=make_services(server),
            output=out,
            retry_errors=True,
        )
    assert [r.item.id for r in results] == [1]
    rows = read_rows(out)
    assert [r["id"] for r in rows] == [0, 1] and rows[1]["error"] == ""
    # the failed row is kept beside the output, and a pool still counts what it cost
    moved = read_rows(tmp_path / "out.retried.jsonl")
    assert [(r["id"], r["error"]) for r in moved] == [(1, "HTTP 500")]
    log = ResultLog.open(out)
    try:
        weighted = math.ceil(rows[1]["usage"]["weighted_tokens"])
        assert log.spent_tokens == 1 + weighted + 700  # rows without weights count their total
    finally:
        log.close()


def cli_env(server: ScriptedLLMServer, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADLINE_", "OPENAI_"))}
    return {
        **env,
        "LEADLINE_BASE_URL": server.base_url,
        "LEADLINE_MODEL": "scripted",
        "LEADLINE_DATA_DIR": str(tmp_path / "data"),
        "LEADLINE_MAX_RETRIES": "0",
    }


NAMES = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
]


def corpus(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "passages.jsonl",
        [
            {"id": f"p{i}", "title": f"Topic {name}", "text": f"Fact number {i} about {name}."}
            for i, name in enumerate(NAMES)
        ],
    )


async def test_passages_file_backend_ranks_by_bm25(tmp_path: Path) -> None:
    search = PassageFileSearch.from_jsonl(corpus(tmp_path))
    hits = await search.search("the hotel topic", 2)
    assert hits[0].id == "p7" and hits[0].source.endswith("passages.jsonl:8")
    assert hits[0].backend == "passages" and hits[0].score > hits[1].score
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"title": "no text"}])
    with pytest.raises(ConfigError, match="bad.jsonl:1"):
        PassageFileSearch.from_jsonl(bad)


def test_cli_batch_runs_a_file_and_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_jsonl(
        tmp_path / "in.jsonl",
        [*({"id": f"q{i}", "question": f"What is topic {i}?"} for i in range(4)), "{oops"],
    )
    out = tmp_path / "out.jsonl"
    monkeypatch.chdir(tmp_path)
    with ScriptedLLMServer(easy_handler()) as server:
        for k, v in cli_env(server, tmp_path).items():
            monkeypatch.setenv(k, v)
        argv = [
            "batch",
            str(src),
            "-o",
            str(out),
            "--passages",
            str(corpus(tmp_path)),
            "--budget-pool",
            "40000",
            "--json",
        ]
        assert main(argv) == 1  # the malformed line was skipped, so not every question ran
        captured = capsys.readouterr()
        summary = json.loads(captured.out.strip().splitlines()[-1])
        assert summary["ok"] == 4 and summary["malformed_lines"] == [5]
        assert "1 malformed input line(s) were skipped" in captured.err
        assert summary["pool"]["spent"] <= 40_000 and summary["total_tokens"] > 0
        assert summary["pool"]["spent"] >= summary["weighted_tokens"]
        assert main([*argv[:-1], "--strict"]) == 2
        assert "nothing was run" in capsys.readouterr().err
        assert main([*argv, "--concurrency", "0"]) == 2
        assert "--concurrency must be in 1..256, got 0" in capsys.readouterr().err
        src.write_text(src.read_text().replace("{oops\n", ""))
        assert main(argv) == 0  # everything already done: nothing runs
        assert json.loads(capsys.readouterr().out)["already_done"] == 4
    assert sorted(r["id"] for r in read_rows(out)) == ["q0", "q1", "q2", "q3"]


def test_cli_batch_exit_status_counts_questions_that_failed_in_an_earlier_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": "q0", "question": "What is topic 0?"}])
    failed = {"id": "q0", "answer": "", "stop_reason": "error", "error": "HTTP 500", "grant": None}
    out = write_jsonl(tmp_path / "out.jsonl", [{**failed, "usage": {}}])
    monkeypatch.chdir(tmp_path)
    with ScriptedLLMServer(easy_handler()) as server:
        for k, v in cli_env(server, tmp_path).items():
            monkeypatch.setenv(k, v)
        argv = ["batch", str(src), "-o", str(out), "--passages", str(corpus(tmp_path))]
        assert main([*argv, "--json"]) == 1  # nothing ran, but q0 is still unanswered
        captured = capsys.readouterr()
        assert json.loads(captured.out)["failed_earlier"] == 1
        assert "1 question(s) failed in an earlier run" in captured.err
        assert main([*argv, "--retry-errors"]) == 0
    assert [r["error"] for r in read_rows(out)] == [""]


def test_a_killed_batch_resumes_with_every_id_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    slow = threading.Event()
    slow.set()
    fast = easy_handler()

    def handler(body: dict[str, Any]) -> Any:
        if slow.is_set():
            time.sleep(0.15)
        return fast(body)

    ids = [f"q{i}" for i in range(10)]
    src = write_jsonl(
        tmp_path / "in.jsonl",
        [{"id": i, "question": f"What is topic {n}?"} for n, i in enumerate(ids)],
    )
    out = tmp_path / "out.jsonl"
    argv = [
        "batch",
        str(src),
        "-o",
        str(out),
        "--passages",
        str(corpus(tmp_path)),
        "--concurrency",
        "2",
        "--no-progress",
    ]
    with ScriptedLLMServer(handler) as server:
        env = cli_env(server, tmp_path)
        proc = subprocess.Popen(
            [sys.executable, "-m", "leadline.cli", *argv],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 2:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == -signal.SIGKILL, err.decode()
        before = out.read_bytes()
        finished = before[: before.rfind(b"\n") + 1]
        assert 2 <= finished.count(b"\n") < len(ids)  # killed mid-batch
        with out.open("ab") as fh:  # as if the kill had cut a write short
            fh.write(b'{"id": "q9", "question": "What is to')

        slow.clear()  # the rerun: the same command, in this process to save a start-up
        monkeypatch.chdir(tmp_path)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        assert main(argv) == 0
    assert "cut a partial last line" in capsys.readouterr().err
    after = out.read_bytes()
    assert after.startswith(finished)  # finished rows intact, byte for byte
    rows = read_rows(out)
    assert sorted(r["id"] for r in rows) == ids  # every id exactly once
    assert all(r["error"] == "" and r["answer"] == "Topic 5" for r in rows)


async def test_the_planners_difficulty_sets_each_questions_share(
    make_services: MakeServices,
) -> None:
    """Hard (4-hop) questions end up holding more of the pool than easy (1-hop) ones."""

    def handler(body: dict[str, Any]) -> str:
        text = str(body)
        role = agent_role(body)
        if role == "planner":
            return plan_reply(["topic 5"], hops=4 if "hard" in text else 1)
        if role == "reasoner":
            return reason_reply("Topic 5", 0.9, done=True)
        return answer_reply("Topic 5", [1])

    questions = [f"What is the {'hard' if i % 2 else 'easy'} topic {i}?" for i in range(6)]
    with ScriptedLLMServer(handler) as server:
        results = await collect(
            questions,
            services=make_services(server),
            pool=60_000,
            concurrency=1,
            budget=Budget(max_tokens=40_000, max_search_steps=4),
        )
    easy = [r.grant for r in results if "easy" in r.item.question]
    hard = [r.grant for r in results if "hard" in r.item.question]
    assert min(hard) > max(easy)  # type: ignore[type-var]
    assert sum(r.usage["weighted_tokens"] for r in results) <= 60_000
    assert all(r.usage["weighted_tokens"] <= r.grant for r in results)  # type: ignore[operator]


async def test_under_allocate_the_pool_grants_what_the_laws_choice_costs(
    tmp_path: Path, make_services: MakeServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a law where search buys nothing: each question gets its hop floor, priced by the law
    law = {
        "kind": "leadline.scaling_law",
        "label": "flat test law",
        "joint": {"axes": ["search_steps"], "intercept": 0.0, "coef": {"search_steps": 0.0}},
        "cost": {"intercept": 600.0, "coef": {"search_steps": 800.0}},
        "range": {"search_steps": [0, 4]},
    }
    path = tmp_path / "law.json"
    path.write_text(json.dumps(law))
    monkeypatch.setenv("LEADLINE_ALLOCATION_MODEL", str(path))

    def planner(body: dict[str, Any]) -> str:
        return plan_reply(["topic 5"], hops=3 if "hard" in flatten_prompt(body) else 1)

    handler = by_role(
        planner=planner,
        reasoner=reason_reply("Topic 5", 0.9, done=True),
        answer=answer_reply("Topic 5", [1]),
    )
    with ScriptedLLMServer(handler) as server:
        results = await collect(
            ["What is the easy topic 1?", "What is the hard topic 2?"],
            services=make_services(server),
            pool=20_000,
            concurrency=1,
            policy="allocate",
            budget=Budget(max_tokens=8_000, max_search_steps=4),
        )
    easy, hard = results
    assert easy.grant == math.ceil((600 + 800 * 1) * 1.25)  # one hop: one step's cost
    assert hard.grant == math.ceil((600 + 800 * 3) * 1.25)  # three hops: three steps'
    assert easy.result.allocation["search_steps"] == 1
    assert hard.result.allocation["search_steps"] == 3
    assert all(r.usage["weighted_tokens"] <= r.grant for r in results)  # type: ignore[operator]
