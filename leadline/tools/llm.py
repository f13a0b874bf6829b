"""Async client for any OpenAI-compatible chat endpoint, with retries and typed usage.

Every call returns the text and a `Usage` record taken from the server's own `usage` block
(including `prompt_tokens_details.cached_tokens`), because the budget ledger must count what the
server billed, not what we guessed; a server that reports no usage (or nonsense: negative or
non-numeric counts) gets our conservative estimate instead (`Usage.estimated`), never zero.
Retries (tenacity) cover connection errors, timeouts, 429 and 5xx with exponential backoff,
jitter and `Retry-After`; other 4xx fail at once. An HTTP 200 whose body is not a chat
completion (HTML from a proxy, a truncated body) is retried like a 5xx, then raised as
`LLMResponseError`. Reply text is repaired of lone surrogates, so nothing downstream fails to
encode it. `chat_json` asks for JSON-schema-constrained output and falls back to tolerant
parsing with one repair attempt. A `CallGuard` sees every attempt: `before` may veto it, `after`
books what it cost, and `unanswered` books the worst case of an attempt that timed out or whose
reply could not be read (the server may have done, and billed, all of it).
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import openai
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from leadline.errors import (
    LLMError,
    LLMOutputError,
    LLMRequestError,
    LLMResponseError,
    LLMTimeout,
    LLMUnavailable,
)
from leadline.templates import render_template
from leadline.text import repair
from leadline.tools.tokens import count_tokens, estimate_prompt_tokens
from leadline.usage import TokenUsage

Message = dict[str, Any]
T = TypeVar("T", bound=BaseModel)

MAX_RETRY_AFTER_S = 30.0
# The JSON-repair turn lives with the client (leadline/tools/prompts/): repairing structured output
# is the client's job, and the tools layer must not reach up into the agents' prompts.
PROMPTS_PACKAGE = "leadline.tools"


@dataclass(frozen=True)
class Usage(TokenUsage):
    """Tokens one call was billed, as the server reported them."""

    reasoning_tokens: int = 0
    latency_s: float = 0.0
    estimated: bool = False  # the server reported no usage; these are our own counts


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    model: str
    finish_reason: str | None = None
    # (token, log-probability) of each completion token, when asked for and the server gave them
    token_logprobs: tuple[tuple[str, float], ...] = ()


class CallGuard(Protocol):
    """Sees each attempt: `before` may raise to veto it, `after` records what it cost,
    `unanswered` records an attempt that timed out or whose reply could not be read (its worst
    case, since it may have run)."""

    def before(self, messages: Sequence[Message], max_tokens: int) -> None: ...

    def after(self, completion: Completion) -> None: ...

    def unanswered(self, messages: Sequence[Message], max_tokens: int) -> None: ...


def usage_from_response(
    raw_usage: Any, latency_s: float, messages: Sequence[Message] = (), text: str = ""
) -> Usage:
    """Read an OpenAI-style usage block. Without one (or with no prompt tokens, which no real
    call has), count the call ourselves, so a budget never sees a call as free."""
    data = {}
    if raw_usage is not None:
        data = raw_usage if isinstance(raw_usage, dict) else raw_usage.model_dump(warnings=False)
    if not _count(data.get("prompt_tokens")):
        return Usage(
            prompt_tokens=estimate_prompt_tokens(messages),
            completion_tokens=count_tokens(text),
            latency_s=latency_s,
            estimated=True,
        )
    prompt_details = data.get("prompt_tokens_details") or {}
    completion_details = data.get("completion_tokens_details") or {}
    prompt = _count(data.get("prompt_tokens"))
    if not isinstance(prompt_details, dict):
        prompt_details = {}
    if not isinstance(completion_details, dict):
        completion_details = {}
    completion = data.get("completion_tokens")
    return Usage(
        prompt_tokens=prompt,
        cached_tokens=min(_count(prompt_details.get("cached_tokens")), prompt),
        completion_tokens=count_tokens(text)
        if completion is not None and _count(completion) == 0 and completion != 0
        else _count(completion),
        reasoning_tokens=_count(completion_details.get("reasoning_tokens")),
        latency_s=latency_s,
    )


def _token_logprobs(choice: Any) -> tuple[tuple[str, float], ...]:
    """The choice's (token, logprob) pairs; () when the server sent none or sent them malformed."""
    content = getattr(getattr(choice, "logprobs", None), "content", None) or []
    try:
        return tuple((str(t.token), float(t.logprob)) for t in content)
    except (AttributeError, TypeError, ValueError):
        return ()


