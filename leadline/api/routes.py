"""The research job routes: submit, read, follow (Server-Sent Events), cancel and list.

`submit_job` turns a request into a job — the question checked as `aresearch` would, the budget
bounded by the server's maxima, defaults filled in — and is shared with the chat endpoint, so a
chat completion is a job too (listed, persisted, limited per key like any other). A caller sees
only the jobs its own key created; anyone else's id answers 404, as an unknown one does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from leadline.api.config import ApiConfig
from leadline.api.jobs import JobManager, LiveJob
from leadline.api.options import default_collection, known_collection
from leadline.api.schemas import (
    JobList,
    JobStatus,
    JobView,
    ResearchAccepted,
    ResearchOptions,
    ResearchRequest,
)
from leadline.api.security import ApiError, require_key
from leadline.api.store import JobRecord, StoredEvent
from leadline.api.views import iso, job_view
from leadline.core import validate_question
from leadline.errors import ConfigError
from leadline.text import dumps

Key = Annotated[str, Depends(require_key)]
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SSE_RETRY_MS = 3000
MAX_SEQ = 2**63 - 1  # job and event numbers are SQL BIGINTs; a larger one cannot exist
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid API key."},
    404: {"description": "No such job (for this key)."},
    422: {"description": "Invalid input; the message says which field and why."},
}


def manager(request: Request) -> JobManager:
    return request.app.state.jobs  # type: ignore[no-any-return]


def resolve_request(config: ApiConfig, options: ResearchOptions) -> dict[str, Any]:
    """The run settings a job is stored with: request values, else server defaults."""
    requested = options.budget.model_dump(exclude_unset=True) if options.budget else {}
    return {
        "collection": options.collection or config.default_collection,
        "policy": options.policy or config.default_policy,
        "shape": options.shape or config.default_shape,
        "kv_mode": options.kv_mode or config.default_kv_mode,
        "passages_per_query": options.passages_per_query,
        "reader_passages": options.reader_passages,
        "follow_links": options.follow_links,
        "stop_confidence": options.stop_confidence,
        "budget": config.bound_budget(requested).to_dict(),
    }


async def submit_job(
    request: Request, key: str, kind: str, question: str, options: ResearchOptions
) -> JobRecord:
    try:
        question = validate_question(question)
    except ConfigError as exc:
        raise ApiError(422, str(exc), code="invalid_question", param="question") from exc
    config: ApiConfig = request.app.state.api_config
    resolved = resolve_request(config, options)
    await known_collection(request, resolved["collection"] or default_collection(request))
    return await manager(request).submit(key_id=key, kind=kind, question=question, request=resolved)


async def owned_job(request: Request, key: str, job_id: str) -> tuple[JobRecord, LiveJob | None]:
    record, live = await manager(request).get(job_id)
    if record is None or record.key_id != key:
        raise ApiError(404, f"no research job with id {job_id!r}", code="job_not_found", param="id")
    return record, live


def _seq(text: str | None) -> int | None:
    """A sequence number sent by a client (ASCII digits only; `isdigit` alone takes '²')."""
    if text and len(text) <= 20 and text.isascii() and text.isdigit():
        return int(text)
    return None


def sse_event(event: StoredEvent) -> str:
    data = dumps({"seq": event.seq, **event.data}, default=str)
    return f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n"


def summary(record: JobRecord) -> dict[str, Any]:
    result = record.result or {}
    return {
        "id": record.id,
        "kind": record.kind,
        "status": record.status,
        "question": record.question,
        "created_at": iso(record.created_at),
        "finished_at": iso(record.finished_at),
        "answer": result.get("answer"),
        "stop_reason": result.get("stop_reason"),
        "error": record.error or None,
    }


def build_research_router() -> APIRouter:
    router = APIRouter(prefix="/v1/research", tags=["research"], responses=ERROR_RESPONSES)

    @router.post(
        "",
        status_code=202,
        response_model=ResearchAccepted,
        responses={429: {"description": "Too many unfinished jobs for this key."}},
    )
    async def create_research(
        body: ResearchRequest, request: Request, response: Response, key: Key
    ) -> dict[str, Any]:
        """Start researching a question; follow it at /v1/research/{id}/events."""
        record = await submit_job(request, key, "research", body.question, body)
        response.headers["Location"] = f"/v1/research/{record.id}"
        return {"id": record.id, "status": record.status}

    @router.get("", response_model=JobList)
    async def list_research(
        request: Request,
        key: Key,
        limit: Annotated[int, Query(ge=1, le=100, description="Jobs per page.")] = 20,
        cursor: Annotated[str | None, Query(description="From the previous page.")] = None,
        status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
    ) -> dict[str, Any]:
        """Your jobs, newest first."""
        before = _seq(cursor)
        if cursor is not None and (before is None or before > MAX_SEQ):
            raise ApiError(
                422,
                "cursor must be a next_cursor value from a previous page",
                code="invalid_cursor",
                param="cursor",
            )
        jobs = manager(request)
        records = await jobs.store.list(key, limit=limit + 1, status=status, before=before)
        page = [jobs.live[r.id].record if r.id in jobs.live else r for r in records[:limit]]
        has_more = len(records) > limit
        return {
            "object": "list",
            "data": [summary(r) for r in page],
            "has_more": has_more,
            # The stored row's seq: a live job's in-memory record never learns the one the
            # store assigned, so a page ending on a running job would end the list there.
            "next_cursor": str(records[limit - 1].seq) if has_more else None,
        }

    @router.get("/{job_id}", response_model=JobView)
    async def get_research(job_id: str, request: Request, key: Key) -> Any:
        """Status; once finished, the answer, citations, usage, stop reason and ledger."""
        record, live = await owned_job(request, key, job_id)
        return job_view(record, live.progress if live is not None else None)

    @router.get(
        "/{job_id}/events",
        response_class=StreamingResponse,
        responses={
            200: {
                "content": {"text/event-stream": {}},
                "description": "Progress events (status, plan, search, reason, answer), "
                "then one `result` event; earlier events are replayed first.",
            }
        },
    )
    async def research_events(
        job_id: str,
        request: Request,
        key: Key,
        after: Annotated[
            int, Query(ge=0, le=MAX_SEQ, description="Replay events after this number.")
        ] = 0,
        last_event_id: Annotated[str | None, Header(description="Sent on reconnect.")] = None,
    ) -> StreamingResponse:
        """Server-Sent Events: replay what happened so far, then follow live until the end."""
        await owned_job(request, key, job_id)
        resume_from = _seq(last_event_id)
        if resume_from is not None:
            after = max(after, min(resume_from, MAX_SEQ))
        jobs = manager(request)

        async def stream() -> Any:
            yield f"retry: {SSE_RETRY_MS}\n\n"
            async for event in jobs.follow(job_id, after):
                yield ": keep-alive\n\n" if event is None else sse_event(event)

        return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)

    @router.post(
        "/{job_id}/cancel",
        response_model=JobView,
        responses={409: {"description": "The job has already finished."}},
    )
    async def cancel_research(job_id: str, request: Request, key: Key) -> Any:
        """Stop a queued or running job; it ends with status `cancelled`."""
        await owned_job(request, key, job_id)
        return job_view(await manager(request).cancel(job_id))

    return router
