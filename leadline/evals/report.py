"""Human-readable outputs of evals: markdown tables (sweeps: `sweep_report.py`).

`eval_summary_markdown` renders `leadline eval`'s summary: every system's scores and costs (tokens
raw and in the budget's unit), sleep-time compute's break-even, and scores by question type with
sequential against parallel per type.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

COST_COLUMNS = [
    ("mean_prompt_tokens", "prompt tok"),
    ("mean_cached_tokens", "cached"),
    ("mean_completion_tokens", "completion"),
    ("mean_total_tokens", "total tok"),
    ("mean_weighted_tokens", "weighted tok"),
    ("mean_search_steps", "search steps"),
    ("mean_compute", "compute"),
    ("mean_wall_s", "s/question"),
]


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def eval_summary_table(systems: dict[str, dict[str, Any]]) -> str:
    head = ["system", "n", "EM", "F1", "support recall", *(label for _, label in COST_COLUMNS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in systems.items():
        cells = [
            name,
            str(s["n"]),
            _fmt(s["em"]),
            _fmt(s["f1"]),
            _fmt(s["support_recall"]),
            *(_fmt(s[key], 1) for key, _ in COST_COLUMNS),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def precompute_section(result: dict[str, Any]) -> str:
    """With and without the link graph (`X` against `X-nolinks`), and the break-even."""
    from leadline.evals.metrics import break_even

    systems, cost = result["systems"], (result.get("precompute") or {}).get("cost", {})
    rows = []
    for name, summary in systems.items():
        base = systems.get(f"{name}-nolinks")
        if base is not None and cost:
            b = break_even(summary, base, cost)
            rows.append(
                f"| {name} | {b['em_gain']:+.3f} | {b['saved_compute_per_question']} | "
                f"{b['saved_wall_s_per_question']} | {b['precompute_tokens']} | "
                f"{b['precompute_wall_s']} | {b['break_even_questions_tokens']} | "
                f"{b['break_even_questions_wall']} |"
            )
    if not rows:
        return ""
    return (
        "\n## Sleep-time compute\n\n"
        "| system | EM gain | compute saved / q | wall saved / q (s) | precompute tokens | "
        "precompute wall (s) | break-even q (tokens) | break-even q (wall) |\n"
        "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def unit_note(budget: dict[str, Any]) -> str:
    """What the token columns and compute mean, at this budget's rates."""
    rate = budget.get("cached_token_rate", 1.0)
    rates = budget.get("rates") or {}
    return (
        "Costs are means per question. total tok = prompt + completion tokens as billed (raw); "
        f"weighted tok = uncached prompt + {rate:g} × cached prompt + completion tokens, the "
        "unit max_tokens caps; compute = uncached prompt + "
        f"{rates.get('cached_prompt', 0.1):g} × cached prompt + completion tokens + "
        f"{rates.get('search_step', 250):g} per search step.\n"
    )


def eval_summary_markdown(result: dict[str, Any]) -> str:
    b = result["budget"]
    axes = ", ".join(
        f"{name}={b[name]}"
        for name in ("max_reasoning_tokens", "reasoning_step_tokens", "width")
        if b.get(name) not in (None, 1)
    )
    return (
        f"# Evaluation on {result['dataset']}\n\n"
        f"Budget per question: max_tokens={b['max_tokens']}, "
        f"max_search_steps={b['max_search_steps']}, "
        f"max_compute={b['max_compute']}{', ' + axes if axes else ''}; "
        f"collection `{result['collection']}`; "
        f"wall time {result['wall_s']:.0f} s.\n\n"
        + eval_summary_table(result["systems"])
        + "\n"
        + unit_note(b)
        + precompute_section(result)
        + types_section(result.get("by_type") or {})
    )


def _ci(value: float, ci: Sequence[float]) -> str:
    return f"{value:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def types_section(by_type: dict[str, Any]) -> str:
    """Scores by question type, and sequential against parallel per type (paired bootstrap)."""
    systems = by_type.get("systems") or {}
    if not systems:
        return ""
    lines = [
        "\n## By question type\n",
        "| system | type | n | EM (95% CI) | F1 (95% CI) | type guessed |",
        "|---|---|---|---|---|---|",
    ]
    for name, kinds in systems.items():
        for kind, row in kinds.items():
            lines.append(
                f"| {name} | {kind} | {row['n']} | {_ci(row['em'], row['em_ci'])} | "
                f"{_ci(row['f1'], row['f1_ci'])} | {row['guessed']} |"
            )
    pairs = by_type.get("sequential_vs_parallel") or []
    if pairs:
        lines += [
            "\n## Sequential against parallel, by question type\n",
            "Paired over the questions both answered; the interval is a percentile bootstrap "
            "over questions.\n",
            "| sequential | parallel | type | metric | n | sequential | parallel | difference "
            "(95% CI) | P(sequential better) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for pair in pairs:
            for metric in ("em", "f1"):
                for kind, d in pair[metric].items():
                    lines.append(
                        f"| {pair['sequential']} | {pair['parallel']} | {kind} | "
                        f"{metric.upper()} | {d['n']} | {d['a']:.3f} | {d['b']:.3f} | "
                        f"{d['difference']:+.3f} {d['ci']} | {d['p_a_better']:.2f} |"
                    )
    return "\n".join(lines) + "\n"
