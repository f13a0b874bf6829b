"""Retrieval benchmark: recall and latency of bm25, dense and hybrid on the HotpotQA dev300 pool.

Why: the searcher's value depends on finding both gold paragraphs of a multi-hop question, and
the budget controller prices a search step by its latency. This measures both on the closed
corpus pooled from `../shared/data/hotpotqa/dev300.jsonl` (each question's text is the query),
plus a scale run on a generated corpus (default 100k passages) in a child process, so its peak
memory is its own. `--sweep` studies fusion settings offline on the exact candidate lists
hybrid search sees, choosing on the first half of the questions and reporting the second half.

    .venv/bin/python benchmarks/retrieval.py --json [--scale-n 100000] [--sweep]

With --json the last stdout line is one JSON object:
{"modes": {"bm25": {...}, "dense": {...}, "hybrid": {...}}, "ingest_s": ..., "scale": {...}}.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from leadline.tools.search.base import content_id  # noqa: E402
from leadline.tools.search.corpus import LocalCorpus, rrf_fuse  # noqa: E402
from leadline.tools.search.ingest import ingest  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "hotpotqa" / "dev300.jsonl"
MODES = ("bm25", "dense", "hybrid")
KS = (2, 5, 10)
SCALE_QUERIES = 200
SWEEP_RRF_K = (1, 3, 5, 10, 20, 30, 60, 100)
SWEEP_DEPTH = (10, 20, 30, 40, 60, 100)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_questions(path: Path) -> list[tuple[str, set[str]]]:
    """(question text, ids of its gold supporting paragraphs), as ingest ids them."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            gold = {
                content_id(c["title"], c["paragraph_text"])
                for c in q["contexts"]
                if c["is_supporting"]
            }
            out.append((q["question_text"], gold))
    return out


def doc_id(passage_id: str) -> str:
    """Chunks of one paragraph (`id#n`) count as that paragraph."""
    return passage_id.split("#", 1)[0]


def recall(ranked: list[list[str]], golds: list[set[str]]) -> dict[str, float]:
    n = len(golds)
    out: dict[str, float] = {}
    for k in KS:
        out[f"recall@{k}"] = sum(g <= set(r[:k]) for r, g in zip(ranked, golds, strict=True)) / n
    pairs = list(zip(ranked, golds, strict=True))
    out["recall@10_any"] = sum(bool(g & set(r[:10])) for r, g in pairs) / n
    return {key: round(v, 4) for key, v in out.items()}


def percentiles(latencies_s: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles([t * 1000 for t in latencies_s], n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 2), "p95_ms": round(cuts[94], 2)}


async def run_modes(
    corpus: LocalCorpus, queries: list[str], golds: list[set[str]] | None, k: int = 10
) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for mode in MODES:
        view = corpus.with_mode(mode)  # type: ignore[arg-type]
        for q in queries[:3]:  # warm-up: model load, BM25 load, chroma caches
            await view.search(q, k)
        ranked: list[list[str]] = []
        latencies: list[float] = []
        for q in queries:
            started = time.perf_counter()
            passages = await view.search(q, k)
            latencies.append(time.perf_counter() - started)
            ranked.append([doc_id(p.id) for p in passages])
        stats: dict[str, float] = recall(ranked, golds) if golds is not None else {}
        stats.update(percentiles(latencies))
        results[mode] = stats
        log(f"{mode:7} {stats}")
    return results


def sweep(corpus: LocalCorpus, questions: list[tuple[str, set[str]]]) -> dict[str, Any]:
    """Grid over RRF k, candidate depth and the dense weight; choose on half A, report half B."""
    max_depth = 100
    lists = []
    for q, _ in questions:
        lexical, dense = corpus.candidates(q, max_depth)
        lists.append(([pid for pid, _ in lexical], [pid for pid, _ in dense]))
    golds = [g for _, g in questions]
    half = len(questions) // 2
    grid = []
    for rrf_k in SWEEP_RRF_K:
        for depth in SWEEP_DEPTH:
            for dense_w in (0.5, 0.75, 1.0, 1.25):
                ranked = [  # fused on passage ids, exactly as search does, then mapped to docs
                    [
                        doc_id(pid)
                        for pid, _ in rrf_fuse(
                            [b[:depth], d[:depth]], k=rrf_k, weights=[1.0, dense_w]
                        )
                    ][:10]
                    for b, d in lists
                ]
                grid.append(
                    {
                        "rrf_k": rrf_k,
                        "depth": depth,
                        "dense_weight": dense_w,
                        "A": recall(ranked[:half], golds[:half]),
                        "B": recall(ranked[half:], golds[half:]),
                        "all": recall(ranked, golds),
                    }
                )
    best = max(grid, key=lambda g: (g["A"]["recall@10"], g["A"]["recall@5"]))
    current = next(
        (
            g
            for g in grid
            if g["rrf_k"] == corpus.rrf_k
            and g["depth"] == corpus.depth
            and g["dense_weight"] == corpus.dense_weight
        ),
        None,
    )
    for g in sorted(grid, key=lambda g: -g["A"]["recall@10"])[:10]:
        log(f"sweep {g}")
    for dense_w in (0.5, 1.0):  # recall@10 over all questions: rows rrf_k, columns depth
        log(
            f"sweep recall@10, dense weight {dense_w}: depth "
            + " ".join(f"{d:>5}" for d in SWEEP_DEPTH)
        )
        for rrf_k in SWEEP_RRF_K:
            row = [
                g["all"]["recall@10"]
                for g in grid
                if g["rrf_k"] == rrf_k and g["dense_weight"] == dense_w
            ]
            log(f"  rrf_k {rrf_k:>3}: " + " ".join(f"{r:.3f}" for r in row))
    return {"best_on_A": best, "default": current, "grid_size": len(grid)}


