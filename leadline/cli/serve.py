"""`leadline serve`: the research assistant HTTP API."""

from __future__ import annotations

import argparse
from typing import Any

from leadline.cli.common import add_budget_flags, settings_from


def _serve(args: argparse.Namespace) -> int:
    from leadline.api.config import load_api_config
    from leadline.api.server import serve

    settings = settings_from(args)
    precompute: tuple[str, ...] = ()
    if not args.no_precompute:
        names = args.precompute.split(",") if args.precompute else []
        precompute = tuple(n.strip() for n in names if n.strip()) or (
            args.collection or settings.collection,
        )
    config = load_api_config(
        max_tokens=args.max_tokens,
        max_search_steps=args.max_search_steps,
        max_compute=args.max_compute,
        max_reasoning_tokens=args.max_reasoning_tokens,
        max_width=args.width,
        cached_token_rate=args.cached_token_rate,
        max_jobs_per_key=args.max_jobs_per_key,
        default_policy=args.policy,
        default_shape=args.shape,
        default_kv_mode=args.kv_mode,
        default_collection=args.collection,
        precompute_collections=precompute,
        precompute_max_tokens=args.precompute_max_tokens,
    )
    return serve(settings, config, host=args.host, port=args.port)


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
    p.add_argument(
        "--precompute",
        metavar="NAME[,NAME]",
        help="collections to precompute while no research job runs (default: the default "
        "collection); progress at GET /v1/precompute",
    )
    p.add_argument(
        "--precompute-max-tokens",
        type=int,
        default=0,
        help="model tokens idle-time precompute may spend distilling passages (default 0: "
        "link graphs only)",
    )
    p.add_argument("--no-precompute", action="store_true", help="no idle-time precompute")
    add_budget_flags(p)
    p.set_defaults(handler=_serve)
