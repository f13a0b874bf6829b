"""The `leadline` command: thin adapters over the Python API, one module per group of subcommands.

Progress goes to stderr; results to stdout. With `--json`, the last stdout line is one JSON object.
Errors leadline raises on purpose (LeadlineError) print as one clear line and exit with status 2.
Handlers import lazily so `leadline --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from leadline.cli import corpus, evals, model, precompute, research, serve
from leadline.errors import LeadlineError

# Each registers its parser and sets `handler`; this order is the order of `leadline --help`.
COMMANDS: list[Callable[[Any], None]] = [
    model.register_model,
    model.register_doctor,
    research.register_ask,
    research.register_demo,
    corpus.register_ingest,
    corpus.register_search,
    precompute.register_precompute,
    research.register_batch,
    evals.register_eval,
    evals.register_sweep,
    serve.register_serve,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leadline",
        description="Deep research with search as a compute axis.",
    )
    parser.add_argument("--config", help="TOML settings file (default: ./leadline.toml)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
    return parser


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
