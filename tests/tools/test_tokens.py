"""Offline token counting: exact cl100k counts, conservative estimates, no network ever."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from leadline.tools.tokens import (
    CL100K_CACHE_NAME,
    count_tokens,
    estimate_prompt_tokens,
    truncate_to_tokens,
)


def test_count_tokens_matches_cl100k() -> None:
    assert count_tokens("hello world") == 2
    assert count_tokens("") == 0
    assert count_tokens("<|endoftext|>") > 1  # special tokens are counted as text, not refused


def test_estimate_is_above_the_exact_count() -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Which river flows through Paris? " * 20},
        {"role": "assistant", "content": None},
    ]
    exact = sum(count_tokens(str(m["content"] or "")) for m in messages)
    assert estimate_prompt_tokens(messages) > exact * 1.2


def test_truncate_on_a_token_boundary() -> None:
    text = "one two three four five six"
    cut = truncate_to_tokens(text, 3)
    assert count_tokens(cut) == 3 and text.startswith(cut)
    assert truncate_to_tokens(text, 100) == text


def test_loads_without_network(tmp_path: Path) -> None:
    """A fresh process with sockets disabled and an empty cache dir can still count tokens."""
    code = (
        "import socket\n"
        "def deny(*a, **k): raise OSError('network disabled in this test')\n"
        "socket.socket.connect = deny\n"
        "socket.create_connection = deny\n"
        "from leadline.tools.tokens import count_tokens\n"
        "print(count_tokens('offline token counting works'))\n"
    )
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) == count_tokens("offline token counting works")
    assert (tmp_path / "cache" / CL100K_CACHE_NAME).is_file()
