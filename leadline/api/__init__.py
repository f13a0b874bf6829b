"""leadline as a service: research jobs, live progress, an OpenAI-compatible chat endpoint.

    app.py       create_app(settings, api_config=, services_factory=) -> FastAPI
    routes.py    /v1/research: submit, read, events (SSE), cancel, list
    chat.py      /v1/chat/completions and /v1/models (model "leadline")
    options.py   /v1/collections (with sizes) and /v1/limits: what a request may ask for
    jobs.py      JobManager: asyncio tasks, live + replayable events, recovery after restart
    views.py     the JSON form of a job and its ledger summary
    store.py     jobs and events in SQLite (default) or Postgres; the checkpointer beside them
    security.py  API keys, the body-size limit, one JSON error shape
    config.py    ApiConfig: keys, limits, budget maxima
    server.py    uvicorn runner behind `leadline serve`

The research page at `/` lives in `leadline.web`. Nothing here is built at import time;
`create_app` builds, the app's lifespan opens.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":  # keep `import leadline.api` light
        from leadline.api.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
