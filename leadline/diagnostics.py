"""Health checks shared by `leadline model check` and `leadline doctor`: is everything reachable?"""

from __future__ import annotations

from typing import Any

import httpx

from leadline.agents.prompting import render
from leadline.config import Settings
from leadline.errors import LeadlineError, ModelError
from leadline.services import open_services
from leadline.tools.local_model import default_model_path, resolve_model_path
from leadline.tools.tokens import count_tokens


async def check_llm(settings: Settings, *, max_tokens: int = 32) -> dict[str, Any]:
    """Send one chat request through the configured (or embedded) endpoint; raise on failure."""
    async with open_services(settings) as services:
        completion = await services.llm.chat(
            [{"role": "user", "content": render("model_check")}], max_tokens=max_tokens
        )
    usage = completion.usage
    return {
        "ok": True,
        "model": completion.model,
        "reply": completion.text.strip(),
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "cached_tokens": usage.cached_tokens,
            "completion_tokens": usage.completion_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
            "latency_s": round(usage.latency_s, 3),
        },
        "endpoint": "embedded" if settings.uses_embedded_model else settings.base_url,
    }


async def _reachable(url: str | None, path: str = "") -> dict[str, Any]:
    if not url:
        return {"url": None, "reachable": None}
    try:
        async with httpx.AsyncClient(timeout=3.0) as client:
            response = await client.get(url.rstrip("/") + path)
        return {"url": url, "reachable": response.status_code < 500, "status": response.status_code}
    except httpx.HTTPError as exc:
        return {"url": url, "reachable": False, "error": str(exc) or type(exc).__name__}


def _model_file_report(settings: Settings) -> dict[str, Any]:
    path = settings.model_path or default_model_path(settings)
    report: dict[str, Any] = {
        "path": str(path),
        "size": settings.model_size,
        "exists": path.is_file(),
        "verified": False,
    }
    try:
        resolve_model_path(settings)
        # A user-supplied LEADLINE_MODEL_PATH has no known hash: it exists, nothing more.
        report["verified"] = settings.model_path is None
    except ModelError as exc:
        report["error"] = str(exc)
    return report


async def diagnose(settings: Settings) -> dict[str, Any]:
    """What `leadline doctor` reports: endpoint, model file, data dir, optional services."""
    report: dict[str, Any] = {
        "endpoint": {"base_url": settings.base_url or "embedded", "model": settings.model},
        # What every setting resolved to (flags > env > config file > default); never the key.
        "settings": {
            **settings.model_dump(mode="json", exclude={"api_key"}),
            "api_key": "set" if settings.api_key else None,
        },
    }
    if settings.uses_embedded_model:
        report["model_file"] = _model_file_report(settings)
        try:
            import xllamacpp  # noqa: F401

            report["endpoint"]["runtime"] = "xllamacpp"
        except ImportError:
            report["endpoint"]["error"] = "xllamacpp is not installed (pip install -e .[local])"
        ok = report["model_file"]["exists"] and "error" not in report["model_file"]
    else:
        report["endpoint"].update(await _reachable(settings.base_url, "/models"))
        ok = bool(report["endpoint"]["reachable"])
    data_dir = settings.data_dir
    report["data_dir"] = {"path": str(data_dir), "exists": data_dir.is_dir()}
    report["chroma"] = await _reachable(settings.chroma_url, "/api/v2/heartbeat")
    if settings.chroma_url is None:
        report["chroma"]["mode"] = "embedded (PersistentClient under data_dir)"
    report["searxng"] = await _reachable(settings.searxng_url)
    try:
        report["tokens"] = {"offline": count_tokens("leadline") > 0}
    except (LeadlineError, OSError, ValueError) as exc:
        report["tokens"] = {"offline": False, "error": str(exc)}
        ok = False
    report["ok"] = ok and "error" not in report["endpoint"]
    return report
