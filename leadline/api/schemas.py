"""Request and response bodies of the API, as pydantic models (they also make the /docs page).

Research requests are strict (`extra="forbid"`: a misspelt field is a 422, not silence). Chat
completion requests accept and ignore the many optional fields OpenAI clients send, so the
official client works unchanged; leadline's own options ride in an optional `leadline` object
(`extra_body={"leadline": {...}}` in the `openai` client).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leadline.budgets.controller import Policy, ShapeMode
from leadline.config import KVMode

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
COLLECTION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_MESSAGES = 256


class BudgetRequest(BaseModel):
    """Caps for one run; fields left out get the server's defaults, all within its maxima.

    Strict: numbers only (a string is not a budget) and finite (NaN or Infinity is refused,
    never read as "no cap").
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    max_tokens: int | None = Field(
        None,
        description="Prompt + completion tokens, cached prompt tokens at cached_token_rate.",
    )
    max_search_steps: int | None = Field(None, description="Search queries.")
    max_compute: float | None = Field(None, description="Token-equivalents (optional).")
    answer_tokens: int | None = Field(None, description="Completion allowance of the answer.")
    max_reasoning_tokens: int | None = Field(
        None, description="Completion tokens all the reasoner's calls may use together."
    )
    reasoning_step_tokens: int | None = Field(
        None, description="Completion allowance of one reasoner call (16..4096)."
    )
    width: int | None = Field(
        None, description="Reader samples combined by majority vote (1: one greedy read)."
    )
    cached_token_rate: float | None = Field(
        None,
        description="What a cached prompt token counts for in max_tokens (0..1; not below the "
        "server's rate).",
    )


class ResearchOptions(BaseModel):
    """How to research: corpus, budget and strategy. Every field is optional."""

    model_config = ConfigDict(extra="forbid")

    collection: str | None = Field(None, pattern=COLLECTION_PATTERN)
    budget: BudgetRequest | None = None
    policy: Policy | None = None
    shape: ShapeMode | None = None
    kv_mode: KVMode | None = None
    passages_per_query: int | None = Field(
        None, ge=1, le=20, description="Hits of each query kept in the evidence pool."
    )
    reader_passages: int | None = Field(
        None, ge=1, le=20, description="K: the best pool passages the final reader reads."
    )
    follow_links: bool | None = Field(
        None,
        strict=True,
        description="Link steps where the collection has a link graph (default: the server's).",
    )
    stop_confidence: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Stop after the first search round when the reader is at least this sure "
        "of its answer (0 = never; default: the server's).",
    )


class ResearchRequest(ResearchOptions):
    question: str = Field(..., description="The question to research.")


class ResearchAccepted(BaseModel):
    id: str
    status: JobStatus


class JobView(BaseModel):
    """One research job: its request, state and, once finished, its result and ledger."""

    object: Literal["research.job"] = "research.job"
    id: str
    kind: Literal["research", "chat"]
    status: JobStatus
    question: str
    request: dict[str, Any]
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 0
    error: str | None = None
    progress: dict[str, Any] | None = Field(
        None, description="While running: events so far and the spend after the last one."
    )
    result: dict[str, Any] | None = Field(
        None,
        description="answer, citations, usage, stop_reason, anytime answers, caps, and the "
        "text of each cited passage (passages).",
    )
    ledger: dict[str, Any] | None = Field(None, description="Totals and per-agent spend.")


class JobSummary(BaseModel):
    id: str
    kind: Literal["research", "chat"]
    status: JobStatus
    question: str
    created_at: str
    finished_at: str | None = None
    answer: str | None = None
    stop_reason: str | None = None
    error: str | None = Field(None, description="Why a failed or cancelled job ended.")


class JobList(BaseModel):
    object: Literal["list"] = "list"
    data: list[JobSummary]
    has_more: bool
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page.")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion request; the last user message is the question."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = None
    tools: list[Any] | None = None
    max_tokens: int | None = Field(
        None, strict=True, description="The answer's completion allowance (budget.answer_tokens)."
    )
    max_completion_tokens: int | None = Field(
        None, strict=True, description="The same as max_tokens (OpenAI's newer name)."
    )
    leadline: ResearchOptions | None = Field(
        None, description="leadline's options (collection, budget, policy, shape, kv_mode)."
    )


class Collection(BaseModel):
    name: str
    passages: int | None = Field(None, description="Passages it holds; null when unknown.")


class CollectionList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Collection]
    default: str = Field(..., description="The collection a request that names none searches.")


class Limits(BaseModel):
    """Defaults and bounds of a research request on this server."""

    object: Literal["limits"] = "limits"
    budget: dict[str, Any] = Field(
        ..., description="Per budget field: default, min, max (null: no maximum); and the rates."
    )
    policy: dict[str, Any]
    shape: dict[str, Any]
    kv_mode: dict[str, Any]
    passages_per_query: dict[str, Any]
    reader_passages: dict[str, Any]
    max_question_chars: int
    max_jobs_per_key: int
