"""What every subcommand shares: JSON output, settings, budget flags, progress lines."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def print_json(obj: Any) -> None:
    """Print one JSON object as the last stdout line."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def settings_from(args: argparse.Namespace, **overrides: Any) -> Any:
    from leadline.config import load_settings

    model = getattr(args, "allocation_model", None)
    if model is not None:
        overrides.setdefault("allocation_model", model)
    return load_settings(getattr(args, "config", None), **overrides)


def add_budget_flags(p: argparse.ArgumentParser) -> None:
    """The budget flags shared by `ask`, `batch`, `eval` and `serve` (for `serve`, the most a
    request may ask for; `--cached-token-rate` is its unit, the least a request may count)."""
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
    p.add_argument(
        "--max-reasoning-tokens",
        type=int,
        default=None,
        help="cap on the completion tokens of all the reasoner's calls together (default: "
        "none); with none left the run searches on without reasoning",
    )
    p.add_argument(
        "--reasoning-step-tokens",
        type=int,
        default=None,
        help="completion allowance of one reasoner call, 16..4096 (default: the reasoner's, 260)",
    )
    p.add_argument(
        "--width",
        type=int,
        default=None,
        help="reader samples combined by majority vote, 1..16 (default 1: one greedy read)",
    )
    p.add_argument(
        "--cached-token-rate",
        type=float,
        default=None,
        help="what a cached prompt token counts for in --max-tokens, 0..1 (default 0.1, as "
        "providers bill cache reads; 1 counts every prompt token in full, the old unit)",
    )
    p.add_argument(
        "--policy",
        choices=["fixed", "adaptive", "allocate"],
        default="adaptive",
        help="fixed: search up to the caps unless the reasoner is done; adaptive (default): "
        "steps by difficulty, early stop; allocate: the mix of search steps, reasoning tokens "
        "and width the fitted law predicts best for the question (--allocation-model). Under "
        "every policy a sure early read ends the run first (--stop-confidence 0: never)",
    )
    p.add_argument(
        "--allocation-model",
        metavar="LAW.json",
        default=None,
        help="the fitted law --policy allocate reads (law.json from `leadline sweep`; default: "
        "LEADLINE_ALLOCATION_MODEL, else the one shipped with leadline)",
    )
    p.add_argument("--shape", choices=["sequential", "parallel", "auto"], default="auto")
    p.add_argument(
        "--kv-mode",
        choices=["shared", "isolated"],
        default=None,
        help="prompt layout (default: settings, i.e. shared)",
    )
    p.add_argument("--collection", default=None, help="corpus collection to search")
    p.add_argument(
        "--passages-per-query",
        type=int,
        default=None,
        help="hits of each query kept in the evidence pool (default: settings, i.e. 5)",
    )
    p.add_argument(
        "--reader-passages",
        type=int,
        default=None,
        help="K, the best pool passages the final reader reads (default: settings, i.e. 5)",
    )
    p.add_argument(
        "--no-follow-links",
        dest="follow_links",
        action="store_const",
        const=False,
        default=None,
        help="no link steps, even where the collection has a link graph (leadline precompute)",
    )
    p.add_argument(
        "--stop-confidence",
        type=float,
        default=None,
        metavar="P",
        help="read after the first search round and stop there when the reader is at least P "
        "sure of its answer (0..1; 0 = never; default: settings, i.e. 0.8)",
    )


def budget_from_args(args: argparse.Namespace) -> Any:
    from leadline.budgets.budget import Budget

    optional = {
        name: getattr(args, name)
        for name in ("width", "cached_token_rate")
        if getattr(args, name, None) is not None
    }
    return Budget(
        max_tokens=args.max_tokens,
        max_search_steps=args.max_search_steps,
        max_compute=args.max_compute,
        max_reasoning_tokens=args.max_reasoning_tokens,
        reasoning_step_tokens=args.reasoning_step_tokens,
        **optional,
    )


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The research options shared by `ask` and `batch`."""
    return {
        "policy": args.policy,
        "shape": args.shape,
        "kv_mode": args.kv_mode,
        "collection": args.collection,
        "passages_per_query": args.passages_per_query,
        "reader_passages": args.reader_passages,
        "follow_links": args.follow_links,
        "stop_confidence": args.stop_confidence,
    }


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
    if kind == "read":
        sure = event.get("confidence")
        how = f"p={sure:.2f}" if sure is not None else "no log-probabilities"
        then = "sure enough: stop" if event.get("stopped") else "search on"
        return f"early read: {event.get('answer')!r} ({how}) -> {then} {cost}"
    if kind == "answer":
        via = "" if event.get("source") in (None, "reader") else f" (from the {event['source']})"
        return f"answer: {event['answer']!r}{via} {cost}"
    return json.dumps(event, default=str)
