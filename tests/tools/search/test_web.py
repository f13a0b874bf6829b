"""SearXNG client against a local server speaking SearXNG's JSON; page fetch and SSRF guard."""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from leadline.errors import SearchError, UnsafeURLError
from leadline.tools.search.web import (
    SearxngBackend,
    check_url,
    fetch_page,
    html_to_text,
    is_public_address,
)

Route = Callable[[str, dict[str, list[str]]], tuple[int, dict[str, str], bytes]]


def searxng_page(query: str, page: int, per_page: int = 3, total: int = 5) -> dict[str, Any]:
    """A response shaped like SearXNG's /search?format=json."""
    start = (page - 1) * per_page
    results = [
        {
            "url": f"https://example.org/{query.replace(' ', '-')}/{i}",
            "title": f"Result {i} for {query}",
            "content": f"Snippet {i} about {query}.",
            "engine": "duckduckgo",
            "engines": ["duckduckgo", "bing"],
            "parsed_url": ["https", "example.org", f"/{i}", "", "", ""],
            "positions": [i + 1],
            "score": round(10.0 / (i + 1), 3),
            "category": "general",
        }
        for i in range(start, min(start + per_page, total))
    ]
    return {
        "query": query,
        "number_of_results": total,
        "results": results,
        "answers": [],
        "corrections": [],
        "infoboxes": [],
        "suggestions": [],
        "unresponsive_engines": [],
    }


class LocalServer:
    """A ThreadingHTTPServer on 127.0.0.1 whose GET handling is a test-supplied route."""

    def __init__(self, route: Route) -> None:
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                parts = urlsplit(self.path)
                params = parse_qs(parts.query)
                outer.requests.append(
                    {"path": parts.path, "params": params, "host": self.headers.get("Host")}
                )
                status, headers, body = route(parts.path, params)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def serve() -> Iterator[Callable[[Route], LocalServer]]:
    servers: list[LocalServer] = []

    def start(route: Route) -> LocalServer:
        server = LocalServer(route).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()


def json_reply(obj: Any, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(obj).encode()


async def test_searxng_maps_results_and_pages(serve: Callable[[Route], LocalServer]) -> None:
    def route(path: str, params: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        assert path == "/search" and params["format"] == ["json"]
        return json_reply(searxng_page(params["q"][0], int(params["pageno"][0])))

    server = serve(route)
    backend = SearxngBackend(server.url + "/", language="en")
    try:
        hits = await backend.search("tide tables", 4)
    finally:
        await backend.aclose()
    assert len(hits) == 4 and [r["params"]["pageno"] for r in server.requests] == [["1"], ["2"]]
    assert server.requests[0]["params"]["language"] == ["en"]
    first = hits[0]
    assert first.source == "https://example.org/tide-tables/0"
    assert (first.title, first.text, first.score) == (
        "Result 0 for tide tables",
        "Snippet 0 about tide tables.",
        10.0,
    )
    assert first.backend == "searxng" and first.id.startswith("web-")
    assert len({h.id for h in hits}) == 4
    assert await SearxngBackend(server.url).search("  ", 3) == []


async def test_searxng_retries_5xx_then_succeeds(serve: Callable[[Route], LocalServer]) -> None:
    calls = {"n": 0}

    def route(path: str, params: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        calls["n"] += 1
        if calls["n"] <= 2:
            return 503, {}, b"busy"
        return json_reply(searxng_page(params["q"][0], 1))

    backend = SearxngBackend(serve(route).url, max_retries=3, backoff_s=0.001)
    hits = await backend.search("q", 2)
    await backend.aclose()
    assert len(hits) == 2 and calls["n"] == 3


async def test_searxng_errors_are_search_errors(serve: Callable[[Route], LocalServer]) -> None:
    always_500 = serve(lambda p, q: (500, {}, b"boom"))
    with pytest.raises(SearchError, match="failed after 3 attempt"):
        await SearxngBackend(always_500.url, max_retries=2, backoff_s=0.001).search("q", 3)
    forbidden = serve(lambda p, q: (403, {}, b"no"))
    with pytest.raises(SearchError, match="search.formats"):
        await SearxngBackend(forbidden.url, backoff_s=0.001).search("q", 3)
    not_json = serve(lambda p, q: (200, {"Content-Type": "text/html"}, b"<html>"))
    with pytest.raises(SearchError, match="did not return JSON"):
        await SearxngBackend(not_json.url).search("q", 3)
    with socket.socket() as sock:  # a port nobody listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SearchError, match="ConnectError"):
        await SearxngBackend(f"http://127.0.0.1:{port}", max_retries=1, backoff_s=0.001).search(
            "q", 3
        )


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "100.64.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "2002:7f00:1::1",
        "::",
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8080/admin",
        "http://[::1]/",
        "http://127.1/",
        "http://2130706433/",
        "http://user@169.254.169.254/latest/meta-data/",
        "http://[::ffff:10.0.0.1]/",
        "https://192.168.0.1:8443/x",
    ],
)
async def test_ssrf_guard_refuses_private_targets(url: str) -> None:
    with pytest.raises(UnsafeURLError, match="non-public address"):
        await check_url(url)
    with pytest.raises(UnsafeURLError):
        await fetch_page(url)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.org/", "gopher://x/", "http:///nohost"]
)
async def test_ssrf_guard_refuses_other_schemes(url: str) -> None:
    with pytest.raises(UnsafeURLError, match="only http"):
        await fetch_page(url, allow_private=True)


async def test_public_literal_passes_the_guard() -> None:
    parts, address = await check_url("https://93.184.216.34:8443/page?q=1")
    assert address == "93.184.216.34" and parts.port == 8443


PAGE = b"""<html><head><title>Tides &amp; Moon</title><style>p{color:red}</style>
<script>var secret = 1;</script></head><body><h1>Tides</h1><p>The Moon&#39;s gravity
pulls   the oceans.</p><ul><li>High</li><li>Low</li></ul></body></html>"""


async def test_fetch_page_allowed_private(serve: Callable[[Route], LocalServer]) -> None:
    def route(path: str, params: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        if path == "/moved":
            return 302, {"Location": "/page"}, b""
        if path == "/ftp":
            return 302, {"Location": "ftp://example.org/x"}, b""
        if path == "/big":
            return 200, {"Content-Type": "text/plain"}, b"x" * 50_000
        if path == "/missing":
            return 404, {}, b""
        return 200, {"Content-Type": "text/html; charset=utf-8"}, PAGE

    server = serve(route)
    page = await fetch_page(server.url + "/moved", allow_private=True)
    assert page.title == "Tides & Moon" and page.source == server.url + "/page"
    assert page.text == "Tides\nThe Moon's gravity pulls the oceans.\nHigh\nLow"
    assert page.backend == "fetch"
    assert server.requests[-1]["host"] == server.url.split("://")[1]  # name kept while pinned
    big = await fetch_page(server.url + "/big", max_bytes=1000, allow_private=True)
    assert big.text == "x" * 1000
    with pytest.raises(UnsafeURLError, match="only http"):
        await fetch_page(server.url + "/ftp", allow_private=True)  # every hop is checked
    with pytest.raises(SearchError, match="HTTP 404"):
        await fetch_page(server.url + "/missing", allow_private=True)
    with pytest.raises(UnsafeURLError):
        await fetch_page(server.url + "/page")  # the same server, not allowed


def test_html_to_text_is_bounded_to_visible_text() -> None:
    title, text = html_to_text("<p>a<script>b</script>c</p><noscript>d</noscript>")
    assert (title, text) == ("", "ac")
