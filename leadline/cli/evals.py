"""`leadline eval` and `leadline sweep`: scoring systems and scaling curves."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from leadline.cli.common import add_budget_flags, budget_from_args, print_json, settings_from


def _replay(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from leadline.evals.metrics import summarize_records
    from leadline.evals.replay import records_to_replay, replay_reader
    from leadline.services import open_services

    settings = settings_from(args, reader_passages=args.reader_passages)
    records = records_to_replay(Path(args.replay))
    if args.n is not None:
        records = records[: args.n]
    step = "" if args.replay_step is None else f"-step{args.replay_step}"
    per_query = args.passages_per_query
    pool = "" if per_query is None else f"-p{per_query}"
    out = Path(args.out) / f"replay-k{settings.reader_passages}{pool}{step}.jsonl"

    async def run() -> list[dict[str, Any]]:
        async with open_services(settings) as services:
            return await replay_reader(
                records,
                out,
                services=services,
                kv_mode=args.kv_mode or settings.kv_mode,
                reader_passages=settings.reader_passages,
                up_to_step=args.replay_step,
                passages_per_query=per_query,
                progress=not args.no_progress,
            )

    summary = summarize_records(asyncio.run(run()))
    print(
        f"replay (K={settings.reader_passages}{', step ' + str(args.replay_step) if step else ''})"
        f": n={summary['n']} EM {summary['em']:.3f} F1 {summary['f1']:.3f} -> {out}"
    )
    if args.json:
        print_json({**summary, "out": str(out)})
    return 0


def type_labels(args: argparse.Namespace) -> dict[str, str] | None:
    """`--types FILE`: question types by id from an official-layout HotpotQA file."""
    if not getattr(args, "types", None):
        return None
    from leadline.evals.types import load_type_labels

    return load_type_labels(args.types)


def add_types_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--types",
        metavar="FILE",
        help="official-layout HotpotQA JSON whose `type` labels the questions by id (bridge, "
        "comparison), for reports by type; without it the dataset's own types are used, "
        "else guessed from the wording",
    )


def _eval(args: argparse.Namespace) -> int:
    import asyncio

    if args.replay:
        return _replay(args)
    if not args.dataset:
        from leadline.errors import ConfigError

        raise ConfigError("eval needs --dataset KIND:PATH (or --replay PATH)")

    from leadline.evals.baselines import parse_system
    from leadline.evals.datasets import load_dataset
    from leadline.evals.report import eval_summary_table
    from leadline.evals.runner import run_eval

    dataset = load_dataset(args.dataset, args.n, args.skip)
    names = [name for value in (args.system or ["leadline"]) for name in value.split(",") if name]
    systems = [parse_system(name, policy=args.policy, shape=args.shape) for name in names]
    result = asyncio.run(
        run_eval(
            dataset,
            systems,
            budget_from_args(args),
            args.out,
            settings=settings_from(
                args,
                passages_per_query=args.passages_per_query,
                reader_passages=args.reader_passages,
                follow_links=args.follow_links,
                stop_confidence=args.stop_confidence,
            ),
            collection=args.collection,
            kv_mode=args.kv_mode,
            progress=not args.no_progress,
            types=type_labels(args),
        )
    )
    print(eval_summary_table(result["systems"]))
    print(f"results in {args.out} ({result['wall_s']:.0f}s)", file=sys.stderr)
    if args.json:
        first = next(iter(result["systems"].values()))
        print_json(
            {
                **first,
                "dataset": result["dataset"],
                "out": args.out,
                "systems": result["systems"],
                "wall_s": result["wall_s"],
            }
        )
    return 0


def register_eval(sub: Any) -> None:
    p = sub.add_parser("eval", help="evaluate systems on a QA dataset (EM/F1, recall, costs)")
    p.add_argument(
        "--dataset",
        help="KIND:PATH, KIND one of hotpotqa, musique, 2wiki, qa (plain Q/A JSONL)",
    )
    p.add_argument(
        "--replay",
        metavar="PATH",
        help="re-run only the final reader over the evidence pools stored in a leadline eval "
        "file (or every leadline-*.jsonl in a directory); writes OUT/replay-kK[-stepS].jsonl",
    )
    p.add_argument(
        "--replay-step",
        type=int,
        default=None,
        help="with --replay: read each pool as it was after this step (default: all of it)",
    )
    p.add_argument("-n", type=int, default=None, help="first N questions (default: all)")
    p.add_argument(
        "--skip", type=int, default=0, help="skip the first M questions (e.g. a held-out slice)"
    )
    p.add_argument(
        "--system",
        action="append",
        help="closed-book, rag, ircot, leadline[-fixed|-adaptive][-sequential|-parallel|"
        "-auto]; repeat or comma-separate (default: leadline)",
    )
    add_budget_flags(p)
    add_types_flag(p)
    p.add_argument(
        "--out", required=True, help="output directory (resumable: finished ids are skipped)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--json",
        action="store_true",
        help="last line: one JSON object with em, f1, n and mean costs",
    )
    p.set_defaults(handler=_eval)


def _sweep(args: argparse.Namespace) -> int:
    import asyncio
    import shlex

    from leadline.evals.datasets import load_dataset
    from leadline.evals.sweep import SweepGrid, parse_caps, parse_ints, run_sweep

    command = "leadline " + shlex.join(sys.argv[1:])
    if args.replay:
        return _replay_sweep(args, command)
    if not args.dataset:
        from leadline.errors import ConfigError

        raise ConfigError("sweep needs --dataset KIND:PATH (or --replay PATH)")
    shapes = tuple(s for s in args.shapes.split(",") if s)
    grid = SweepGrid(
        parse_ints(args.search_steps, "--search-steps"),
        parse_ints(args.token_caps, "--token-caps"),
        shapes,
        args.policy,
        parse_caps(args.reasoning_tokens, "--reasoning-tokens"),
        parse_ints(args.width, "--width"),
    )
    summary = asyncio.run(
        run_sweep(
            load_dataset(args.dataset, args.n, args.skip),
            grid,
            args.out,
            settings=settings_from(args),
            base_budget=sweep_base_budget(args),
            collection=args.collection,
            kv_mode=args.kv_mode,
            compare_policies=compare_policies(args),
            progress=not args.no_progress,
            command=command,
            log=lambda m: print(m, file=sys.stderr, flush=True),
            types=type_labels(args),
        )
    )
    plots = ", ".join(summary["plots"])
    print(f"{args.out}/report.md, curves.csv, law.json, {plots} ({summary['wall_s']:.0f}s)")
    if args.json:
        print_json(summary)
    return 0 if not summary["budget_violations"] else 1


def compare_policies(args: argparse.Namespace) -> tuple[str, ...]:
    """`--compare-policies` (default adaptive), none with `--no-adaptive`."""
    names = tuple(p.strip() for p in args.compare_policies.split(",") if p.strip())
    if args.no_adaptive:
        names = tuple(p for p in names if p != "adaptive")
    unknown = set(names) - {"fixed", "adaptive", "allocate"}
    if unknown:
        from leadline.errors import ConfigError

        raise ConfigError(f"unknown policies {sorted(unknown)}; use adaptive and/or allocate")
    return names


def sweep_base_budget(args: argparse.Namespace) -> Any:
    """What every cell shares besides its caps: the token unit (and the default rates)."""
    from leadline.budgets.budget import Budget

    rate = {} if args.cached_token_rate is None else {"cached_token_rate": args.cached_token_rate}
    return Budget(**rate)


def _replay_sweep(args: argparse.Namespace, command: str) -> int:
    """`sweep --replay PATH`: the sweep's cells from stored max-budget runs and reader calls."""
    import asyncio
    from pathlib import Path

    from leadline.errors import ConfigError
    from leadline.evals.datasets import load_dataset
    from leadline.evals.replay import records_to_replay
    from leadline.evals.replay_sweep import (
        CheckSpec,
        ReplayGrid,
        replay_source,
        run_replay_sweep,
    )
    from leadline.evals.runner import eval_collection, open_eval_services, prepare_corpus
    from leadline.evals.sweep import parse_caps, parse_ints

    records = [r for r in records_to_replay(Path(args.replay)) if "pool" in r]
    if args.n is not None:
        records = records[args.skip : args.skip + args.n]
    grid = ReplayGrid(
        parse_ints(args.search_steps, "--search-steps"),
        parse_caps(args.reasoning_tokens, "--reasoning-tokens"),
        parse_ints(args.width, "--width"),
    )
    # The stored runs' pool and reader settings, so the checked true cells run as they did.
    source = replay_source(records)
    settings = settings_from(
        args,
        passages_per_query=source.reader.get("passages_per_query"),
        reader_passages=args.reader_passages or source.reader.get("reader_passages"),
    )
    check = None
    if args.check:
        if not args.dataset:
            raise ConfigError("--check runs the true cells: it needs --dataset KIND:PATH")
        dataset = load_dataset(args.dataset)
        # the true cells search the collection prepared for the file (named after it)
        check = CheckSpec(dataset, args.check, eval_collection(dataset, args.collection, settings))

    async def run() -> dict[str, Any]:
        if check is not None:
            print(
                await prepare_corpus(check.dataset, settings, check.collection, False),
                file=sys.stderr,
            )
        async with open_eval_services(settings) as services:
            return await run_replay_sweep(
                records,
                grid,
                args.out,
                services=services,
                reader_passages=args.reader_passages,
                check=check,
                progress=not args.no_progress,
                command=command,
                replayed_from=args.replay,
            )

    summary = asyncio.run(run())
    print(
        f"{args.out}/report.md, curves.csv, law.json ({summary['reader_calls']} reader calls, "
        f"{summary['wall_s']:.0f}s)"
    )
    if args.json:
        print_json(summary)
    return 0


