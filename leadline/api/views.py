"""The JSON shapes of jobs: the job view, its ledger summary, and timestamps.

One place builds what `GET /v1/research/{id}`, the final `result` event and the list return, so
the three always agree (see `schemas.JobView` for the documented form).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from leadline.api.store import JobRecord
from leadline.budgets.ledger import LedgerEvent, summarize
from leadline.core import ResearchResult


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ledger_summary(events: list[LedgerEvent]) -> dict[str, Any]:
    """Totals and per-agent spend of one run."""
    by_agent: dict[str, dict[str, Any]] = {}
    for e in events:
        a = by_agent.setdefault(
            e.agent,
            {
                "calls": 0,
                "prompt_tokens": 0,
                "cached_tokens": 0,
                "completion_tokens": 0,
                "search_steps": 0,
                "latency_s": 0.0,
                "errors": 0,
            },
        )
        a["calls"] += 1
        a["prompt_tokens"] += e.prompt_tokens
        a["cached_tokens"] += e.cached_tokens
        a["completion_tokens"] += e.completion_tokens
        a["search_steps"] += e.search_steps
        a["latency_s"] = round(a["latency_s"] + e.latency_s, 4)
        a["errors"] += bool(e.error)
    return {"totals": summarize(events).to_dict(), "by_agent": by_agent}


def cited_passages(result: ResearchResult) -> list[dict[str, Any]]:
    """The whole text of each cited passage: a quote can only be checked in its context, and
    the run's pool is gone once the job has ended, so the text is kept with the result."""
    known: dict[str, Any] = {p.passage_id: p for p in result.pool}
    known.update({e.passage_id: e for e in result.evidence})
    out: dict[str, dict[str, Any]] = {}
    for citation in result.citations:
        passage = known.get(citation.passage_id)
        if passage is not None and citation.passage_id not in out:
            out[citation.passage_id] = {
                "passage_id": citation.passage_id,
                "title": passage.title,
                "source": passage.source,
                "text": passage.text,
            }
    return list(out.values())


def result_payload(result: ResearchResult) -> dict[str, Any]:
    return {
        **result.to_dict(),
        "passages": cited_passages(result),
        "ledger": ledger_summary(result.events),
    }


def job_view(record: JobRecord, progress: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON form of a job (see `schemas.JobView`); `progress` is a running job's, from
    `LiveJob.progress`, and is left out once the job has finished."""
    payload = dict(record.result or {})
    ledger = payload.pop("ledger", None)
    if record.terminal:
        progress = None
    return {
        "object": "research.job",
        "id": record.id,
        "kind": record.kind,
        "status": record.status,
        "question": record.question,
        "request": record.request,
        "created_at": iso(record.created_at),
        "started_at": iso(record.started_at),
        "finished_at": iso(record.finished_at),
        "attempts": record.attempts,
        "error": record.error or None,
        "progress": progress,
        "result": payload or None,
        "ledger": ledger,
    }
