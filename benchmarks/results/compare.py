"""Compare eval (or replay) record files on the questions all of them finished.

    python benchmarks/results/compare.py REFERENCE.jsonl OTHER.jsonl [OTHER.jsonl ...]

Prints, per file: n, EM, F1, mean tokens (prompt, cached, completion), search steps, wall time,
the cache hit rate (of all calls, of the reader's, of the team's), answer sources; and the
reference's paired EM and F1 difference to each other file with a 95% percentile bootstrap
interval over questions (2,000 resamples, seed 0).
The last line is the same as one JSON object.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from leadline.budgets.curves import bootstrap_ci
from leadline.evals.runner import load_records


def role_hit_rates(rows: list[dict]) -> dict:
    """The cache hit rate of leadline's final reader calls and of the team's (planner and
    reasoner) apart: they have different prompts, so a layout change moves them apart."""
    reader = [r.get("reader_cost") or {} for r in rows]
    read_prompt = sum(c.get("prompt_tokens", 0) for c in reader)
    read_cached = sum(c.get("cached_tokens", 0) for c in reader)
    prompt = sum(r["cost"]["prompt_tokens"] for r in rows) - read_prompt
    cached = sum(r["cost"]["cached_tokens"] for r in rows) - read_cached
    return {
        "reader_hit_rate": round(read_cached / read_prompt, 3) if read_prompt else 0,
        "team_hit_rate": round(cached / prompt, 3) if prompt else 0,
    }


def describe(rows: list[dict]) -> dict:
    n = len(rows)
    cost = [r["cost"] for r in rows]
    prompt = sum(c["prompt_tokens"] for c in cost)
    return {
        "n": n,
        "em": round(sum(r["em"] for r in rows) / n, 4),
        "f1": round(sum(r["f1"] for r in rows) / n, 4),
        "prompt_tokens": round(prompt / n),
        "cached_tokens": round(sum(c["cached_tokens"] for c in cost) / n),
        "completion_tokens": round(sum(c["completion_tokens"] for c in cost) / n),
        "total_tokens": round(sum(c["total_tokens"] for c in cost) / n),
        "search_steps": round(sum(c["search_steps"] for c in cost) / n, 2),
        "wall_s": round(sum(c["wall_s"] for c in cost) / n, 1),
        "cache_hit_rate": round(sum(c["cached_tokens"] for c in cost) / prompt, 3) if prompt else 0,
        **role_hit_rates(rows),
        "answer_source": dict(Counter(r.get("answer_source") or "-" for r in rows)),
    }


def main(paths: list[str]) -> dict:
    names = [Path(p).name for p in paths]
    depth = 1
    while len(set(names)) < len(names) and depth < 4:  # same file name in several runs' folders
        depth += 1
        names = ["/".join(Path(p).parts[-depth:]) for p in paths]
    files = {
        n: {str(r["id"]): r for r in load_records(Path(p))}
        for n, p in zip(names, paths, strict=True)
    }
    common = sorted(set.intersection(*(set(rows) for rows in files.values())))
    if not common:
        raise SystemExit("no question is in every file")
    reference = names[0]
    out: dict = {"n": len(common), "systems": {}, "paired": {}}
    for name in names:
        out["systems"][name] = describe([files[name][i] for i in common])
    for name in names[1:]:
        for metric in ("em", "f1"):
            diffs = [files[reference][i][metric] - files[name][i][metric] for i in common]
            mean, low, high = bootstrap_ci(diffs)
            out["paired"].setdefault(name, {})[metric] = [
                round(mean, 3),
                round(low, 3),
                round(high, 3),
            ]
    for name, d in out["systems"].items():
        print(
            f"{name}: n={d['n']} EM {d['em']:.3f} F1 {d['f1']:.3f} tokens {d['total_tokens']} "
            f"(cached {d['cached_tokens']}, completion {d['completion_tokens']}) "
            f"steps {d['search_steps']} wall {d['wall_s']}s hit {d['cache_hit_rate']} "
            f"(reader {d['reader_hit_rate']}, team {d['team_hit_rate']}) "
            f"{d['answer_source']}"
        )
    for name, p in out["paired"].items():
        print(
            f"{reference} - {name}: EM {p['em'][0]:+.3f} [{p['em'][1]:+.3f}, {p['em'][2]:+.3f}]"
            f"  F1 {p['f1'][0]:+.3f} [{p['f1'][1]:+.3f}, {p['f1'][2]:+.3f}]"
        )
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
