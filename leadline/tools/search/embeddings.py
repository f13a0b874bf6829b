"""The offline MiniLM (minilm.py) as a chromadb embedding function.

Registered under EMBEDDING_NAME, so a collection created with it can be reopened, and its
persisted configuration rebuilt, by any process that has imported leadline; chroma's own
default (which downloads) is never involved.
"""

from __future__ import annotations

from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from leadline.tools.search.minilm import DEFAULT_BATCH_SIZE, MAX_TOKENS, QUERY_BATCH, embed_texts

EMBEDDING_NAME = "leadline-minilm-l6-v2-int8"


@register_embedding_function
class MiniLMEmbedding(EmbeddingFunction[Documents]):
    """chromadb embedding function over the packaged ONNX MiniLM; never downloads anything."""

    def __init__(self, batch_size: int = DEFAULT_BATCH_SIZE, threads: int = 0) -> None:
        self.batch_size = batch_size
        self.threads = threads  # 0 = let onnxruntime use every core

    def __call__(self, input: Documents) -> Embeddings:
        threads = 1 if len(input) <= QUERY_BATCH else self.threads
        vectors = embed_texts(list(input), batch_size=self.batch_size, threads=threads)
        return [row for row in vectors]

    @staticmethod
    def name() -> str:
        return EMBEDDING_NAME

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip", "l2"]

    def max_tokens(self) -> int:
        return MAX_TOKENS

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbedding:
        return MiniLMEmbedding(
            batch_size=int(config.get("batch_size", DEFAULT_BATCH_SIZE)),
            threads=int(config.get("threads", 0)),
        )

    def get_config(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "threads": self.threads}