def generate_corpus(path: Path, n: int, seed: int = 0) -> None:
    """n synthetic passages: 30-60 words drawn Zipf-like from the dev300 vocabulary."""
    import random
    import re

    words = Counter()
    for line in DATA.read_text(encoding="utf-8").splitlines():
        for c in json.loads(line)["contexts"]:
            words.update(re.findall(r"[A-Za-z][A-Za-z'-]+", c["paragraph_text"]))
    vocab = [w for w, _ in words.most_common(20000)]
    cum = list(itertools.accumulate(1.0 / (rank + 10) for rank in range(len(vocab))))
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            body = " ".join(rng.choices(vocab, cum_weights=cum, k=rng.randint(30, 60)))
            title = " ".join(rng.choices(vocab[:5000], k=2)).title()
            fh.write(json.dumps({"id": f"gen-{i}", "title": title, "text": body + "."}) + "\n")


async def scale_child(n: int, workdir: Path) -> dict[str, Any]:
    """Runs in its own process: generate, ingest, query; peak RSS is this process's."""
    src = workdir / "generated.jsonl"
    started = time.perf_counter()
    generate_corpus(src, n)
    gen_s = time.perf_counter() - started
    corpus = LocalCorpus.embedded(workdir / "store", "scale")
    started = time.perf_counter()
    summary = ingest([src], corpus, progress=True)
    ingest_s = time.perf_counter() - started
    queries = [q for q, _ in load_questions(DATA)][:SCALE_QUERIES]
    modes = await run_modes(corpus, queries, None)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "passages": corpus.count(),
        "added": summary.added,
        "generate_s": round(gen_s, 2),
        "ingest_s": round(ingest_s, 2),
        "ingest_passages_per_s": round(summary.added / ingest_s, 1) if ingest_s else None,
        "queries": len(queries),
        "modes": modes,
        "peak_rss_mb": round(peak_kb / 1024, 1),
    }


def run_scale(n: int) -> dict[str, Any]:
    log(f"scale run: {n} generated passages (child process)")
    cmd = [sys.executable, __file__, "--scale-child", str(n)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        return {"error": f"scale child exited {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="last line: one JSON object")
    parser.add_argument("--data", type=Path, default=DATA, help="IRCoT-layout HotpotQA JSONL")
    parser.add_argument("--scale-n", type=int, default=100_000, help="0 skips the scale run")
    parser.add_argument("--chunk-tokens", type=int, default=200)
    parser.add_argument("--sweep", action="store_true", help="also grid-search fusion settings")
    parser.add_argument(
        "--store",
        type=Path,
        help="keep the dev300 store here and reuse it (ingest_s then measures "
        "an idempotent re-ingest); default: a temporary directory",
    )
    parser.add_argument("--scale-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale_child is not None:
        with tempfile.TemporaryDirectory(prefix="leadline-scale-") as tmp:
            print(json.dumps(await scale_child(args.scale_child, Path(tmp))))
        return 0
    if not args.data.exists():
        log(f"missing {args.data}: the benchmark needs the shared HotpotQA data")
        return 2
    questions = load_questions(args.data)
    with tempfile.TemporaryDirectory(prefix="leadline-bench-") as tmp:
        corpus = LocalCorpus.embedded(args.store or Path(tmp), "dev300")
        started = time.perf_counter()
        summary = ingest([args.data], corpus, chunk_tokens=args.chunk_tokens)
        ingest_s = time.perf_counter() - started
        log(str(summary))
        modes = await run_modes(corpus, [q for q, _ in questions], [g for _, g in questions])
        report: dict[str, Any] = {
            "modes": modes,
            "ingest_s": round(ingest_s, 2),
            "corpus": {
                "passages": corpus.count(),
                "added": summary.added,
                "documents": summary.documents,
                "duplicates": summary.duplicates,
                "questions": len(questions),
                "chunk_tokens": args.chunk_tokens,
            },
            "fusion": {
                "rrf_k": corpus.rrf_k,
                "depth": corpus.depth,
                "dense_weight": corpus.dense_weight,
            },
        }
        if args.sweep:
            report["sweep"] = sweep(corpus, questions)
    report["scale"] = run_scale(args.scale_n) if args.scale_n > 0 else {}
    report["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    if args.json:
        print(json.dumps(report))
    else:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
