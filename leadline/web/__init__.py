"""The research page: `leadline serve` answers `/` with a page for people, not only curl.

Plain HTML, CSS and JavaScript modules shipped as package data under `static/` and served by the
API process itself: nothing to build, no CDN, so it works offline and on air-gapped machines, and
it talks only to the API routes any other client uses (same origin, so the API's Host/Origin
check against DNS rebinding lets it through, and the key, when there are keys, goes in the
`Authorization` header like anyone's). The page's files get a strict Content-Security-Policy:
only this server's own scripts run, and the answers and passages it shows, which come from a
corpus and a model, are inserted as text, never as markup.

    static/index.html    the page: Ask, Watch, Check, History
    static/page.css      layout (one column at phone width), reserved sizes (no layout shift)
    static/js/           one module per part; main.js wires them (see its docstring)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Small files: revalidate each load (an ETag answers 304), so an upgrade shows at once.
    "Cache-Control": "no-cache",
}


class PageFiles(StaticFiles):
    """The page's static files, each with the page's security headers."""

    async def get_response(self, path: str, scope: Scope) -> Any:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def mount_page(app: FastAPI) -> None:
    """Serve the page at `/` and its files under `/static/`."""

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=SECURITY_HEADERS)

    app.mount("/static", PageFiles(directory=STATIC_DIR), name="static")
