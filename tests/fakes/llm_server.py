"""A scripted OpenAI-compatible chat server on 127.0.0.1, the test double for every LLM call.

`ScriptedLLMServer(handler)` serves POST /v1/chat/completions. The handler gets the parsed request
body and returns either a string (the reply content) or a `Reply` (content plus status, headers,
delay, explicit usage — e.g. inflated far beyond what the call could cost — or a raw body sent
verbatim, such as an HTML page with HTTP 200, as a broken proxy would). Usage is reported like
a real server with prefix caching: prompt tokens are the server tokenizer's count of the
flattened prompt, and cached tokens the longest token prefix shared with an earlier prompt, so
shared-KV tests see realistic numbers. The tokenizer is cl100k (leadline's estimator's own) by
default; `tokenizer=QWEN_LIKE` bills like a real local model instead, more tokens than cl100k
counts, which is what the estimator's safety margin is for.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from leadline.tools.tokens import _encoding


@dataclass
class Reply:
    content: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    usage: dict[str, Any] | None = None
    raw_body: str | None = None  # sent verbatim instead of a chat completion
    content_type: str = "application/json"
    logprobs: list[tuple[str, float]] | None = None  # (token, logprob) sent with the choice


@dataclass(frozen=True)
class Tokenizer:
    """How the fake server counts tokens, relative to cl100k (what leadline estimates with)."""

    skew: float = 1.0  # server tokens per cl100k token
    per_message: int = 0  # chat-template tokens around each message
    per_request: int = 0  # e.g. the header of the assistant turn the template opens

    def scale(self, cl100k_tokens: int) -> int:
        return math.ceil(cl100k_tokens * self.skew)

    def prompt_tokens(self, cl100k_tokens: int, n_messages: int) -> int:
        return self.scale(cl100k_tokens) + self.per_message * n_messages + self.per_request


CL100K = Tokenizer()
# Qwen2.5's tokenizer needs up to ~15% more tokens than cl100k on names and numbers, and its
# chat template wraps each message in `<|im_start|>role ... <|im_end|>` and opens the reply.
QWEN_LIKE = Tokenizer(skew=1.15, per_message=5, per_request=3)


HTML_PAGE = "<html><body><h1>502 Bad Gateway</h1></body></html>"


def not_json(status: int = 200) -> Reply:
    """A reply whose body is an HTML page, not a chat completion (a proxy's error page)."""
    return Reply(status=status, raw_body=HTML_PAGE, content_type="text/html")


def inflated(content: str, prompt_tokens: int = 50_000, completion_tokens: int = 5_000) -> Reply:
    """A reply whose server-reported usage is far above anything a cap allows."""
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    return Reply(content=content, usage=usage)


Handler = Callable[[dict[str, Any]], "str | Reply"]


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # the default 5 resets connections under 64 concurrent clients


def flatten_prompt(body: dict[str, Any]) -> str:
    return "".join(f"<{m.get('role')}>{m.get('content') or ''}" for m in body.get("messages", []))


def script(*replies: str | Reply) -> Handler:
    """A handler that plays `replies` in order, repeating the last one."""
    queue = list(replies)
    lock = threading.Lock()

    def handler(_body: dict[str, Any]) -> str | Reply:
        with lock:
            return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler


class ScriptedLLMServer:
    def __init__(
        self,
        handler: Handler,
        *,
        model: str = "scripted",
        cache: bool = True,
        tokenizer: Tokenizer = CL100K,
    ) -> None:
        self.handler = handler
        self.model = model
        self.cache = cache
        self.tokenizer = tokenizer
        self.requests: list[dict[str, Any]] = []
        self._prompts: list[list[int]] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._make_handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> ScriptedLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def usage_for(self, body: dict[str, Any], content: str) -> dict[str, Any]:
        enc = _encoding()
        ids = enc.encode(flatten_prompt(body), disallowed_special=())
        cached = 0
        with self._lock:
            if self.cache:
                for prev in self._prompts:
                    n = 0
                    for a, b in zip(prev, ids, strict=False):
                        if a != b:
                            break
                        n += 1
                    cached = max(cached, n)
            self._prompts.append(ids)
        tok = self.tokenizer
        prompt = tok.prompt_tokens(len(ids), len(body.get("messages") or []))
        completion = tok.scale(len(enc.encode(content, disallowed_special=())))
        completion = min(completion, int(body.get("max_tokens") or completion))
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": min(tok.scale(cached), max(prompt - 1, 0))},
        }

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to every request

            def log_message(self, *args: Any) -> None:
                pass

            def _send(
                self,
                status: int,
                body: str,
                headers: dict[str, str] | None = None,
                content_type: str = "application/json",
            ) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                # a client that gave up (a timeout test) leaves a broken pipe; nothing to report
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, json.dumps({"data": [{"id": server.model, "object": "model"}]}))
                else:
                    self._send(404, json.dumps({"error": {"message": "not found"}}))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append(body)
                reply = server.handler(body)
                if isinstance(reply, str):
                    reply = Reply(content=reply)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.raw_body is not None or reply.status != 200:
                    self._send(
                        reply.status,
                        reply.raw_body
                        or json.dumps({"error": {"message": f"scripted HTTP {reply.status}"}}),
                        reply.headers,
                        reply.content_type,
                    )
                    return
                usage = reply.usage or server.usage_for(body, reply.content)
                choice: dict[str, Any] = {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": "stop",
                }
                if reply.logprobs is not None:
                    choice["logprobs"] = {
                        "content": [
                            {"token": t, "logprob": lp, "bytes": None, "top_logprobs": []}
                            for t, lp in reply.logprobs
                        ]
                    }
                payload = {
                    "id": "chatcmpl-scripted",
                    "object": "chat.completion",
                    "created": 0,
                    "model": server.model,
                    "choices": [choice],
                    "usage": usage,
                }
                self._send(200, json.dumps(payload), reply.headers)

        return _Handler


REPAIR_MARK = "Your reply was not valid JSON"


def agent_role(body: dict[str, Any]) -> str:
    """Which call this is: "repair" (the client asking a model to fix its JSON: the repair turn
    is the last message), else the agent whose instruction the prompt ends with (planner,
    reasoner, answer), else "other"."""
    messages = body.get("messages") or []
    if messages and REPAIR_MARK in str(messages[-1].get("content") or ""):
        return "repair"
    text = flatten_prompt(body)
    tail = text[text.rfind("Your job:") :]
    if tail.startswith("Your job: plan"):
        return "planner"
    if tail.startswith("Your job: reason"):
        return "reasoner"
    if tail.startswith("Your job: give the final answer"):
        return "answer"
    return "other"


def repaired_role(body: dict[str, Any]) -> str:
    """The agent whose reply a repair call asks to fix (its request without the last two turns)."""
    return agent_role({**body, "messages": (body.get("messages") or [])[:-2]})


def by_role(**replies: Any) -> Handler:
    """A handler answering each agent from its own script: by_role(planner=..., reasoner=[...]).

    `repair=` answers every JSON-repair call; without it, a repair call is answered from the
    script of the agent whose reply is being repaired.
    """
    queues = {role: list(r) if isinstance(r, list) else [r] for role, r in replies.items()}
    lock = threading.Lock()

    def handler(body: dict[str, Any]) -> str | Reply:
        role = agent_role(body)
        if role == "repair" and "repair" not in queues:
            role = repaired_role(body)
        with lock:
            queue = queues.get(role) or queues.get("default") or ["{}"]
            reply = queue.pop(0) if len(queue) > 1 else queue[0]
        return reply(body) if callable(reply) else reply

    return handler
