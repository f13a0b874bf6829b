from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.harness import ApiHarness, Stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """Start scripted LLMs and API servers with `stack.llm(...)` / `stack.api(...)`."""
    s = Stack(tmp_path)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiHarness]:
    """One server for a module's tests that only read or fail (it saves a start per test)."""
    s = Stack(tmp_path_factory.mktemp("shared"))
    try:
        yield s.api()
    finally:
        s.close()
