"""`fetch_page(timeout_s=...)` bounds the whole fetch, not each read: a server that trickles
one byte at a time cannot keep it busy for ever."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from leadline.errors import SearchError
from leadline.tools.search.web import fetch_page


@pytest.fixture
def trickling_server() -> Iterator[str]:
    """An HTTP server that sends its headers, then one body byte every 0.2 s (for 60 s)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 300\r\n\r\n"
                )
                for _ in range(300):
                    if stop.wait(0.2):
                        return
                    try:
                        conn.sendall(b"x")
                    except OSError:
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/slow"
    stop.set()
    thread.join(timeout=5)
    listener.close()


async def test_a_trickling_server_is_cut_off_at_the_deadline(trickling_server: str) -> None:
    started = time.monotonic()
    with pytest.raises(SearchError, match=r"took longer than 1s"):
        await fetch_page(trickling_server, allow_private=True, timeout_s=1)
    assert time.monotonic() - started < 3  # each read took 0.2 s, well under the timeout
