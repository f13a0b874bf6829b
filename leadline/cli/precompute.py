"""`leadline precompute`: sleep-time compute over a collection (link graph, optional LLM)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from leadline.cli.common import print_json, settings_from


def _precompute(args: argparse.Namespace) -> int:
    import asyncio

    from leadline.errors import ConfigError
    from leadline.precompute.job import status
    from leadline.tools.search.corpus import LocalCorpus

    if args.max_tokens < 0:
        raise ConfigError(f"--max-tokens must be >= 0, got {args.max_tokens}")
    settings = settings_from(args)
    if args.status:
        corpus = LocalCorpus.from_settings(settings, args.collection, create=False)
        try:
            print_json(status(corpus))
        finally:
            corpus.close()
        return 0
    report = asyncio.run(
        run_precompute(settings, args.collection, args.max_tokens, not args.no_progress)
    )
    corpus = LocalCorpus.from_settings(settings, args.collection, create=False)
    try:
        summary = {**report.to_dict(), "status": status(corpus)}
    finally:
        corpus.close()
    if args.json:
        print_json(summary)
    else:
        for stage in report.stages:
            print(
                f"{stage.stage}: {stage.passages} passage(s) in {stage.wall_s:.1f}s, "
                f"{stage.total_tokens:,} tokens ({stage.stopped})",
                file=sys.stderr,
            )
        if report.skipped:
            print(
                f"{report.skipped} passage(s) skipped (unusable model reply); a rerun tries them",
                file=sys.stderr,
            )
        if report.error:
            print(f"stopped on an error: {report.error}", file=sys.stderr)
        st = summary["status"]
        print(
            f"{st['collection']}: links {st['links']}, {st['distilled']} of {st['passages']} "
            f"passages distilled -> {st['directory']}"
        )
    return 1 if any(s.stopped == "error" for s in report.stages) else 0


async def run_precompute(
    settings: Any, collection: str | None, max_tokens: int, show: bool, services: Any = None
) -> Any:
    """Precompute `collection`; the model (opened here unless `services` is given) only when
    `max_tokens` is not 0. Shared with `leadline batch --precompute`."""
    from contextlib import AsyncExitStack

    from leadline.precompute.job import precompute_collection

    async with AsyncExitStack() as stack:
        llm, extra = None, {}
        if max_tokens != 0:
            if services is None:
                from leadline.services import open_services

                services = await stack.enter_async_context(open_services(settings))
            llm, extra = services.llm, services.slot_extra_body(0)
        return await precompute_collection(
            settings,
            collection,
            llm=llm,
            max_tokens=max_tokens,
            extra_body=extra,
            show_progress=show,
        )


def register_precompute(sub: Any) -> None:
    p = sub.add_parser(
        "precompute",
        help="sleep-time compute over a collection: link graph, optionally LLM distillation",
        description="Builds the collection's link graph (no model) and, with --max-tokens N, "
        "distils passages into facts and questions with the model until N tokens are spent. "
        "Resumable: run it again to continue. Results live beside the collection, are rebuilt "
        "when it changes, and are used automatically by ask, batch, eval and serve.",
    )
    p.add_argument("--collection", help="collection name (default: LEADLINE_COLLECTION or default)")
    p.add_argument(
        "--max-tokens",
        type=int,
        default=0,
        help="model tokens this run may spend distilling passages (default 0: the link graph "
        "only, no model)",
    )
    p.add_argument("--status", action="store_true", help="print where it stands; run nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(handler=_precompute)
