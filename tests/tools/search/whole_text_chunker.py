"""The chunker as it was before ingestion streamed (commit d992589^): each document read whole,
tokenized whole, chunked in memory. Kept only as the reference the streaming chunker must match
passage for passage (ids, texts, order)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leadline.tools.search.base import Passage, content_id
from leadline.tools.search.minilm import load_tokenizer


def whole_text_passages(
    documents: Sequence[tuple[str, str, str, str | None]], chunk_tokens: int
) -> list[Passage]:
    """Passages of (title, text, source, id) documents, repeats dropped, in input order."""
    kept = [d for d in documents if d[1].strip()]
    encodings = load_tokenizer(False).encode_batch([d[1] for d in kept], add_special_tokens=False)
    unique: dict[str, Passage] = {}
    for (title, text, source, doc_id), encoding in zip(kept, encodings, strict=True):
        base = doc_id or content_id(title, text)
        spans = _chunk_spans(encoding, len(text), chunk_tokens)
        for i, (start, end) in enumerate(spans):
            pid = base if len(spans) == 1 else f"{base}#{i}"
            if pid not in unique:
                unique[pid] = Passage(pid, title.strip(), text[start:end].strip(), source)
    return list(unique.values())


def _chunk_spans(encoding: Any, text_len: int, chunk_tokens: int) -> list[tuple[int, int]]:
    n = len(encoding.ids)
    if n <= chunk_tokens:
        return [(0, text_len)]
    offsets = encoding.offsets
    words = encoding.word_ids
    overlap = chunk_tokens // 8
    count = -(-(n - overlap) // (chunk_tokens - overlap))
    width = min(chunk_tokens, -(-(n + (count - 1) * overlap) // count))

    def inside_word(i: int) -> bool:
        return 0 < i < n and words[i] is not None and words[i] == words[i - 1]

    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        end = min(start + width, n)
        while end < n and end > start + 1 and inside_word(end):
            end -= 1
        spans.append((offsets[start][0], offsets[end - 1][1]))
        if end >= n:
            return spans
        nxt = max(end - overlap, start + 1)
        while nxt < end and inside_word(nxt):
            nxt += 1
        start = nxt
