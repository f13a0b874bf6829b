"""LocalCorpus against a real `chroma run` server the test starts on 127.0.0.1 and stops."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from leadline.config import load_settings
from leadline.errors import SearchError
from leadline.tools.search.corpus import LocalCorpus
from leadline.tools.search.ingest import ingest
from leadline.tools.search.stores import http_client
from tests.tools.search.conftest import write

CHROMA = Path(sys.executable).parent / "chroma"
STARTUP_S = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    binary = CHROMA if CHROMA.exists() else shutil.which("chroma")
    if binary is None:
        pytest.skip("the `chroma` CLI (shipped with chromadb) is not installed")
    port = _free_port()
    log = (tmp_path / "chroma.log").open("w")
    proc = subprocess.Popen(
        [
            str(binary),
            "run",
            "--path",
            str(tmp_path / "server-data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"chroma run exited with {proc.returncode}: "
                    f"{(tmp_path / 'chroma.log').read_text()[-2000:]}"
                )
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"chroma run did not answer within {STARTUP_S}s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.chroma_server
async def test_corpus_over_http(chroma_server: str, tmp_path: Path) -> None:
    (tmp_path / "leadline.toml").write_text("")
    settings = load_settings(
        config_file=tmp_path / "leadline.toml",
        environ={},
        data_dir=tmp_path / "data",
        chroma_url=chroma_server,
    )
    corpus = LocalCorpus.from_settings(settings, "shared")
    source = write(
        tmp_path / "facts.jsonl",
        '{"title": "Mount Fuji", "text": "Mount Fuji is the highest volcano in Japan."}\n'
        '{"title": "Basalt", "text": "Basalt is a fine-grained volcanic rock."}\n',
    )
    summary = ingest([source], corpus, progress=False)
    assert summary.added == 2 and corpus.count() == 2
    for mode in ("bm25", "dense", "hybrid"):
        hits = await corpus.with_mode(mode).search("tallest mountain in Japan", 1)  # type: ignore[arg-type]
        assert hits[0].title == "Mount Fuji", mode
    # The BM25 index lives locally, beside the data dir, keyed by the server address.
    assert list((tmp_path / "data" / "bm25").glob("127.0.0.1_*/shared/manifest.json"))
    # A second client (another machine, say) sees the same collection.
    other = LocalCorpus.from_settings(
        settings.model_copy(update={"data_dir": tmp_path / "d2"}), "shared", mode="bm25"
    )
    assert (await other.search("basalt rock", 1))[0].title == "Basalt"
    await other.aclose()
    await corpus.aclose()
    await corpus.aclose()  # idempotent


def test_unreachable_server_is_a_search_error() -> None:
    with pytest.raises(SearchError, match="cannot reach the chroma server"):
        http_client(f"http://127.0.0.1:{_free_port()}")
