"""Blocking twins of async functions that also work inside a running event loop.

`asyncio.run` refuses to start while the calling thread already runs a loop, which is the case
in Jupyter and IPython cells and in async frameworks calling synchronous code. `run_sync` runs
the coroutine there on a fresh loop in a worker thread and blocks until it is done, so
`research(...)` behaves the same in a script and in a notebook. Objects bound to the caller's
loop (an `httpx.AsyncClient` opened in it, say) cannot be used from the worker's loop: inside a
running loop, prefer `await aresearch(...)`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def run_sync(coro: Coroutine[Any, Any, R]) -> R:
    """Run `coro` to completion and return its result, with or without a running loop here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadline-sync") as worker:
        return worker.submit(asyncio.run, coro).result()


def blocking(fn: Callable[P, Coroutine[Any, Any, R]], *, name: str, doc: str) -> Callable[P, R]:
    """The synchronous twin of `fn`: the same signature (for `help`, IDEs and type checkers),
    run through `run_sync`."""

    @functools.wraps(fn)
    def twin(*args: P.args, **kwargs: P.kwargs) -> R:
        return run_sync(fn(*args, **kwargs))

    twin.__name__ = twin.__qualname__ = name
    twin.__doc__ = doc
    return twin
