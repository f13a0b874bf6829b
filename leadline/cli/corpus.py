"""`leadline ingest` and `leadline search`: building and querying a corpus."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from leadline.cli.common import print_json, settings_from


def _ingest(args: argparse.Namespace) -> int:
    from leadline.tools.search.corpus import LocalCorpus
    from leadline.tools.search.ingest import prepare

    # Input first: a bad file must not leave an empty collection behind for searches to find.
    prepared = prepare(args.paths, chunk_tokens=args.chunk_tokens, progress=True)
    corpus = LocalCorpus.from_settings(settings_from(args), args.collection)
    summary = prepared.add_to(corpus)
    print(summary, file=sys.stderr)
    if args.json:
        print_json(summary.to_dict())
    return 0


def _search(args: argparse.Namespace) -> int:
    import asyncio
    from dataclasses import asdict

    from leadline.tools.search import open_search_backend

    backend = open_search_backend(
        settings_from(args), args.collection, mode=args.mode, use_cache=not args.no_cache
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
        help="longest passage in embedding tokens (default 200, at most 256); longer documents "
        "are split into overlapping chunks",
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
