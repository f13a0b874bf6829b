"""`GET /v1/precompute`: how the server's idle-time precompute stands (see `leadline.precompute`).

Read-only: what runs is set when the server starts (`leadline serve --precompute`); the job
manager pauses it while research jobs run. Any valid key may read it: it names collections and
counts passages, nothing of anyone's jobs.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from leadline.api.security import require_key

Key = Annotated[str, Depends(require_key)]


def build_precompute_router() -> APIRouter:
    router = APIRouter(prefix="/v1/precompute", tags=["precompute"])

    @router.get("")
    async def precompute_status(request: Request, key: Key) -> dict[str, Any]:
        """State (running, paused while jobs run, idle when done) and per-collection progress:
        stage, passages done of total, ETA in seconds, tokens spent."""
        sleep = getattr(request.app.state, "sleep", None)
        if sleep is None:
            return {"state": "off", "collections": {}}
        return {**sleep.snapshot()}

    return router
