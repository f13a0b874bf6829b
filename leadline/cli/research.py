"""`leadline ask`, `leadline demo` and `leadline batch`: answering questions."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from leadline.cli.common import (
    add_budget_flags,
    budget_from_args,
    describe_event,
    print_json,
    run_options,
    settings_from,
)


def _ask(args: argparse.Namespace) -> int:
    from leadline.budgets.ledger import describe_overrun
    from leadline.core import research

    settings = settings_from(args)
    result = research(
        args.question,
        budget=budget_from_args(args),
        settings=settings,
        run_id=args.run_id,
        resume=args.resume,
        ledger_path=args.ledger,
        on_event=lambda e: print(describe_event(e), file=sys.stderr, flush=True),
        **run_options(args),
    )
    over = result.usage.budget_overrun
    if over:
        print(f"leadline: warning: {describe_overrun(over)}", file=sys.stderr)
    if args.json:
        print_json(result.to_dict())
        return 0 if result.stop_reason != "error" and not over else 1
    print(f"\nAnswer: {result.answer}")
    for c in result.citations:
        print(f"  [{c.evidence}] {c.title} ({c.source}): {c.quote[:160]}")
    u = result.usage
    print(
        f"Spend: {u.total_tokens} tokens ({u.prompt_tokens} prompt, "
        f"{u.cached_tokens} cached, {u.completion_tokens} completion; "
        f"{u.weighted_tokens:,.0f} weighted, cached x{u.cached_token_rate:g}), "
        f"{u.reasoner_tokens} reasoner tokens, {u.search_steps} search steps; "
        f"stopped: {result.stop_reason}; {result.wall_s:.1f}s; run id {result.run_id}"
    )
    if result.error:
        print(f"Error: {result.error}", file=sys.stderr)
        return 1
    return 1 if over else 0


def register_ask(sub: Any) -> None:
    p = sub.add_parser("ask", help="research one question and print answer, citations and spend")
    p.add_argument("question")
    add_budget_flags(p)
    p.add_argument("--ledger", help="append the run's ledger to this JSONL file")
    p.add_argument("--run-id", help="id for the run (to resume it later)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run --run-id")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(handler=_ask)


def _demo(args: argparse.Namespace) -> int:
    from leadline.demo import demo_collection, first_question, resolve_demo_data
    from leadline.tools.search import LocalCorpus, ingest

    settings = settings_from(args)
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
            precompute=args.precompute_max_tokens if args.precompute else None,
            settings=settings_from(args),
            progress=not args.no_progress,
            **run_options(args),
        )
    )
    if args.json:
        print_json(summary)
    else:
        print(
            f"{summary['ok']} answered, {summary['failed']} failed, {summary['not_run']} not run "
            f"(pool exhausted), {summary['already_done']} already done; "
            f"{summary['total_tokens']:,} tokens ({summary['weighted_tokens']:,.0f} weighted), "
            f"{summary['search_steps']} searches, "
            f"{summary['wall_s']:.1f}s -> {summary['output']}"
        )
    if summary["malformed_lines"]:
        print(
            f"leadline: {len(summary['malformed_lines'])} malformed input line(s) were skipped",
            file=sys.stderr,
        )
    if summary["failed_earlier"]:
        print(
            f"leadline: {summary['failed_earlier']} question(s) failed in an earlier run "
            "(--retry-errors runs them again)",
            file=sys.stderr,
        )
    unfinished = (
        summary["failed"]
        + summary["failed_earlier"]
        + summary["not_run"]
        + len(summary["malformed_lines"])
    )
    return 0 if unfinished == 0 else 1


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
        help="move failed rows from the output to OUT.retried.jsonl first, so those questions "
        "run again (a --budget-pool still counts what they cost)",
    )
    p.add_argument(
        "--passages",
        metavar="FILE.jsonl",
        help="search this JSONL file of {id?, title?, text} passages (BM25 in memory) "
        "instead of a collection",
    )
    p.add_argument(
        "--precompute",
        action="store_true",
        help="first bring the collection's precomputed results up to date (leadline precompute)",
    )
    p.add_argument(
        "--precompute-max-tokens",
        type=int,
        default=0,
        help="with --precompute: model tokens for distilling passages (default 0: links only)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    add_budget_flags(p)
    p.set_defaults(handler=_batch)
