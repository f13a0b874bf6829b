"""What a client may ask for: the collections there are (with sizes) and the server's limits.

A form that lets a person choose a collection and a budget needs both before the first request,
so it can offer only what exists and say what the maxima are; without them it could only guess
and show the refusal afterwards. `known_collection` is the same list used as a check: a request
naming a collection that does not exist is refused when it is made (422), not when its run
first searches. A server whose search backend is fixed (tests, custom deployments) serves any
name, so there is nothing to list or check.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Request

from leadline.api.config import ApiConfig
from leadline.api.schemas import CollectionList, Limits
from leadline.api.security import ApiError, require_key
from leadline.budgets.budget import (
    MAX_REASONING_STEP_TOKENS,
    MIN_MAX_TOKENS,
    MIN_REASONING_STEP_TOKENS,
)
from leadline.budgets.controller import Policy, ShapeMode
from leadline.config import KVMode, Settings
from leadline.core import MAX_QUESTION_CHARS
from leadline.errors import SearchError
from leadline.tools.search.catalog import CollectionInfo

Key = Annotated[str, Depends(require_key)]
log = logging.getLogger("leadline.api")


def default_collection(request: Request) -> str:
    config: ApiConfig = request.app.state.api_config
    return config.default_collection or request.app.state.services.settings.collection


async def list_collections(request: Request) -> list[CollectionInfo] | None:
    """The server's collections; None when its search backend serves any name (nothing to
    list), which the list shows as the default collection, size unknown."""
    try:
        return await request.app.state.services.collections()
    except SearchError as exc:
        raise ApiError(502, str(exc), code="search_unavailable") from exc


async def known_collection(request: Request, name: str) -> None:
    """Refuse a collection the server does not have, naming the ones it does. The default is
    checked too: a run on a store where it was never ingested could only fail later."""
    try:
        known = await request.app.state.services.collections()
    except SearchError as exc:  # the store is down: the run will say so itself
        log.warning("could not check collection %r: %s", name, exc)
        return
    if known is None or any(c.name == name for c in known):
        return
    names = ", ".join(c.name for c in known) or "none yet"
    raise ApiError(
        422,
        f"no collection {name!r} on this server (collections: {names}); "
        f"ingest documents first: leadline ingest PATH --collection {name}",
        code="unknown_collection",
        param="collection",
    )


def limits(config: ApiConfig, settings: Settings) -> dict[str, Any]:
    """Defaults and bounds of every request field (what `bound_budget` and the schema allow)."""
    defaults = config.bound_budget({})
    return {
        "object": "limits",
        "budget": {
            "max_tokens": {
                "default": defaults.max_tokens,
                "min": MIN_MAX_TOKENS,
                "max": config.max_tokens,
            },
            "max_search_steps": {
                "default": defaults.max_search_steps,
                "min": 0,
                "max": config.max_search_steps,
            },
            "max_compute": {"default": defaults.max_compute, "min": 0, "max": config.max_compute},
            "answer_tokens": {
                "default": defaults.answer_tokens,
                "min": 16,
                "max": config.max_answer_tokens,
            },
            "max_reasoning_tokens": {
                "default": defaults.max_reasoning_tokens,
                "min": 0,
                "max": config.max_reasoning_tokens,
            },
            "reasoning_step_tokens": {
                "default": defaults.reasoning_step_tokens,
                "min": MIN_REASONING_STEP_TOKENS,
                "max": MAX_REASONING_STEP_TOKENS,
            },
            "width": {"default": defaults.width, "min": 1, "max": config.max_width},
            "cached_token_rate": {
                "default": defaults.cached_token_rate,
                "min": config.cached_token_rate,
                "max": 1.0,
            },
            "rates": asdict(defaults.rates),
        },
        "policy": {"default": config.default_policy, "choices": list(get_args(Policy))},
        "shape": {"default": config.default_shape, "choices": list(get_args(ShapeMode))},
        "kv_mode": {
            "default": config.default_kv_mode or settings.kv_mode,
            "choices": list(get_args(KVMode)),
        },
        "passages_per_query": {"default": settings.passages_per_query, "min": 1, "max": 20},
        "reader_passages": {"default": settings.reader_passages, "min": 1, "max": 20},
        "stop_confidence": {"default": settings.stop_confidence, "min": 0.0, "max": 1.0},
        "max_question_chars": MAX_QUESTION_CHARS,
        "max_jobs_per_key": config.max_jobs_per_key,
    }


def build_options_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["options"])

    @router.get("/collections", response_model=CollectionList)
    async def get_collections(request: Request, key: Key) -> dict[str, Any]:
        """The collections a request may name, with their sizes (passages), by name."""
        default = default_collection(request)
        found = await list_collections(request)
        listed = found if found is not None else [CollectionInfo(default)]
        return {"object": "list", "data": [c.to_dict() for c in listed], "default": default}

    @router.get("/limits", response_model=Limits)
    async def get_limits(request: Request, key: Key) -> dict[str, Any]:
        """What a research request may ask for: budget defaults and maxima, and the choices."""
        return limits(request.app.state.api_config, request.app.state.services.settings)

    return router
