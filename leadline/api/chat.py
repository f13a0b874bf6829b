"""The OpenAI-compatible face of the API: `POST /v1/chat/completions` and `GET /v1/models`.

Model `leadline`: the last user message is the question, a research job answers it, and the
answer comes back as the assistant message, with a "Sources" footer in the text and the same
citations as structured data in a top-level `citations` field. `usage` is the run's real spend
(prompt, cached, completion and reasoning tokens); leadline's own details (job id, stop reason,
search steps) ride in a `leadline` field. With `stream: true`, progress arrives as chunks with an
empty delta and a `leadline.event`, then the answer, then the finish chunk (and a usage chunk
when `stream_options.include_usage` is set), as the official `openai` client expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from leadline.api.config import ApiConfig
from leadline.api.jobs import JobManager, JobStateError
from leadline.api.routes import SSE_HEADERS, manager, submit_job
from leadline.api.schemas import (
    BudgetRequest,
    ChatCompletionRequest,
    ChatMessage,
    ResearchOptions,
)
from leadline.api.security import ERROR_TYPES, ApiError, require_key
from leadline.api.store import JobRecord

MODEL_NAME = "leadline"
MIN_ANSWER_TOKENS = 16  # Budget's own floor for answer_tokens
NO_RETRY = {"x-should-retry": "false"}  # the openai client would otherwise re-run the research


def question_from(messages: list[ChatMessage]) -> str:
    """The text of the last user message (string content or text parts)."""
    for message in reversed(messages):
        if message.role != "user":
            continue
        content = message.content
        if isinstance(content, str):
            return content
        if not content:
            raise ApiError(400, "the last user message has no content", param="messages")
        texts = []
        for part in content:
            if part.get("type") != "text":
                raise ApiError(
                    400,
                    f"leadline reads text only; the last user message has a "
                    f"{part.get('type')!r} part",
                    param="messages",
                )
            texts.append(str(part.get("text") or ""))
        return "\n".join(texts)
    raise ApiError(400, "no user message: the last user message is the question", param="messages")


def render_content(result: dict[str, Any]) -> str:
    text = str(result.get("answer") or "")
    citations = result.get("citations") or []
    if citations:
        lines = [f"[{c['evidence']}] {c['title']} ({c['source']})" for c in citations]
        text += "\n\nSources:\n" + "\n".join(lines)
    return text


def openai_usage(result: dict[str, Any]) -> dict[str, Any]:
    u = result.get("usage") or {}
    return {
        "prompt_tokens": u.get("prompt_tokens", 0),
        "completion_tokens": u.get("completion_tokens", 0),
        "total_tokens": u.get("total_tokens", 0),
        "prompt_tokens_details": {"cached_tokens": u.get("cached_tokens", 0)},
        "completion_tokens_details": {"reasoning_tokens": u.get("reasoning_tokens", 0)},
    }


def leadline_details(job_id: str, result: dict[str, Any]) -> dict[str, Any]:
    usage = result.get("usage") or {}
    return {
        "research_id": job_id,
        "stop_reason": result.get("stop_reason"),
        "search_steps": usage.get("search_steps", 0),
        "wall_s": result.get("wall_s"),
    }


def outcome_error(job_id: str, status: str, error: str | None) -> ApiError | None:
    """The error a chat client gets for a job that did not succeed; None if it did."""
    if status == "succeeded":
        return None
    if status == "cancelled":
        return ApiError(
            409,
            f"research job {job_id} was cancelled",
            code="research_cancelled",
            research_id=job_id,
        )
    if status == "failed":
        return ApiError(
            502,
            f"research failed: {error or 'unknown error'}",
            code="research_failed",
            headers=NO_RETRY,
            research_id=job_id,
        )
    return ApiError(
        503,
        f"the server is shutting down; research job {job_id} resumes after "
        f"restart: GET /v1/research/{job_id}",
        code="shutting_down",
        headers=NO_RETRY,
        research_id=job_id,
    )


def completion_body(record: JobRecord, completion_id: str) -> dict[str, Any]:
    result = record.result or {}
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(record.created_at),
        "model": MODEL_NAME,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": render_content(result)},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": openai_usage(result),
        "citations": result.get("citations") or [],
        "leadline": leadline_details(record.id, result),
    }


async def stream_chunks(
    jobs: JobManager, record: JobRecord, completion_id: str, include_usage: bool
) -> AsyncIterator[str]:
    base = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(record.created_at),
        "model": MODEL_NAME,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return f"data: {json.dumps({**base, 'choices': [choice], **extra}, default=str)}\n\n"

    def error(err: ApiError) -> str:
        body = {
            "message": err.message,
            "type": ERROR_TYPES.get(err.status, "server_error"),
            "code": err.code,
            "param": None,
            **err.extra,
        }
        return f"data: {json.dumps({'error': body})}\n\n"

    yield chunk({"role": "assistant", "content": ""}, leadline={"research_id": record.id})
    async for event in jobs.follow(record.id):
        if event is None:
            yield ": keep-alive\n\n"
            continue
        if event.type != "result":
            yield chunk({}, leadline={"event": {"seq": event.seq, **event.data}})
            continue
        failure = outcome_error(record.id, event.data["status"], event.data.get("error"))
        if failure is not None:
            yield error(failure)
            return
        result = event.data.get("result") or {}
        yield chunk({"content": render_content(result)})
        yield chunk(
            {},
            "stop",
            citations=result.get("citations") or [],
            leadline=leadline_details(record.id, result),
        )
        if include_usage:
            yield f"data: {json.dumps({**base, 'choices': [], 'usage': openai_usage(result)})}\n\n"
        yield "data: [DONE]\n\n"
        return
    stopped = outcome_error(record.id, "running", None)  # the server began shutting down
    if stopped is not None:
        yield error(stopped)


def with_answer_limit(body: ChatCompletionRequest, config: ApiConfig) -> ResearchOptions:
    """leadline's options, with OpenAI's `max_tokens` (or `max_completion_tokens`) as the
    answer's completion allowance, `budget.answer_tokens`, unless that is given itself.

    OpenAI refuses a `max_tokens` the model cannot honour; so does leadline: below 16 no
    answer fits, and above the server's answer maximum it would not be honoured.
    """
    options = body.leadline or ResearchOptions()
    limit = (
        body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
    )
    if limit is None:
        return options
    param = "max_completion_tokens" if body.max_completion_tokens is not None else "max_tokens"
    if not MIN_ANSWER_TOKENS <= limit <= config.max_answer_tokens:
        raise ApiError(
            400,
            f"{param} must be in {MIN_ANSWER_TOKENS}..{config.max_answer_tokens} (it limits the "
            f"answer's tokens; the research itself is capped by budget.max_tokens), got {limit}",
            code="invalid_max_tokens",
            param=param,
        )
    budget = options.budget or BudgetRequest()
    if "answer_tokens" in budget.model_fields_set:
        return options
    budget = budget.model_copy(update={"answer_tokens": limit})
    return options.model_copy(update={"budget": budget})


async def wait_while_connected(request: Request, jobs: JobManager, job_id: str) -> JobRecord | None:
    """The finished job, as `jobs.wait`; if the client hangs up first, the job is cancelled
    (nobody is left to read its answer, and it would go on spending tokens)."""
    finished = asyncio.ensure_future(jobs.wait(job_id))
    hung_up = asyncio.ensure_future(_disconnect(request))
    try:
        await asyncio.wait({finished, hung_up}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hung_up.cancel()
        if not finished.done():
            finished.cancel()
    if finished.done() and not finished.cancelled():
        return finished.result()
    with contextlib.suppress(JobStateError):  # it finished in the meantime
        return await jobs.cancel(job_id)
    return None


async def _disconnect(request: Request) -> None:
    """Return once the client has closed its connection (the body was read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def build_chat_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["openai-compatible"])

    @router.get("/models")
    async def list_models(_key: Annotated[str, Depends(require_key)]) -> dict[str, Any]:
        """The one model this server offers."""
        model = {"id": MODEL_NAME, "object": "model", "created": 0, "owned_by": "leadline"}
        return {"object": "list", "data": [model]}

    @router.post(
        "/chat/completions",
        responses={
            200: {
                "content": {"text/event-stream": {}},
                "description": "A chat.completion, or chunks when stream is true.",
            },
            404: {"description": "Unknown model (use 'leadline')."},
            502: {"description": "The research run failed; the message says why."},
        },
    )
    async def chat_completions(
        body: ChatCompletionRequest, request: Request, key: Annotated[str, Depends(require_key)]
    ) -> Any:
        """Answer the last user message with a research run (OpenAI chat completions API)."""
        if body.model != MODEL_NAME:
            raise ApiError(
                404,
                f"model {body.model!r} does not exist; this server serves {MODEL_NAME!r}",
                code="model_not_found",
                param="model",
            )
        if body.n not in (None, 1):
            raise ApiError(400, "n must be 1: a research run gives one answer", param="n")
        if body.tools:
            raise ApiError(400, "leadline does not call tools; leave out 'tools'", param="tools")
        question = question_from(body.messages)
        options = with_answer_limit(body, request.app.state.api_config)
        record = await submit_job(request, key, "chat", question, options)
        completion_id = f"chatcmpl-{record.id}"
        jobs = manager(request)
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(
                stream_chunks(jobs, record, completion_id, include_usage),
                media_type="text/event-stream",
                headers=SSE_HEADERS,
            )
        final = await wait_while_connected(request, jobs, record.id) or record
        failure = outcome_error(final.id, final.status, final.error)
        if failure is not None:
            raise failure
        return completion_body(final, completion_id)

    return router
