"""Link-graph benchmark: does following links from the question's best hits find the second hop?

No model is used. For each dev300 question (default: questions 1-100, the development slice),
the evidence pool after *question search + one link step* is compared with *question search
alone* at the same or larger pool size: the share of questions whose pool holds both gold
paragraphs, with at most 12 passages in the pool. Also measured: link lookup latency (the graph
alone, and the whole link step: lookup, reading the passages, ranking), and the time to build
the graph for a generated 100k-passage corpus (the one `benchmarks/retrieval.py` builds).

    .venv/bin/python benchmarks/links.py --data-dir DIR [--skip 0 -n 100] [--scale-n 100000] \
        [--graph] --json

`--graph` also runs each question through the real research graph (policy fixed, 2 search
steps, the search cache off) with a scripted model that plans the question itself as its one
query and proposes nothing more, with and without link steps: the pool the graph really builds.

DIR holds the ingested `hotpotqa-dev300` collection; the link graph is built there if missing.
When the collection also has distilled passages (`leadline precompute --max-tokens N`), search
with the distilled questions fused in is measured too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.retrieval import DATA, doc_id, generate_corpus, load_questions  # noqa: E402
from leadline.agents.searcher import pool_hits, rank_pool  # noqa: E402
from leadline.config import load_settings  # noqa: E402
from leadline.precompute.job import precompute  # noqa: E402
from leadline.precompute.links import LinkMatcher, collect_names  # noqa: E402
from leadline.precompute.search import PrecomputedSearch, attach_precompute  # noqa: E402
from leadline.tools.search.base import Passage  # noqa: E402
from leadline.tools.search.corpus import LocalCorpus  # noqa: E402

# (question hits kept, link sources, linked hits kept): pools of at most 12 passages.
LINK_CONFIGS = [(5, 1, 5), (5, 2, 5), (5, 3, 5), (6, 2, 6), (7, 2, 5), (8, 2, 4), (10, 2, 2)]
SEARCH_ONLY_K = (5, 10, 12)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def both(pool: list[Passage], gold: set[str]) -> bool:
    return gold <= {doc_id(p.id) for p in pool}


def percentile_ms(samples: list[float], q: int) -> float:
    cuts = statistics.quantiles([s * 1000 for s in samples], n=100, method="inclusive")
    return round(cuts[q - 1], 3)


async def retrieval(corpus: LocalCorpus, search: PrecomputedSearch, questions: list[Any]) -> dict:
    hits: dict[str, int] = {}
    sizes: dict[str, list[int]] = {}
    lookup_s: list[float] = []
    step_s: list[float] = []
    for question, gold in questions:
        ranked = await corpus.search(question, max(SEARCH_ONLY_K))
        bases = {"search": ranked}
        if search.expansions is not None:  # distilled questions fused in (LLM precompute)
            bases["search + distilled"] = await search.search(question, max(SEARCH_ONLY_K))
        for base, hits_of_base in bases.items():
            for k in SEARCH_ONLY_K:
                name = f"{base} k={k}"
                hits[name] = hits.get(name, 0) + both(hits_of_base[:k], gold)
            for keep, n_sources, n_links in LINK_CONFIGS:
                first = hits_of_base[:keep]
                pool = rank_pool(question, pool_hits(first, question, 1, keep))
                sources = [h.passage_id for h in pool[:n_sources]]
                started = time.perf_counter()
                search.links.neighbours(sources)  # type: ignore[union-attr]
                lookup_s.append(time.perf_counter() - started)
                started = time.perf_counter()
                linked = search.follow_sync(sources, question, n_links)
                step_s.append(time.perf_counter() - started)
                name = f"{base} k={keep} + links from {n_sources} (k={n_links})"
                merged = {p.id: p for p in [*first, *linked]}
                hits[name] = hits.get(name, 0) + both(list(merged.values()), gold)
                sizes.setdefault(name, []).append(len(merged))
    n = len(questions)
    out = {
        name: {
            "both_gold": round(count / n, 3),
            "mean_pool": round(statistics.mean(sizes[name]), 2) if name in sizes else None,
        }
        for name, count in hits.items()
    }
    latency = {
        "graph_lookup_p50_ms": percentile_ms(lookup_s, 50),
        "graph_lookup_p95_ms": percentile_ms(lookup_s, 95),
        "link_step_p50_ms": percentile_ms(step_s, 50),
        "link_step_p95_ms": percentile_ms(step_s, 95),
    }
    return {"n": n, "pools": out, "latency": latency}


async def graph_pools(
    settings: Any, collection: str, questions: list[Any], steps: int = 2
) -> dict[str, Any]:
    """Both-gold share of the pools the research graph builds in `steps` search steps."""
    from leadline.budgets.budget import Budget
    from leadline.core import run_graph
    from leadline.graph.state import RunSpec
    from leadline.tools.llm import LLMClient
    from leadline.tools.search import open_search_backend
    from tests.fakes.llm_server import ScriptedLLMServer, by_role

    def plan(body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"]
        question = text.split("Question: ", 1)[-1].split("\n", 1)[0]
        return json.dumps(
            {"sub_questions": [question], "queries": [question], "hops": 2, "shape": "bridge"}
        )

    reply = {"note": "", "answer": "unknown", "confidence": 0.1, "done": False, "next_queries": []}
    handler = by_role(
        planner=plan, reasoner=json.dumps(reply), answer=json.dumps({"answer": "unknown"})
    )
    search = open_search_backend(settings, collection, use_cache=False)
    out: dict[str, Any] = {}
    with ScriptedLLMServer(handler) as server:
        llm = LLMClient(base_url=server.base_url, model="scripted", max_retries=0)
        try:
            for follow in (False, True):
                found, sizes, link_steps = 0, [], 0
                for question, gold in questions:
                    spec = RunSpec(
                        question=question,
                        budget=Budget(max_tokens=50_000, max_search_steps=steps),
                        policy="fixed",
                        shape="sequential",
                        follow_links=follow,
                    )
                    result = await run_graph(spec, llm=llm, search=search)
                    pool = {h.passage_id: h for h in result.pool}
                    found += gold <= {doc_id(pid) for pid in pool}
                    sizes.append(len(pool))
                    link_steps += sum(1 for e in result.events if e.agent == "linker")
                name = f"graph, {steps} steps" + (", links" if follow else ", no links")
                out[name] = {
                    "both_gold": round(found / len(questions), 3),
                    "mean_pool": round(statistics.mean(sizes), 2),
                    "link_steps": link_steps,
                }
                log(f"{name:40} {out[name]}")
        finally:
            await llm.aclose()
    return out


def scale_build(n: int) -> dict[str, Any]:
    """Build the graph for n generated passages in memory (what the link stage computes)."""
    with tempfile.TemporaryDirectory(prefix="leadline-links-") as tmp:
        src = Path(tmp) / "generated.jsonl"
        generate_corpus(src, n)
        passages = [
            Passage(row["id"], row["title"], row["text"], "")
            for row in map(json.loads, src.read_text(encoding="utf-8").splitlines())
        ]
    started = time.perf_counter()
    index = collect_names(passages)
    names_s = time.perf_counter() - started
    matcher = LinkMatcher(index.names)
    automaton_s = time.perf_counter() - started - names_s
    edges = sum(len(matcher.links(p)) for p in passages)
    total = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="leadline-links-store-") as tmp:
        corpus = MemoryCorpus(passages, Path(tmp))
        started = time.perf_counter()
        asyncio.run(precompute(corpus, max_tokens=0, show_progress=False))
        stage_s = time.perf_counter() - started
    return {
        "passages": n,
        "names": len(index.names),
        "dropped": len(index.dropped),
        "edges": edges,
        "names_s": round(names_s, 2),
        "automaton_s": round(automaton_s, 2),
        "build_s": round(total, 2),
        "link_stage_s": round(stage_s, 2),  # the job: the same work plus SQLite, resumable
    }


class MemoryCorpus:
    """The precompute job's view of a corpus, over passages in memory (no embedding needed)."""

    def __init__(self, passages: list[Passage], directory: Path) -> None:
        self.collection = "scale"
        self.precompute_dir = directory
        self.passages = passages

    def fingerprint(self) -> str:
        return f"{len(self.passages)}-scale"

    def iter_passages(self) -> list[Passage]:
        return self.passages


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--collection", default="hotpotqa-dev300")
    parser.add_argument("--skip", type=int, default=0)
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--scale-n", type=int, default=0, help="0 skips the scale build")
    parser.add_argument("--graph", action="store_true", help="also through the research graph")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = load_settings(data_dir=args.data_dir)
    corpus = LocalCorpus.from_settings(settings, args.collection, create=False)
    started = time.perf_counter()
    report = await precompute(corpus, max_tokens=0, show_progress=False)
    result: dict[str, Any] = {
        "collection": args.collection,
        "passages": report.passages,
        "link_stage_s": round(time.perf_counter() - started, 2) if report.stages else "fresh",
    }
    search = attach_precompute(corpus, corpus)
    if not isinstance(search, PrecomputedSearch) or search.links is None:
        log("no link graph after precompute")
        return 2
    questions = load_questions(DATA)[args.skip : args.skip + args.n]
    result["retrieval"] = await retrieval(corpus, search, questions)
    for name, row in result["retrieval"]["pools"].items():
        log(f"{name:40} both gold {row['both_gold']:.3f}  pool {row['mean_pool']}")
    log(str(result["retrieval"]["latency"]))
    if args.graph:
        result["graph"] = await graph_pools(settings, args.collection, questions)
    if args.scale_n:
        result["scale"] = await asyncio.to_thread(scale_build, args.scale_n)
        log(str(result["scale"]))
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
