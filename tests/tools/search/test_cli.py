"""`leadline ingest` and `leadline search` end to end, through `main()` like a shell would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leadline.cli import main
from tests.tools.search.conftest import write


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A private data dir and an empty config file, so nothing of the developer's leaks in."""
    monkeypatch.setenv("LEADLINE_DATA_DIR", str(tmp_path / "data"))
    for var in ("LEADLINE_CHROMA_URL", "LEADLINE_COLLECTION", "LEADLINE_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    config = write(tmp_path / "leadline.toml", "")
    return ["--config", str(config)]


def test_ingest_then_search(
    cli_env: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(
        tmp_path / "facts.jsonl",
        '{"title": "Tides", "text": "Tides are caused by the Moon."}\n'
        '{"title": "Basalt", "text": "Basalt is a volcanic rock."}\n',
    )
    assert main([*cli_env, "ingest", str(source), "--collection", "facts", "--json"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["added"], summary["files"], summary["collection"]) == (2, 1, "facts")
    assert "2 added" in err
    size = f"{source.stat().st_size}/{source.stat().st_size}"  # progress over the file's bytes
    assert f"checking: 100%|██████████| {size}" in err
    assert f"writing: 100%|██████████| {size}" in err and "added=2, passages=2" in err

    args = [*cli_env, "search", "what causes tides", "--collection", "facts", "-k", "1"]
    assert main([*args, "--json"]) == 0
    out, _ = capsys.readouterr()
    result = json.loads(out.strip().splitlines()[-1])
    assert result["query"] == "what causes tides"
    assert [p["title"] for p in result["passages"]] == ["Tides"]
    assert set(result["passages"][0]) == {"id", "title", "text", "source", "score", "backend"}
    assert (tmp_path / "data" / "cache").exists()

    assert main([*args, "--mode", "bm25", "--no-cache"]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("[1] Tides") and str(source) in out


def test_errors_are_one_line_with_status_2(
    cli_env: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path / "bad.jsonl", '{"text": "fine"}\nnot json\n')
    assert main([*cli_env, "ingest", str(bad), "--collection", "typo"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: invalid JSON" in err
    # the failed ingest created nothing, so searching that collection is still an error
    assert main([*cli_env, "search", "x", "--collection", "typo"]) == 2
    assert "no collection 'typo' to search" in capsys.readouterr().err
    assert main([*cli_env, "search", "x", "--mode", "web"]) == 2
    assert "LEADLINE_SEARXNG_URL" in capsys.readouterr().err
