"""Web search and page fetching over httpx: a SearXNG JSON client and an SSRF-guarded fetch.

SearXNG first because it is self-hostable, keyless and speaks plain JSON (`/search?format=json`).
Transient failures (connection errors, timeouts, 429, 5xx) are retried with exponential backoff
(tenacity); anything else fails at once with a `SearchError` that says what to fix.
`fetch_page` exists so a searcher can read a result in full, which makes it a server-side request
forgery risk: every hop (the URL and each redirect) is resolved and refused with `UnsafeURLError`
when any address is private, loopback, link-local, multicast, reserved or unspecified (including
IPv4 hidden in IPv6), unless `allow_private=True`; the connection is then pinned to the checked
address (Host header and TLS SNI keep the name), so DNS cannot change the answer in between.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import re
import socket
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from leadline.errors import SearchError, UnsafeURLError
from leadline.tools.search.base import ID_HEX_CHARS, Passage

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_BYTES = 2_000_000
MAX_REDIRECTS = 5
MAX_PAGES = 3  # SearXNG pages fetched at most to collect k results
USER_AGENT = "leadline/0.1"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class _Transient(Exception):
    """A 429 or 5xx answer, worth retrying."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, _Transient | httpx.TransportError)


def url_id(url: str) -> str:
    """Stable passage id of a web result."""
    return "web-" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:ID_HEX_CHARS]


