"""A real API server for tests: uvicorn on 127.0.0.1 in a thread, a scripted LLM behind it.

`ApiHarness` starts `create_app` under `ApiServer` on a free port, with `Services` built in the
server's own event loop (a scripted LLM endpoint and an in-memory corpus), and stops it the way
Ctrl-C would. Two harnesses on the same data directory are a server restart.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from leadline.api.app import create_app
from leadline.api.config import ApiConfig
from leadline.api.server import make_server
from leadline.config import Settings
from leadline.services import Services
from leadline.tools.llm import LLMClient
from tests.fakes.llm_server import Handler, ScriptedLLMServer, by_role
from tests.fakes.search import MemorySearch, make_passages
from tests.graph.helpers import answer_reply, plan_reply, reason_reply

QUESTION = "Which topic holds fact number 5?"


def quick_handler(**overrides: Any) -> Handler:
    """One search, one reasoning step that settles, one cited answer."""
    replies = {
        "planner": plan_reply(["topic 5"], hops=1),
        "reasoner": reason_reply("Topic 5", 0.9, done=True),
        "answer": answer_reply("Topic 5", [1]),
    }
    return by_role(**{**replies, **overrides})


def scripted_factory(base_url: str, search: Any = None, catalog: Any = None) -> Any:
    @asynccontextmanager
    async def factory(settings: Settings) -> AsyncIterator[Services]:
        llm = LLMClient(base_url=base_url, model="scripted", max_retries=0, timeout_s=30)
        try:
            yield Services(
                settings=settings,
                llm=llm,
                search=search or MemorySearch(make_passages()),
                catalog=catalog,
            )
        finally:
            await llm.aclose()

    return factory


class ApiHarness:
    def __init__(
        self,
        data_dir: Path,
        llm_url: str,
        config: ApiConfig | None = None,
        factory: Any = None,
        port: int = 0,
        stop_confidence: float = 0.0,
    ) -> None:
        """`port=0` takes a free port; a given one restarts a server where a client expects it."""
        # No early read: these stacks test jobs, streams and storage with a scripted reader
        # that gives no log-probabilities (test_research.py has the early read's own tests).
        settings = Settings(
            base_url=llm_url,
            model="scripted",
            data_dir=data_dir,
            parallel_slots=64,
            stop_confidence=stop_confidence,
        )
        self.app = create_app(
            settings,
            api_config=config or ApiConfig(),
            services_factory=factory or scripted_factory(llm_url),
        )
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self.port = self._sock.getsockname()[1]
        self.server = make_server(self.app, "127.0.0.1", self.port, log_level="warning")
        self._thread = threading.Thread(
            target=self.server.run,
            kwargs={"sockets": [self._sock]},
            daemon=True,
            name=f"api-{self.port}",
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ApiHarness:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=20)
        self._sock.close()
        if self._thread.is_alive():
            raise RuntimeError("the API server did not stop")

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **kwargs)


class Stack:
    """Servers a test started, stopped in reverse order at its end."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self._stops: list[Any] = []

    def llm(self, handler: Handler | None = None) -> ScriptedLLMServer:
        server = ScriptedLLMServer(handler or quick_handler()).__enter__()
        self._stops.append(lambda: server.__exit__(None, None, None))
        return server

    def api(
        self,
        llm: ScriptedLLMServer | None = None,
        config: ApiConfig | None = None,
        data_dir: Path | None = None,
        **kwargs: Any,
    ) -> ApiHarness:
        llm = llm or self.llm()
        harness = ApiHarness(data_dir or self.tmp_path / "data", llm.base_url, config, **kwargs)
        harness.start()
        self._stops.append(harness.stop)
        return harness

    def close(self) -> None:
        while self._stops:
            self._stops.pop()()


def sse_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse a text/event-stream into {"id", "event", "data"} dicts (comments skipped)."""
    event: dict[str, Any] = {}
    for line in response.iter_lines():
        if not line:
            if "data" in event:
                yield event
            event = {}
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            event[name] = json.loads(value) if name == "data" and value[:1] in "{[" else value


def wait_for(client: httpx.Client, job_id: str, timeout: float = 20) -> dict[str, Any]:
    """Poll a job until it has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/research/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s")


def submit(client: httpx.Client, question: str = QUESTION, **body: Any) -> str:
    response = client.post("/v1/research", json={"question": question, **body})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])
