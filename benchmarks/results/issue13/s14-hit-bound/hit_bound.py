"""How far the shared layout's cache hit rate can go while the early read stops most runs.

For eval records with `calls` (one entry per model call: agent, prompt and cached tokens) it
prints the hit rate now, the share of questions answered by one call and their hit rate, the
team runs' hit rate and what it would have to be for the whole set to reach `--target`, and an
optimistic bound: the rate if each run's first planner call were served from the cache every
token the early read computed (the most a layout sharing the early read's prefix could save;
it ignores that such a layout moves the charter behind the passages, where it is not cached),
and the rate if every read after the first call were served from the cache in full (the most
a reader reading the team's own prompt could give), and both together.

    python hit_bound.py RECORDS.jsonl [...] [--target 0.70]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def tokens(runs: list[list[dict]]) -> tuple[int, int]:
    """Prompt and cached tokens of every call of `runs`."""
    calls = [c for run in runs for c in run]
    return sum(c["prompt_tokens"] for c in calls), sum(c["cached_tokens"] for c in calls)


def uncached(call: dict) -> int:
    return call["prompt_tokens"] - call["cached_tokens"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="+", type=Path)
    parser.add_argument("--target", type=float, default=0.70)
    args = parser.parse_args()
    runs = [
        json.loads(line)["calls"]
        for path in args.records
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    prompt, cached = tokens(runs)
    one = [c for c in runs if len(c) == 1]
    team = [c for c in runs if len(c) > 1]
    one_p, one_c = tokens(one)
    team_p, team_c = tokens(team)
    # What each run's first planner call computed that the early read had computed before it.
    reused = 0
    for calls in team:
        planner = next((c for c in calls[1:] if c["agent"] == "planner"), None)
        if planner:
            reused += min(uncached(calls[0]), uncached(planner))
    after_first = {
        agent: sum(uncached(c) for run in runs for c in run[1:] if c["agent"] == agent)
        for agent in ("planner", "reasoner", "answer")
    }
    need = (args.target * prompt - one_c) / team_p
    print(f"runs {len(runs)}: hit {cached / prompt:.3f} over {prompt / len(runs):.0f} prompt tok/q")
    if one:
        print(f"one call (the early read only): {len(one)} runs, hit {one_c / one_p:.3f}")
    print(f"team runs: {len(team)}, hit {team_c / team_p:.3f}")
    print(f"for {args.target:.0%} overall the team runs would need {need:.3f}")
    for agent, tokens_uncached in after_first.items():
        if tokens_uncached:
            print(
                f"  {agent} after the first call: {tokens_uncached / len(runs):.0f} uncached tok/q"
            )
    all_reads = (cached + after_first["answer"]) / prompt
    print(f"if every read after the first were served from the cache: {all_reads:.3f}")
    bound = (cached + reused) / prompt
    print(f"bound, the planner reusing all the early read computed: {bound:.3f}")
    both = (cached + reused + after_first["answer"]) / prompt
    print(f"both (the whole run one prefix, the reader's calls included): {both:.3f}")


if __name__ == "__main__":
    main()
