"""open_services against a remote (scripted) endpoint, slot pinning, and the model/doctor CLI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from leadline.cli import main
from leadline.config import Settings
from leadline.diagnostics import check_llm, diagnose
from leadline.errors import ConfigError, LLMUnavailable
from leadline.services import Services, discover_model, open_services
from leadline.tools.llm import LLMClient


def remote(server, tmp_path: Path, **kw) -> Settings:
    return Settings(base_url=server.base_url, data_dir=tmp_path, **kw)


async def test_open_services_uses_configured_endpoint(scripted_llm, tmp_path: Path) -> None:
    server = scripted_llm("pong", model="remote-model")
    async with open_services(remote(server, tmp_path)) as services:
        assert services.server is None
        assert services.llm.model == "remote-model"  # discovered from /models
        completion = await services.llm.chat([{"role": "user", "content": "ping"}], max_tokens=4)
    assert completion.text == "pong"


async def test_explicit_model_skips_discovery(scripted_llm, tmp_path: Path) -> None:
    server = scripted_llm("x")
    async with open_services(remote(server, tmp_path, model="chosen")) as services:
        assert services.llm.model == "chosen"


async def test_discover_model_unreachable() -> None:
    with pytest.raises(LLMUnavailable, match="set LEADLINE_MODEL"):
        await discover_model("http://127.0.0.1:9/v1", None, timeout_s=1)


async def test_remote_endpoints_get_no_slot_field(tmp_path: Path) -> None:
    llm = LLMClient(base_url="http://127.0.0.1:9/v1", model="m")
    services = Services(Settings(data_dir=tmp_path, parallel_slots=2), llm)
    assert services.slots == 2
    assert services.slot_extra_body(1) == {}
    with pytest.raises(ConfigError, match="out of range"):
        services.slot_extra_body(2)
    await llm.aclose()


async def test_acquire_slot_hands_out_each_slot_once(tmp_path: Path) -> None:
    llm = LLMClient(base_url="http://127.0.0.1:9/v1", model="m")
    embedded = SimpleNamespace(parallel_slots=2)  # stands in for EmbeddedServer: only slots matter
    services = Services(Settings(data_dir=tmp_path), llm, server=embedded)  # type: ignore[arg-type]
    held: list[int] = []

    async def run() -> None:
        async with services.acquire_slot() as slot:
            assert slot not in held
            held.append(slot)
            await asyncio.sleep(0.01)
            held.remove(slot)

    await asyncio.gather(*(run() for _ in range(6)))
    assert services.slot_extra_body(1) == {"id_slot": 1}
    await llm.aclose()


async def test_remote_endpoints_are_not_serialised_by_slots(tmp_path: Path) -> None:
    llm = LLMClient(base_url="http://127.0.0.1:9/v1", model="m")
    services = Services(Settings(data_dir=tmp_path), llm)
    inside = 0
    peak = 0

    async def run() -> None:
        nonlocal inside, peak
        async with services.acquire_slot():
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(run() for _ in range(5)))
    assert peak == 5
    assert services.slot_extra_body(0) == {}
    await llm.aclose()


async def test_check_llm_reports_reply_and_usage(scripted_llm, tmp_path: Path) -> None:
    server = scripted_llm("Paris.")
    result = await check_llm(remote(server, tmp_path, model="m"))
    assert result["ok"] is True and result["reply"] == "Paris."
    assert result["usage"]["prompt_tokens"] > 0


async def test_diagnose_remote(scripted_llm, tmp_path: Path) -> None:
    server = scripted_llm("x")
    settings = remote(server, tmp_path, searxng_url="http://127.0.0.1:9", api_key="sk-secret")
    report = await diagnose(settings.model_copy(update={"parallel_slots": 3}))
    assert report["ok"] is True and report["endpoint"]["reachable"] is True
    assert report["settings"]["parallel_slots"] == 3 and report["settings"]["kv_mode"] == "shared"
    assert report["settings"]["api_key"] == "set" and "sk-secret" not in json.dumps(report)
    assert report["searxng"]["reachable"] is False
    assert report["chroma"]["url"] is None and report["tokens"]["offline"] is True


async def test_diagnose_missing_model_file(tmp_path: Path) -> None:
    report = await diagnose(Settings(data_dir=tmp_path, model_size="0.5b"))
    assert report["ok"] is False
    assert report["model_file"]["exists"] is False
    assert "leadline model install" in report["model_file"]["error"]


def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> None:
    monkeypatch.chdir(tmp_path)
    for key in ("LEADLINE_CONFIG", "OPENAI_BASE_URL", "OPENAI_API_KEY", "LEADLINE_MODEL_PATH"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("LEADLINE_DATA_DIR", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def test_cli_model_check_json(scripted_llm, tmp_path, monkeypatch, capsys) -> None:
    server = scripted_llm("Paris.")
    _env(monkeypatch, tmp_path, LEADLINE_BASE_URL=server.base_url, LEADLINE_MODEL="m")
    assert main(["model", "check", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["ok"] is True and out["model"] == "scripted" and out["reply"] == "Paris."
    assert set(out["usage"]) >= {"prompt_tokens", "cached_tokens", "completion_tokens"}


def test_cli_model_check_failure_is_json_and_nonzero(tmp_path, monkeypatch, capsys) -> None:
    _env(monkeypatch, tmp_path, LEADLINE_MODEL_PATH=str(tmp_path / "absent.gguf"))
    assert main(["model", "check", "--json"]) == 2
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["ok"] is False and "absent.gguf" in out["error"]


def test_cli_doctor_json(scripted_llm, tmp_path, monkeypatch, capsys) -> None:
    server = scripted_llm("x")
    _env(monkeypatch, tmp_path, LEADLINE_BASE_URL=server.base_url)
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["endpoint"]["base_url"] == server.base_url
    assert report["data_dir"] == {"path": str(tmp_path), "exists": True}
