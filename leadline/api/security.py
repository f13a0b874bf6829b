"""Who may call the API and how much they may send: API keys, the body limit, and error bodies.

With `LEADLINE_API_KEYS` set, every /v1 route needs `Authorization: Bearer <key>`; a key is
known to the store only by a short hash (`key_id`), which also scopes what a caller can see.
Every error leaves the server in one JSON shape, OpenAI's — `{"error": {"message", "type",
"code", "param"}}` — so the official `openai` client shows leadline's messages as they are.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadline.api.jobs import JobLimitError, JobStateError, ServerStopping
from leadline.errors import BudgetError, ConfigError, LeadlineError
from leadline.text import dumps

ANONYMOUS = "anonymous"
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "service_unavailable",
}


class SafeJSONResponse(JSONResponse):
    """A JSON response that cannot fail to encode: text holding a lone surrogate (which UTF-8
    cannot carry, e.g. a field name echoed in a validation error) is sent as a JSON escape."""

    def render(self, content: Any) -> bytes:
        return dumps(content, allow_nan=False, separators=(",", ":")).encode("utf-8")


class ApiError(Exception):
    """An error answered with `status` and a clear message."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers or {}
        self.extra = extra


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    error = {
        "message": message,
        "type": ERROR_TYPES.get(status, "server_error"),
        "code": code,
        "param": param,
        **extra,
    }
    return SafeJSONResponse({"error": error}, status_code=status, headers=headers)


def key_id(key: str) -> str:
    return "key_" + hashlib.sha256(key.encode()).hexdigest()[:12]


bearer = HTTPBearer(auto_error=False, description="One of the server's LEADLINE_API_KEYS.")


async def require_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    """The caller's key id, or `anonymous` when the server has no keys configured."""
    keys: tuple[str, ...] = request.app.state.api_config.api_keys
    if not keys:
        return ANONYMOUS
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise ApiError(
            401,
            "missing API key: send 'Authorization: Bearer <key>'",
            code="missing_api_key",
            headers=challenge,
        )
    given = credentials.credentials.encode()
    for key in keys:
        if hmac.compare_digest(given, key.encode()):
            return key_id(key)
    raise ApiError(401, "invalid API key", code="invalid_api_key", headers=challenge)


STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def host_of(value: str) -> str:
    """The host name of a `Host` header value (`name:port`, `[::1]:port`), lower-cased."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def is_loopback_name(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HostCheckMiddleware:
    """Refuse requests whose `Host` (or, for POST and the like, `Origin`) is not this server.

    Without API keys the API trusts whoever reaches it, which on loopback means this machine.
    A web page the user visits can still reach it by DNS rebinding (its own name resolving to
    127.0.0.1), but its requests then carry that name in `Host` and its origin in `Origin`, so
    both must name a loopback address or one of `allowed_hosts`. With keys and no
    `allowed_hosts` every host is accepted: a page cannot send a key it does not know.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: tuple[str, ...], enforce: bool) -> None:
        self.app = app
        self.allowed = frozenset(h.lower() for h in allowed_hosts)
        self.enforce = enforce or bool(self.allowed)

    def allows(self, host: str) -> bool:
        return host in self.allowed or is_loopback_name(host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.enforce:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        host = host_of(headers.get(b"host", b"").decode("latin-1"))
        origin = headers.get(b"origin")
        refused = None
        if not self.allows(host):
            refused = f"Host {host!r} is not this server; allowed: loopback addresses"
        elif origin is not None and scope.get("method") in STATE_CHANGING:
            origin_host = urlsplit(origin.decode("latin-1")).hostname or ""
            if not self.allows(origin_host.lower()):
                refused = f"requests from the web origin {origin.decode('latin-1')!r} are refused"
        if refused is not None:
            if self.allowed:
                refused += " and " + ", ".join(sorted(self.allowed))
            response = error_response(
                403, f"{refused} (LEADLINE_API_ALLOWED_HOSTS adds names)", code="host_not_allowed"
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413, whether declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            f"request body is larger than this server's limit of {self.max_bytes} bytes",
            code="body_too_large",
        )
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # after the body: disconnects, for streaming responses

        await self.app(scope, replay, send)


def _validation_message(exc: RequestValidationError) -> tuple[int, str, str | None]:
    errors = exc.errors()
    for err in errors:
        if err.get("type") == "json_invalid":
            return 400, "request body is not valid JSON", None
    parts = []
    params = []
    for err in errors[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        where = ".".join(loc)
        params.append(where)
        if err.get("type") == "missing" and not loc:
            parts.append("request body is missing: send a JSON object")
        else:
            parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return 422, "; ".join(parts), params[0] if params else None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status,
            exc.message,
            code=exc.code,
            param=exc.param,
            headers=exc.headers,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message, param = _validation_message(exc)
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return error_response(status, message, code="invalid_request", param=param, details=details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = "no such route; see /docs"
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(LeadlineError)
    async def _leadline(_request: Request, exc: LeadlineError) -> JSONResponse:
        if isinstance(exc, JobLimitError):
            return error_response(429, str(exc), code="too_many_jobs", headers={"Retry-After": "5"})
        if isinstance(exc, JobStateError):
            return error_response(409, str(exc), code="job_not_cancellable")
        if isinstance(exc, ServerStopping):
            return error_response(503, str(exc), code="shutting_down", headers={"Retry-After": "5"})
        if isinstance(exc, BudgetError):
            return error_response(422, str(exc), code="invalid_budget", param="budget")
        if isinstance(exc, ConfigError):
            return error_response(422, str(exc), code="invalid_request")
        return error_response(500, str(exc), code=type(exc).__name__)
