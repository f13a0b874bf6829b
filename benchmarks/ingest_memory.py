"""Peak memory of ingestion's preparation stage (read, validate, tokenize, chunk, deduplicate)
for one generated text file of a given size.

    .venv/bin/python benchmarks/ingest_memory.py 200        # MB; prints one JSON line

Embedding is left out: it runs ADD_BATCH passages at a time (bounded by construction), and
embedding hundreds of MB on two cores takes hours. The file is one long .txt document of
varied English-like words — the case that needed 7.1 GB for 50 MB when the whole text was
tokenized at once. Peak RSS is the process's ru_maxrss (the baseline import cost included).
"""

from __future__ import annotations

import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

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


def generate(path: Path, megabytes: int) -> None:
    rng = random.Random(7)
    target = megabytes * 1_000_000
    with path.open("w", encoding="utf-8") as fh:
        written = 0
        while written < target:
            line = " ".join(rng.choice(WORDS) for _ in range(120)) + ".\n"
            fh.write(line)
            written += len(line)


def main() -> None:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    from leadline.tools.search.ingest import prepare

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.txt"
        generate(path, megabytes)
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        prepared = prepare([path])
        elapsed = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "file_mb": megabytes,
                "passages": len(prepared.passages),
                "peak_rss_mb": round(peak),
                "rss_before_prepare_mb": round(baseline),
                "seconds": round(elapsed, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
