"""What the documented Python API does: README.md's Python blocks, run as written, and the
promises around them (one signature for sync and async, options, search=, llm=, the errors)."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

import leadline
from leadline import (
    Budget,
    ConfigError,
    LeadlineError,
    Passage,
    ResearchOptions,
    SearchError,
    aresearch,
    aresearch_batch,
    research,
    research_batch,
)
from leadline.config import load_settings
from tests.fakes.llm_server import ScriptedLLMServer, by_role
from tests.fakes.search import MemorySearch, make_passages
from tests.graph.helpers import answer_reply, plan_reply, reason_reply

README = Path(__file__).resolve().parents[1] / "README.md"
RUNS_AS_WRITTEN = re.compile(
    r"<!-- tests/test_public_api\.py runs this block as written[^>]*-->\n```python\n(.*?)```",
    re.DOTALL,
)
README_ENDPOINT = "http://localhost:8080/v1"  # the custom-search example's placeholder URL
ANSWER = "US Ambassador to Ghana"
HOTPOT_ROW = {
    "question_id": "q1",
    "question_text": "Which office did the actress who played Corliss Archer hold?",
    "contexts": [
        {
            "title": "Kiss and Tell",
            "paragraph_text": "Shirley Temple played Corliss Archer in Kiss and Tell (1945).",
        },
        {
            "title": "Shirley Temple",
            "paragraph_text": "Shirley Temple Black was the US Ambassador to Ghana.",
        },
    ],
}


def readme_block(marker: str) -> str:
    """The README Python block (one marked as run by this file) that contains `marker`."""
    blocks = [b for b in RUNS_AS_WRITTEN.findall(README.read_text("utf-8")) if marker in b]
    assert len(blocks) == 1, f"{len(blocks)} README blocks contain {marker!r}"
    return blocks[0]


def run_block(code: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    exec(compile(code, str(README), "exec"), namespace)
    return namespace


@pytest.fixture
def server() -> Iterator[ScriptedLLMServer]:
    handler = by_role(
        planner=plan_reply(["Corliss Archer actress"], hops=1),
        reasoner=reason_reply(ANSWER, 0.9, done=True),
        answer=answer_reply(ANSWER),
    )
    with ScriptedLLMServer(handler) as scripted:
        yield scripted


@pytest.fixture
def readme_env(
    server: ScriptedLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ScriptedLLMServer:
    """A reader's machine: an endpoint configured, a data dir, dev300.jsonl in the current
    directory (a one-question stand-in), and nothing else in the environment."""
    import os

    for name in list(os.environ):
        if name.startswith(("LEADLINE_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LEADLINE_BASE_URL", server.base_url)
    monkeypatch.setenv("LEADLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dev300.jsonl").write_text(json.dumps(HOTPOT_ROW) + "\n", "utf-8")
    return server


@pytest.fixture
def hotpot_collection(readme_env: ScriptedLLMServer) -> None:
    """`leadline ingest dev300.jsonl --collection hotpotqa-dev300`, as the README does first."""
    from leadline.tools.search import LocalCorpus, ingest

    ingest(["dev300.jsonl"], LocalCorpus.from_settings(load_settings(), "hotpotqa-dev300"))


def test_the_custom_search_example_runs_as_written(
    readme_env: ScriptedLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = readme_block("class Notes")
    assert code.count(README_ENDPOINT) == 1 and len(code.splitlines()) <= 20
    namespace = run_block(code.replace(README_ENDPOINT, readme_env.base_url))
    result = namespace["result"]
    assert result.answer == ANSWER and result.answer_source == "reader"
    assert [c.title for c in result.citations] == ["Shirley Temple"]
    assert result.usage.total_tokens > 0 and result.usage.search_steps >= 1
    assert capsys.readouterr().out.startswith(f"{ANSWER} {result.usage.total_tokens} ")
    # the searches went to the notes, the calls to the endpoint given as llm=
    assert len(readme_env.requests) == result.usage.llm_calls


async def test_the_custom_search_example_runs_inside_a_running_event_loop(
    readme_env: ScriptedLLMServer,
) -> None:
    """As in a Jupyter cell: `research` is called while this thread runs an event loop."""
    code = readme_block("class Notes").replace(README_ENDPOINT, readme_env.base_url)
    assert run_block(code)["result"].answer == ANSWER


def test_the_research_example_runs_as_written(
    hotpot_collection: None, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_block(readme_block("Who directed the film"))["result"]
    assert result.answer == ANSWER and result.caps.max_search_steps == 4
    assert {c.title for c in result.citations} == {"Shirley Temple"}
    out = capsys.readouterr().out
    assert out.startswith(f"{ANSWER} reader ['Shirley Temple'] RunUsage(")


def test_the_batch_example_runs_as_written(
    hotpot_collection: None, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = run_block(readme_block("research_batch("))
    assert [r.item.id for r in namespace["results"]] == [0, "q2"]
    assert all(r.ok and r.result.answer == ANSWER for r in namespace["results"])
    rows = [json.loads(line) for line in Path("answers.jsonl").read_text().splitlines()]
    assert sorted(str(r["id"]) for r in rows) == ["0", "q2"]
    assert sorted(capsys.readouterr().out.splitlines()) == [f"0 {ANSWER}", f"q2 {ANSWER}"]


def test_the_search_example_runs_as_written(
    readme_env: ScriptedLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = run_block(readme_block("open_search_backend("))
    assert {p.title for p in namespace["passages"]} == {"Kiss and Tell", "Shirley Temple"}
    assert "2 added" in capsys.readouterr().out


def test_research_has_the_signature_of_aresearch_and_blocks() -> None:
    assert inspect.signature(research) == inspect.signature(aresearch)
    assert not inspect.iscoroutinefunction(research) and inspect.iscoroutinefunction(aresearch)
    assert research.__name__ == "research" and "event loop" in (research.__doc__ or "")
    batch = inspect.signature(research_batch).parameters
    assert list(batch) == list(inspect.signature(aresearch_batch).parameters)
    documented = {"budget", "options", "search", "llm", "settings", "services", "option_fields"}
    assert documented <= set(inspect.signature(aresearch).parameters)


def test_every_exported_name_resolves_and_the_errors_are_leadline_errors() -> None:
    for name in leadline.__all__:
        assert getattr(leadline, name) is not None, name
    errors = [getattr(leadline, n) for n in leadline.__all__ if n.endswith("Error")]
    assert len(errors) >= 10
    assert all(issubclass(e, LeadlineError) for e in errors)


def test_options_and_their_keywords_are_one_thing() -> None:
    options = ResearchOptions(policy="fixed", reader_passages=3)
    assert options.updated(shape="parallel", collection=None) == ResearchOptions(
        policy="fixed", shape="parallel", reader_passages=3
    )
    with pytest.raises(ConfigError, match="unknown policy"):
        ResearchOptions(policy="greedy")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ResearchOptions(polcy="fixed")  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="follow_links must be true or false"):
        ResearchOptions(follow_links="no")  # type: ignore[arg-type]
    settings = load_settings(environ={"LEADLINE_FOLLOW_LINKS": "false"})
    assert ResearchOptions().resolved(settings).follow_links is False
    assert ResearchOptions(follow_links=True).resolved(settings).follow_links is True


def test_bad_options_fail_before_any_endpoint_is_contacted(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, base_url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(ConfigError, match="unknown shape"):
        research("Who?", settings=settings, shape="wide")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="polcy"):
        research("Who?", settings=settings, polcy="fixed")  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="async def search"):
        research("Who?", settings=settings, search=object())  # type: ignore[arg-type]


def test_options_object_and_keywords_run_the_same(
    server: ScriptedLLMServer, tmp_path: Path
) -> None:
    settings = load_settings(data_dir=tmp_path, base_url=server.base_url, model="scripted")
    search = MemorySearch(make_passages())
    by_object = research(
        "Which topic holds fact number 5?",
        settings=settings,
        search=search,
        options=ResearchOptions(policy="fixed", shape="sequential"),
        budget=Budget(max_search_steps=1),
        checkpoint=False,
    )
    by_keyword = research(
        "Which topic holds fact number 5?",
        settings=settings,
        search=search,
        policy="fixed",
        shape="sequential",
        budget=Budget(max_search_steps=1),
        checkpoint=False,
    )
    assert by_object.usage.search_steps == by_keyword.usage.search_steps == 1
    assert by_object.to_dict()["caps"] == by_keyword.to_dict()["caps"]


async def test_llm_takes_an_openai_client_and_leaves_it_open(
    server: ScriptedLLMServer, tmp_path: Path
) -> None:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k")
    settings = load_settings(data_dir=tmp_path, environ={})
    result = await aresearch(
        "Which topic holds fact number 5?",
        llm=client,
        search=MemorySearch(make_passages()),
        settings=settings,
        checkpoint=False,
    )
    assert result.answer == ANSWER and len(server.requests) == result.usage.llm_calls
    assert server.requests[0]["model"] == "scripted"  # discovered from the endpoint's /models
    models = await client.models.list()  # the caller's client still works
    assert [m.id for m in models.data] == ["scripted"]
    await client.close()


def test_a_backend_that_returns_no_passages_is_named(
    server: ScriptedLLMServer, tmp_path: Path
) -> None:
    class Strings:
        async def search(self, query: str, k: int) -> list[str]:
            return ["just text"]

    with pytest.raises(TypeError, match="Strings.search must return a list of leadline.Passage"):
        research("Who?", llm=server.base_url, search=Strings(), settings=_settings(tmp_path))  # type: ignore[arg-type]


def test_a_backend_failure_is_noted_and_the_run_goes_on(
    server: ScriptedLLMServer, tmp_path: Path
) -> None:
    class Down:
        async def search(self, query: str, k: int) -> list[Passage]:
            raise SearchError("index offline")

    result = research("Who?", llm=server.base_url, search=Down(), settings=_settings(tmp_path))
    assert result.stop_reason != "error" and result.usage.errors >= 1
    assert any("index offline" in e.error for e in result.events if e.kind == "search")


def _settings(tmp_path: Path) -> Any:
    return load_settings(data_dir=tmp_path, environ={}, config_file=_empty(tmp_path))


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "leadline.toml"
    path.write_text("")
    return path