def register_sweep(sub: Any) -> None:
    p = sub.add_parser(
        "sweep",
        help="accuracy over a grid of search steps x token caps x reasoning tokens x width, "
        "with the fitted law",
    )
    p.add_argument("--dataset", help="KIND:PATH, as for eval (with --replay: for --check)")
    p.add_argument("-n", type=int, default=None, help="first N questions (default: all)")
    p.add_argument(
        "--skip", type=int, default=0, help="skip the first M questions (e.g. a held-out slice)"
    )
    p.add_argument(
        "--search-steps",
        "--steps",
        dest="search_steps",
        default="0,1,2,4",
        help="search-step caps (default 0,1,2,4)",
    )
    p.add_argument("--token-caps", default="4000,8000", help="token caps (default 4000,8000)")
    p.add_argument(
        "--reasoning-tokens",
        default="none",
        help="caps on the reasoner's completion tokens, 'none' for no cap (e.g. 0,260,520,none;"
        " default none)",
    )
    p.add_argument(
        "--width", default="1", help="reader samples combined by vote (e.g. 1,3,5; default 1)"
    )
    p.add_argument(
        "--cached-token-rate",
        type=float,
        default=None,
        help="what a cached prompt token counts for in the token caps (default 0.1; 1: the "
        "old unit)",
    )
    p.add_argument("--shapes", default="auto", help="comma-separated shapes (default auto)")
    p.add_argument(
        "--policy",
        choices=["fixed", "adaptive"],
        default="fixed",
        help="policy of the grid cells (default fixed: spend up to the caps)",
    )
    p.add_argument(
        "--no-adaptive",
        action="store_true",
        help="skip the adaptive run at the max budget (and the compute-matched comparison)",
    )
    p.add_argument(
        "--compare-policies",
        default="adaptive",
        help="policies run at the max budget and compared with the fixed cells at equal mean "
        "compute (default adaptive; e.g. adaptive,allocate with --allocation-model)",
    )
    p.add_argument(
        "--allocation-model",
        metavar="LAW.json",
        default=None,
        help="the fitted law the allocate policy reads (default: the shipped one)",
    )
    p.add_argument(
        "--replay",
        metavar="PATH",
        help="no new runs: cut each question's stored max-budget run (a leadline eval file, "
        "or a directory of them) at every cell's search steps and reasoning tokens and re-run "
        "only the reader, once per distinct pool, with the widest width; token caps come from "
        "the stored runs",
    )
    p.add_argument(
        "--check",
        type=int,
        default=0,
        metavar="N",
        help="with --replay: also run the true cells on N questions of --dataset and report "
        "replayed - true per cell",
    )
    p.add_argument(
        "--reader-passages",
        type=int,
        default=None,
        help="with --replay: K, the passages the reader reads (default: the stored runs')",
    )
    add_types_flag(p)
    p.add_argument("--kv-mode", choices=["shared", "isolated"], default=None)
    p.add_argument("--collection", default=None, help="collection (default: named after the file)")
    p.add_argument("--out", required=True, help="output directory (resumable per cell)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="last line: the sweep summary as JSON")
    p.set_defaults(handler=_sweep)