class SearxngBackend:
    """A SearchBackend over a SearXNG instance's JSON API (enable `json` in `search.formats`)."""

    name = "searxng"

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff_s: float = 0.5,
        categories: str = "general",
        language: str | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.collection = "web"  # cache-key fields shared with LocalCorpus
        self.mode = categories
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.language = language
        self._client = client
        self._owns_client = client is None

    def __repr__(self) -> str:
        return f"SearxngBackend(url={self.url!r}, categories={self.mode!r})"

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout_s, headers={"User-Agent": USER_AGENT}
            )
        return self._client

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def search(self, query: str, k: int) -> list[Passage]:
        if k <= 0 or not query.strip():
            return []
        passages: list[Passage] = []
        seen: set[str] = set()
        for page in range(1, MAX_PAGES + 1):
            params: dict[str, Any] = {
                "q": query,
                "format": "json",
                "categories": self.mode,
                "pageno": page,
            }
            if self.language:
                params["language"] = self.language
            results = (await self._get_json(params)).get("results")
            if not isinstance(results, list) or not results:
                break
            for result in results:
                passage = self._passage(result, len(passages))
                if passage is not None and passage.source not in seen:
                    seen.add(passage.source)
                    passages.append(passage)
            if len(passages) >= k:
                break
        return passages[:k]

    def _passage(self, result: Any, rank: int) -> Passage | None:
        if not isinstance(result, dict) or not isinstance(result.get("url"), str):
            return None
        url = result["url"]
        score = result.get("score")
        return Passage(
            id=url_id(url),
            title=str(result.get("title") or url),
            text=str(result.get("content") or ""),
            source=url,
            score=float(score) if isinstance(score, int | float) else 1.0 / (rank + 1),
            backend=self.name,
        )

    async def _get_json(self, params: dict[str, Any]) -> dict[str, Any]:
        endpoint = f"{self.url}/search"
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_exponential(multiplier=self.backoff_s, max=8.0),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    response = await self._http().get(endpoint, params=params)
                    if response.status_code == 429 or response.status_code >= 500:
                        raise _Transient(response.status_code)
        except (_Transient, httpx.TransportError) as exc:
            raise SearchError(
                f"SearXNG at {self.url} failed after {self.max_retries + 1} attempt(s): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code == 403:
            raise SearchError(
                f"SearXNG at {self.url} refused format=json (403): add 'json' to "
                "search.formats in its settings.yml"
            )
        if response.status_code >= 400:
            raise SearchError(f"SearXNG at {self.url} answered HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError as exc:
            raise SearchError(f"SearXNG at {self.url} did not return JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise SearchError(
                f"SearXNG at {self.url} returned {type(data).__name__}, not an object"
            )
        return data


# --- SSRF guard ------------------------------------------------------------------------------


def is_public_address(ip: IPAddress) -> bool:
    """True only for globally routable unicast addresses, looking inside IPv4-in-IPv6 forms."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
        if any(e is not None and not is_public_address(e) for e in embedded):
            return False
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


async def check_url(url: str, allow_private: bool = False) -> tuple[SplitResult, str]:
    """Validate scheme and host and resolve it; (parsed URL, the address to connect to).

    Raises UnsafeURLError for a non-http(s) URL or, unless allowed, when any address the name
    resolves to is not public (one bad address is enough: the client might pick it).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURLError(f"refusing {url!r}: only http(s) URLs with a host can be fetched")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeURLError(f"refusing {url!r}: bad port") from exc
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, port, type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise SearchError(f"cannot resolve {parts.hostname!r}: {exc}") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise SearchError(f"{parts.hostname!r} resolved to no address")
    if not allow_private:
        bad = [str(a) for a in addresses if not is_public_address(a)]
        if bad:
            raise UnsafeURLError(
                f"refusing {url!r}: {parts.hostname} resolves to non-public address "
                f"{', '.join(bad)} (pass allow_private=True to fetch from private networks)"
            )
    return parts, str(addresses[0])


def _pinned(parts: SplitResult, address: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """URL aimed at the checked address; Host header and SNI carry the original name."""
    host = f"[{address}]" if ":" in address else address
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = parts.netloc.rsplit("@", 1)[-1]
    extensions: dict[str, Any] = {}
    if parts.scheme == "https":
        extensions["sni_hostname"] = parts.hostname
    return url, {"Host": host_header, "User-Agent": USER_AGENT}, extensions


async def fetch_page(
    url: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allow_private: bool = False,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    client: httpx.AsyncClient | None = None,
) -> Passage:
    """Fetch a page as text (HTML crudely stripped), reading at most `max_bytes` of body.

    `timeout_s` bounds the whole fetch (address checks, redirects and the body), not just each
    read: a server that trickles one byte a second cannot hold the caller for ever.
    """
    own = client is None
    http = client or httpx.AsyncClient(timeout=timeout_s, trust_env=False)
    try:
        async with asyncio.timeout(timeout_s):
            return await _fetch(http, url, max_bytes, allow_private)
    except TimeoutError as exc:
        raise SearchError(f"fetching {url} took longer than {timeout_s:g}s; gave up") from exc
    finally:
        if own:
            await http.aclose()


async def _fetch(http: httpx.AsyncClient, url: str, max_bytes: int, allow_private: bool) -> Passage:
    current = url
    try:
        for _ in range(MAX_REDIRECTS + 1):
            parts, address = await check_url(current, allow_private)
            target, headers, extensions = _pinned(parts, address)
            request = http.build_request("GET", target, headers=headers, extensions=extensions)
            response = await http.send(request, stream=True, follow_redirects=False)
            try:
                if response.is_redirect and "location" in response.headers:
                    current = urljoin(current, response.headers["location"])
                    continue
                if response.status_code >= 400:
                    raise SearchError(f"fetching {current} failed: HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk[: max_bytes - len(body)])
                    if len(body) >= max_bytes:
                        break
                content_type = response.headers.get("content-type", "")
                charset = response.charset_encoding or "utf-8"
            finally:
                await response.aclose()
            raw = bytes(body).decode(charset, errors="replace")
            if "html" in content_type or raw.lstrip()[:1] == "<":
                title, text = html_to_text(raw)
            else:
                title, text = "", raw.strip()
            return Passage(url_id(current), title or current, text, current, 0.0, "fetch")
        raise SearchError(f"fetching {url} gave up after {MAX_REDIRECTS} redirects")
    except httpx.HTTPError as exc:
        raise SearchError(f"fetching {current} failed: {type(exc).__name__}: {exc}") from exc


# --- HTML to text ----------------------------------------------------------------------------

_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
_BLOCK = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "header",
        "footer",
        "blockquote",
        "pre",
        "table",
        "ul",
        "ol",
        "dd",
        "dt",
    }
)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skip = 0
        self._pre = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIP:
            self._skip += 1
        elif tag in _BLOCK:
            self._pre += tag == "pre"
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK:
            self._pre = max(0, self._pre - (tag == "pre"))
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skip:
            # Source line breaks are spaces in HTML, except inside <pre>.
            self.parts.append(data if self._pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> tuple[str, str]:
    """(title, visible text) of an HTML page; crude but dependency-free and bounded."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.splitlines())
    body = "\n".join(line for line in lines if line)
    return unescape(" ".join("".join(parser.title).split())), body
