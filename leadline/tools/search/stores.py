"""chromadb clients: the embedded store, a `chroma run` server, and closing either cleanly.

Kept apart from the corpus logic because these are the only places that know chroma's client
quirks: telemetry must be off (it would try the network), an unreachable server surfaces as a
ValueError, and an HttpClient's httpx sessions outlive `client.close()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
from chromadb.errors import ChromaError

from leadline.errors import ConfigError, SearchError

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

# What chroma raises when its store or server fails (ChromaError; httpx errors from HttpClient;
# ValueError for "could not connect" and server-side validation).
STORE_ERRORS: tuple[type[BaseException], ...] = (ChromaError, httpx.HTTPError, ValueError, OSError)


def persistent_client(path: Path) -> ClientAPI:
    """An embedded chroma store at `path`, with telemetry off (it would try the network)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(
        path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
    )


def http_client(url: str) -> ClientAPI:
    """A client for a `chroma run` server at `url` (http[s]://host[:port])."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"chroma_url {url!r} is not an http(s)://host[:port] URL")
    ssl = parts.scheme == "https"
    port = parts.port or (443 if ssl else 8000)
    try:
        return chromadb.HttpClient(
            host=parts.hostname,
            port=port,
            ssl=ssl,
            settings=ChromaSettings(anonymized_telemetry=False),
        )
    except STORE_ERRORS as exc:  # chroma reports "could not connect" as a ValueError
        raise SearchError(
            f"cannot reach the chroma server at {url}: {exc} (is `chroma run` up?)"
        ) from exc


def close_client(client: ClientAPI) -> None:
    """Close a client and, for HttpClient, the httpx sessions `close()` leaves open.

    Each HttpClient (and its internal admin client) owns its own session, so closing them
    cannot affect another client; without this their sockets linger until interpreter exit.
    """
    admin = getattr(client, "_admin_client", None)
    sessions = [getattr(getattr(c, "_server", None), "_session", None) for c in (client, admin)]
    client.close()
    for session in sessions:
        if isinstance(session, httpx.Client):
            session.close()
