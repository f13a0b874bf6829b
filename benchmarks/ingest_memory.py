"""Peak memory of ingestion for generated text files of a given total size.

    .venv/bin/python benchmarks/ingest_memory.py 200                  # MB; prints one JSON line
    .venv/bin/python benchmarks/ingest_memory.py 200 --files 4        # a folder of 4 files
    .venv/bin/python benchmarks/ingest_memory.py 200 --store chroma   # and write to chroma

The files are long .txt documents of varied English-like words (the case that needed 7.1 GB for
50 MB when each document was tokenized and chunked whole). `--store none` (the default) runs the
whole ingest pipeline — check pass, chunking, deduplication, batches — into a sink that only
counts. `--store chroma` writes into a real embedded chroma collection and rebuilds the BM25
index from it, with a cheap stand-in for the MiniLM embedding (hash-seeded random unit vectors
of the same 384 dimensions): MiniLM runs WRITE_BATCH passages at a time, so its memory does not
grow with the input, and embedding hundreds of MB on two cores takes hours. Peak RSS is the
process's ru_maxrss, the baseline import cost included (`rss_before_ingest_mb`);
`peak_rss_writing_mb` is the peak before the BM25 index is rebuilt (the last step).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "for",
    "on",
    "that",
    "by",
    "with",
    "as",
    "from",
    "at",
    "his",
    "an",
    "were",
    "which",
    "are",
    "this",
    "be",
    "river",
    "city",
    "film",
    "album",
    "school",
    "village",
    "station",
    "football",
    "species",
    "county",
    "church",
    "season",
    "born",
    "married",
    "directed",
    "founded",
    "located",
    "released",
    "played",
    "published",
    "elected",
    "awarded",
    "Thames",
    "Berlin",
    "Kiss",
    "Corliss",
    "Archer",
    "Shirley",
    "Temple",
    "Olympics",
    "Barcelona",
    "Hotpot",
    "question",
]


def generate(path: Path, megabytes: float, seed: int) -> None:
    rng = random.Random(seed)
    target = int(megabytes * 1_000_000)
    with path.open("w", encoding="utf-8") as fh:
        written = 0
        while written < target:
            line = " ".join(rng.choice(WORDS) for _ in range(120)) + ".\n"
            fh.write(line)
            written += len(line)


class CountingSink:
    """Counts what ingest would write; holds nothing."""

    collection = "bench"

    def __init__(self) -> None:
        self.stored = 0

    def store(self, passages: Sequence[Any]) -> int:
        self.stored += len(passages)
        return len(passages)

    def sync_index(self, changed: bool) -> None:
        pass


def cheap_embedding() -> Any:
    import numpy as np
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
    from chromadb.utils.embedding_functions import register_embedding_function

    @register_embedding_function
    class HashedRandom(EmbeddingFunction[Documents]):
        def __init__(self) -> None:
            pass

        def __call__(self, input: Documents) -> Embeddings:
            out = []
            for text in input:
                seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest())
                v = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
                out.append(v / np.linalg.norm(v))
            return out

        @staticmethod
        def name() -> str:
            return "leadline-bench-hashed-random"

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> HashedRandom:
            return HashedRandom()

        def get_config(self) -> dict[str, Any]:
            return {}

    return HashedRandom()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("megabytes", type=float, nargs="?", default=50)
    parser.add_argument("--files", type=int, default=1, help="split the total over this many")
    parser.add_argument("--store", choices=["none", "chroma"], default="none")
    args = parser.parse_args()
    from leadline.tools.search.ingest import ingest

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        for i in range(args.files):
            generate(folder / f"doc{i:03d}.txt", args.megabytes / args.files, seed=7 + i)
        if args.store == "chroma":
            from leadline.tools.search.corpus import LocalCorpus

            sink: Any = LocalCorpus.embedded(
                Path(tmp) / "store", "bench", embedding=cheap_embedding()
            )
        else:
            sink = CountingSink()
        phases: dict[str, float] = {}
        sync_index = sink.sync_index

        def timed_sync(changed: bool) -> None:  # splits writing from the BM25 rebuild
            phases["peak_rss_writing_mb"] = peak_rss_mb()
            phases["writing_s"] = time.perf_counter() - started
            sync_index(changed)

        sink.sync_index = timed_sync
        baseline = peak_rss_mb()
        started = time.perf_counter()
        summary = ingest([folder], sink, progress=False)
        elapsed = time.perf_counter() - started
        peak = peak_rss_mb()
        if args.store == "chroma":
            sink.close()
    print(
        json.dumps(
            {
                "total_mb": args.megabytes,
                "files": args.files,
                "store": args.store,
                "passages": summary.passages,
                "added": summary.added,
                "peak_rss_mb": round(peak),
                "peak_rss_writing_mb": round(phases["peak_rss_writing_mb"]),
                "rss_before_ingest_mb": round(baseline),
                "seconds": round(elapsed, 1),
                "writing_s": round(phases["writing_s"], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