def _count(value: Any) -> int:
    """A token count from a usage block: a non-negative integer, else 0 (never a crash, and
    never a negative count that would hand a run tokens back)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    if value != value or value < 0 or value == float("inf"):
        return 0
    return int(value)


_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


def extract_json_text(text: str) -> str:
    """Strip code fences and surrounding prose, keeping the outermost JSON object."""
    match = _FENCE.match(text)
    if match:
        text = match.group(1)
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        return text[start : end + 1]
    return text.strip()


def parse_json_reply(text: str, schema: type[T]) -> T:
    """Parse a model reply into `schema`, tolerating fences and chatter; raise LLMOutputError."""
    candidate = extract_json_text(text)
    try:
        return schema.model_validate(json.loads(candidate))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise LLMOutputError(f"reply is not valid {schema.__name__} JSON: {exc}", raw=text) from exc


def repair_messages(messages: Sequence[Message], bad_reply: str, error: str) -> list[Message]:
    """The follow-up request that asks the model to fix its own malformed JSON."""
    return [
        *messages,
        {"role": "assistant", "content": bad_reply},
        {
            "role": "user",
            "content": render_template(PROMPTS_PACKAGE, "json_repair", error=error[:300]),
        },
    ]


@functools.cache
def json_schema_format(schema: type[BaseModel]) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {
            "name": schema.__name__,
            "schema": schema.model_json_schema(),
            "strict": False,
        },
    }


class _NotACompletion(Exception):
    """An HTTP 200 whose body is not a chat completion; retried, then `LLMResponseError`."""


def _check_completion(response: Any, base_url: str) -> Any:
    """The first choice of a well-formed chat completion, or `_NotACompletion` saying why."""
    choices = getattr(response, "choices", None)
    if isinstance(response, str):  # openai hands back the text of a non-JSON content type
        raise _NotACompletion(_not_a_completion(base_url, f"not JSON: {response[:80]!r}"))
    if not isinstance(choices, list):
        got = type(response).__name__ if choices is None else f"choices of {type(choices).__name__}"
        raise _NotACompletion(_not_a_completion(base_url, f"JSON without choices: {got}"))
    if not choices:
        raise _NotACompletion(_not_a_completion(base_url, "no choices"))
    message = getattr(choices[0], "message", None)
    if message is None or not isinstance(getattr(message, "content", None), str | None):
        raise _NotACompletion(_not_a_completion(base_url, "a choice without a text message"))
    return choices[0]


def _not_a_completion(base_url: str, why: str) -> str:
    return f"{base_url} answered HTTP 200 with a body that is not a chat completion ({why})"


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, _NotACompletion):
        return True
    if isinstance(exc, (openai.APIConnectionError, openai.APITimeoutError)):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return False


def _retry_after_s(exc: BaseException | None) -> float | None:
    if not isinstance(exc, openai.APIStatusError):
        return None
    value = exc.response.headers.get("retry-after")
    try:
        return min(float(value), MAX_RETRY_AFTER_S) if value is not None else None
    except ValueError:
        return None


class _WaitRetryAfter(wait_exponential_jitter):
    """Exponential backoff with jitter, unless the server said how long to wait."""

    def __call__(self, retry_state: Any) -> float:
        outcome = retry_state.outcome
        hinted = _retry_after_s(outcome.exception() if outcome else None)
        return hinted if hinted is not None else super().__call__(retry_state)


def _translate(exc: Exception, base_url: str, timeout_s: float) -> LLMError:
    if isinstance(exc, openai.APITimeoutError):
        return LLMTimeout(f"{base_url} did not answer within {timeout_s:g}s (after retries)")
    if isinstance(exc, openai.APIConnectionError):
        return LLMUnavailable(
            f"cannot reach the LLM endpoint {base_url} ({str(exc).rstrip('.')}). Is it running? "
            "Set LEADLINE_BASE_URL, or unset it to use the embedded model."
        )
    if isinstance(exc, openai.APIStatusError):
        body = exc.response.text[:300] if exc.response is not None else ""
        if exc.status_code == 429 or exc.status_code >= 500:
            return LLMUnavailable(
                f"{base_url} answered HTTP {exc.status_code} until retries ran out: {body}"
            )
        return LLMRequestError(f"{base_url} refused the request (HTTP {exc.status_code}): {body}")
    if isinstance(exc, _NotACompletion):
        return LLMResponseError(f"{exc}, until retries ran out")
    return LLMError(f"LLM call to {base_url} failed: {exc}")


class LLMClient:
    """One OpenAI-compatible endpoint. Create once, share across runs, `await aclose()`."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 20.0,
        json_schema_supported: bool = True,
        extra_body: dict[str, Any] | None = None,
        client: openai.AsyncOpenAI | None = None,
    ) -> None:
        """`client`: a caller's `openai.AsyncOpenAI` to send requests through (its connection
        pool, headers and key); it stays the caller's, so `aclose` leaves it open."""
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.json_schema_supported = json_schema_supported
        self.extra_body = dict(extra_body or {})
        self._backoff = (backoff_initial_s, backoff_max_s)
        # Whether the endpoint answered a request for log-probabilities with them: None until
        # one was asked for, so callers can stop asking an endpoint that never gives them.
        self.gives_logprobs: bool | None = None
        self._owns_client = client is None
        if client is not None:
            # tenacity owns retries, so the policy lives in one place
            self._client = client.with_options(timeout=timeout_s, max_retries=0)
        else:
            self._client = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=api_key or "not-needed",
                timeout=timeout_s,
                max_retries=0,
            )

    def __repr__(self) -> str:
        return f"LLMClient(base_url={self.base_url!r}, model={self.model!r})"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.close()

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        response_format: dict[str, Any] | None = None,
        extra_body: dict[str, Any] | None = None,
        guard: CallGuard | None = None,
        logprobs: bool = False,
    ) -> Completion:
        """One chat completion (retried on transient failures; the guard checks each attempt).

        `logprobs`: ask for each completion token's log-probability (`token_logprobs`)."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if logprobs:
            kwargs["logprobs"] = True
        if response_format is not None:
            kwargs["response_format"] = response_format
        body = {**self.extra_body, **(extra_body or {})}
        if body:
            kwargs["extra_body"] = body
        initial, maximum = self._backoff
        started = time.perf_counter()
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(_is_retryable),
                stop=stop_after_attempt(self.max_retries + 1),
                wait=_WaitRetryAfter(multiplier=initial, max=maximum, jitter=initial),
                reraise=True,
            ):
                with attempt:
                    if guard is not None:
                        guard.before(messages, max_tokens)
                    try:
                        response = await self._client.chat.completions.create(**kwargs)
                        choice = _check_completion(response, self.base_url)
                    except (openai.APITimeoutError, _NotACompletion):
                        if guard is not None:  # it may have run, and been billed, in full
                            guard.unanswered(messages, max_tokens)
                        raise
                    except ValueError as exc:  # the body is not JSON (openai's parse)
                        if guard is not None:
                            guard.unanswered(messages, max_tokens)
                        raise _NotACompletion(
                            _not_a_completion(self.base_url, f"not JSON: {exc}")
                        ) from exc
        except (openai.OpenAIError, _NotACompletion) as exc:
            raise _translate(exc, self.base_url, self.timeout_s) from exc
        latency = time.perf_counter() - started
        text = repair(choice.message.content or "")
        usage = getattr(response, "usage", None)
        completion = Completion(
            text=text,
            usage=usage_from_response(
                usage if isinstance(usage, BaseModel | dict) else None, latency, messages, text
            ),
            model=str(getattr(response, "model", None) or self.model),
            finish_reason=getattr(choice, "finish_reason", None),
            token_logprobs=_token_logprobs(choice) if logprobs else (),
        )
        if logprobs:
            self.gives_logprobs = bool(completion.token_logprobs) or bool(self.gives_logprobs)
        if guard is not None:
            guard.after(completion)
        return completion

    async def chat_json(
        self,
        messages: Sequence[Message],
        schema: type[T],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        extra_body: dict[str, Any] | None = None,
        guard: CallGuard | None = None,
        logprobs: bool = False,
    ) -> tuple[T, list[Completion]]:
        """Structured output: schema-constrained where supported, else parse + one repair."""
        response_format = json_schema_format(schema) if self.json_schema_supported else None
        first = await self.chat(
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            response_format=response_format,
            extra_body=extra_body,
            guard=guard,
            logprobs=logprobs,
        )
        try:
            return parse_json_reply(first.text, schema), [first]
        except LLMOutputError as exc:
            retry = repair_messages(messages, first.text, str(exc))
            second = await self.chat(
                retry,
                max_tokens=max_tokens,
                temperature=temperature,
                response_format=response_format,
                extra_body=extra_body,
                guard=guard,
                logprobs=logprobs,
            )
            try:
                return parse_json_reply(second.text, schema), [first, second]
            except LLMOutputError as again:
                raise LLMOutputError(
                    f"reply not parseable as {schema.__name__} after one repair: {again}",
                    raw=second.text,
                ) from again
