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
