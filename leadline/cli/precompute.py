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

    if args.max_tokens is not None and args.max_tokens < 0:
        raise ConfigError(f"--max-tokens must be >= 0, got {args.max_tokens}")
    settings = settings_from(args)
    corpus = LocalCorpus.from_settings(settings, args.collection, create=False)
    try:
        if args.status:
            print_json(status(corpus))
            return 0
        report = asyncio.run(_run(corpus, settings, args.max_tokens, not args.no_progress))
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
        st = summary["status"]
        print(
            f"{st['collection']}: links {st['links']}, {st['distilled']} of {st['passages']} "
            f"passages distilled -> {st['directory']}"
        )
    stopped = {s.stopped for s in report.stages}
    return 1 if "error" in stopped else 0


async def _run(corpus: Any, settings: Any, max_tokens: int | None, show: bool) -> Any:
    from leadline.precompute.job import precompute

    if max_tokens == 0:
        return await precompute(corpus, max_tokens=0, show_progress=show)
    from leadline.services import open_services

    async with open_services(settings) as services:
        return await precompute(
            corpus,
            llm=services.llm,
            max_tokens=max_tokens,
            extra_body=services.slot_extra_body(0),
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
