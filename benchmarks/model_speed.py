"""Prompt and generation tokens/s of the embedded model, from llama.cpp's own `timings`.

.venv/bin/python benchmarks/model_speed.py 1.5b [--threads 2]   # one JSON line
"""

from __future__ import annotations

import argparse
import json
import random

import httpx

from leadline.config import load_settings
from leadline.tools.local_model import EmbeddedServer

WORDS = tuple(
    [
        "the",
        "of",
        "and",
        "to",
        "in",
        "is",
        "was",
        "for",
        "on",
        "that",
        "with",
        "as",
        "by",
        "at",
        "from",
        "his",
        "her",
        "which",
        "an",
        "were",
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("size", choices=["1.5b", "0.5b"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--trials", type=int, default=2)
    args = parser.parse_args()
    settings = load_settings(model_size=args.size, threads=args.threads)
    rng = random.Random(1)
    trials = []
    with EmbeddedServer.from_settings(settings) as server:
        for trial in range(args.trials):
            # a fresh random prompt each trial, so nothing is served from the prefix cache
            text = " ".join(rng.choice(WORDS) for _ in range(900)) + f" trial {trial}"
            body = {
                "model": "embedded",
                "messages": [{"role": "user", "content": "Summarise: " + text}],
                "max_tokens": 64,
                "temperature": 0,
                "ignore_eos": True,
            }
            reply = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=600)
            t = reply.json().get("timings", {})
            trials.append(
                {
                    "prompt_n": t.get("prompt_n"),
                    "prompt_per_second": round(t.get("prompt_per_second", 0.0), 1),
                    "predicted_n": t.get("predicted_n"),
                    "predicted_per_second": round(t.get("predicted_per_second", 0.0), 1),
                }
            )
    print(json.dumps({"size": args.size, "threads": args.threads, "trials": trials}))


if __name__ == "__main__":
    main()
