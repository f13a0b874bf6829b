"""`leadline serve`: the research assistant HTTP API."""

from __future__ import annotations

import argparse
from typing import Any

from leadline.cli.common import add_budget_flags, settings_from


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
    return serve(settings_from(args), config, host=args.host, port=args.port)


def register_serve(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="run the research API (jobs, live events, OpenAI-compatible chat)",
        description="Budget flags set the most any request may ask for; a field a request "
        "leaves out gets leadline's default, lowered to the flag when that is smaller. "
        "--policy, --shape, --kv-mode and --collection are defaults. "
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
