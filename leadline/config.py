"""Typed settings for every part of leadline, resolved in one place.

Precedence, highest first: explicit keyword arguments to `load_settings`, environment variables
(`LEADLINE_*`, with `OPENAI_BASE_URL` / `OPENAI_API_KEY` as fallbacks for the endpoint), a TOML
file (`LEADLINE_CONFIG`, else `./leadline.toml` when present), then the defaults below.
Settings are immutable; derive a changed copy with `settings.model_copy(update={...})`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leadline.errors import ConfigError

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "leadline"
DEFAULT_CONFIG_FILE = Path("leadline.toml")
DEFAULT_COLLECTION = "default"

ModelSize = Literal["1.5b", "0.5b"]
KVMode = Literal["shared", "isolated"]
# Chosen on dev300 questions 1-47 (benchmarks/results/README.md, "Confident stop").
DEFAULT_STOP_CONFIDENCE = 0.8
# llama.cpp's speculative decoding for the embedded server: n-gram lookup drafts from the text
# already in context (free on CPU), "draft" runs the packaged 0.5B model as a draft.
Speculative = Literal["none", "ngram-simple", "ngram-mod", "ngram-map-k", "draft"]

# Environment variable -> settings field. The OPENAI_* names are fallbacks only.
ENV_VARS: dict[str, str] = {
    "LEADLINE_BASE_URL": "base_url",
    "LEADLINE_API_KEY": "api_key",
    "LEADLINE_MODEL": "model",
    "LEADLINE_MODEL_PATH": "model_path",
    "LEADLINE_MODEL_SIZE": "model_size",
    "LEADLINE_DATA_DIR": "data_dir",
    "LEADLINE_CHROMA_URL": "chroma_url",
    "LEADLINE_SEARXNG_URL": "searxng_url",
    "LEADLINE_TIMEOUT_S": "request_timeout_s",
    "LEADLINE_MAX_RETRIES": "max_retries",
    "LEADLINE_THREADS": "threads",
    "LEADLINE_CTX_PER_SLOT": "ctx_per_slot",
    "LEADLINE_PARALLEL": "parallel_slots",
    "LEADLINE_KV_MODE": "kv_mode",
    "LEADLINE_SPECULATIVE": "speculative",
    "LEADLINE_COLLECTION": "collection",
    "LEADLINE_CACHE_SALT": "cache_salt",
    "LEADLINE_PASSAGES_PER_QUERY": "passages_per_query",
    "LEADLINE_READER_PASSAGES": "reader_passages",
    "LEADLINE_FOLLOW_LINKS": "follow_links",
    "LEADLINE_STOP_CONFIDENCE": "stop_confidence",
    "LEADLINE_ALLOCATION_MODEL": "allocation_model",
}
FALLBACK_ENV_VARS: dict[str, str] = {
    "OPENAI_BASE_URL": "base_url",
    "OPENAI_API_KEY": "api_key",
}


class Settings(BaseModel):
    """Where leadline finds its model, endpoint, data and services."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str | None = Field(None, description="OpenAI-compatible endpoint; None = embedded.")
    api_key: str | None = Field(None, description="API key for base_url.")
    model: str | None = Field(None, description="Model name sent to the endpoint.")
    model_path: Path | None = Field(None, description="GGUF file for the embedded server.")
    model_size: ModelSize = Field(
        "1.5b", description="Which packaged model the embedded server uses."
    )
    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Models, indexes, caches, checkpoints.")
    chroma_url: str | None = Field(None, description="chroma server URL; None = embedded chromadb.")
    searxng_url: str | None = Field(None, description="SearXNG instance for web search.")
    collection: str = Field(DEFAULT_COLLECTION, description="Default corpus collection.")
    request_timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(4, ge=0, le=20)
    threads: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1)
    ctx_per_slot: int = Field(8192, ge=512)
    parallel_slots: int = Field(1, ge=1, le=64)
    kv_mode: KVMode = "shared"
    speculative: Speculative = Field(
        "none", description="Speculative decoding of the embedded server (benchmarks/README.md)."
    )
    cache_salt: str | None = Field(
        None, description="vLLM cache_salt: isolates this tenant's prefix cache."
    )
    passages_per_query: int = Field(
        5, ge=1, le=20, description="Hits of each query kept in the evidence pool."
    )
    reader_passages: int = Field(
        2, ge=1, le=20, description="Pool passages the final reader reads (K)."
    )
    follow_links: bool = Field(
        True, description="Follow the link graph after each search round, where there is one."
    )
    stop_confidence: float = Field(
        DEFAULT_STOP_CONFIDENCE,
        ge=0.0,
        le=1.0,
        description="Read after the first search round and stop there when the reader is at "
        "least this sure of its answer (0 = never read early).",
    )
    allocation_model: Path | None = Field(
        None,
        description="The fitted law (law.json from `leadline sweep`) the allocate policy reads; "
        "None = the one shipped with leadline.",
    )

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def uses_embedded_model(self) -> bool:
        return self.base_url is None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    # Accept either top-level keys or a [leadline] table.
    return dict(data.get("leadline", data))


def _read_env(environ: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for var, field in FALLBACK_ENV_VARS.items():
        if environ.get(var):
            values[field] = environ[var]
    for var, field in ENV_VARS.items():
        if environ.get(var):
            values[field] = environ[var]
    return values


def load_settings(
    config_file: Path | str | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Resolve settings from defaults, a TOML file, the environment and explicit overrides."""
    env = dict(os.environ if environ is None else environ)
    path = Path(config_file or env.get("LEADLINE_CONFIG") or DEFAULT_CONFIG_FILE)
    values: dict[str, Any] = {}
    if path.exists():
        values.update(_read_toml(path))
    elif config_file is not None or env.get("LEADLINE_CONFIG"):
        raise ConfigError(f"config file {path} does not exist")
    values.update(_read_env(env))
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {exc}") from exc
