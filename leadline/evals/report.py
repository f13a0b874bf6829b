"""Human-readable outputs of evals and sweeps: markdown tables and fits (plots: `plots.py`).

`eval_summary_markdown` renders `leadline eval`'s summary; `sweep_fits` computes the log-linear
fits and the compute-efficient frontier from a sweep's curve points; `sweep_report_markdown`
writes report.md around the figures `evals.plots.plot_sweep` draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leadline.budgets.curves import CurvePoint, loglinear_fit, pareto_frontier

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


# --- sweeps --------------------------------------------------------------------------------------


def curve_groups(
    points: Sequence[CurvePoint], mode: str
) -> dict[tuple[str, int | None], list[CurvePoint]]:
    """The `mode` points by (shape, token cap), each group in order of its search-step cap."""
    groups: dict[tuple[str, int | None], list[CurvePoint]] = {}
    for p in points:
        if p.mode == mode:
            groups.setdefault((p.shape, p.max_tokens), []).append(p)
    return {k: sorted(v, key=lambda p: p.max_search_steps or 0) for k, v in sorted(groups.items())}


def sweep_fits(points: Sequence[CurvePoint]) -> dict[str, Any]:
    """Log-linear fits (F1, EM against mean search steps; F1 against compute) and the frontier."""
    steps = []
    for mode in ("true", "anytime"):
        for (shape, tokens), group in curve_groups(points, mode).items():
            for metric in ("f1", "em"):
                fit = loglinear_fit(
                    [p.mean_search_steps for p in group], [getattr(p, metric) for p in group]
                )
                if fit:
                    steps.append(
                        {
                            "mode": mode,
                            "shape": shape,
                            "max_tokens": tokens,
                            "metric": metric,
                            "x": "log2(mean search steps + 1)",
                            **fit.to_dict(),
                        }
                    )
    compute, frontier = [], []
    for shape in sorted({p.shape for p in points if p.mode == "true"}):
        cells = [p for p in points if p.mode == "true" and p.shape == shape]
        fit = loglinear_fit([p.mean_compute for p in cells], [p.f1 for p in cells], offset=0.0)
        if fit:
            compute.append(
                {"shape": shape, "metric": "f1", "x": "log2(mean compute)", **fit.to_dict()}
            )
        for p in pareto_frontier(cells, lambda p: p.mean_compute, lambda p: p.f1):
            frontier.append(
                {
                    "shape": shape,
                    "max_search_steps": p.max_search_steps,
                    "max_tokens": p.max_tokens,
                    "mean_compute": p.mean_compute,
                    "f1": p.f1,
                }
            )
    return {"steps": steps, "compute": compute, "frontier": frontier}


def _cells_table(rows: Sequence[tuple[CurvePoint, dict[str, float]]], mode: str) -> str:
    head = [
        "shape",
        "search cap",
        "token cap",
        "n",
        "EM",
        "F1 (95% CI)",
        "support recall",
        "mean steps",
        "mean tokens",
        "mean compute",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p, ci in rows:
        if p.mode != mode:
            continue
        f1 = f"{p.f1:.3f} [{ci['f1_ci_low']:.2f}, {ci['f1_ci_high']:.2f}]"
        lines.append(
            "| "
            + " | ".join(
                [
                    p.shape,
                    str(p.max_search_steps),
                    str(p.max_tokens),
                    str(p.n),
                    f"{p.em:.3f}",
                    f1,
                    _fmt(p.support_recall),
                    f"{p.mean_search_steps:.2f}",
                    f"{p.mean_total_tokens:,.0f}",
                    f"{p.mean_compute:,.0f}",
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def _anytime_table(points: Sequence[CurvePoint]) -> str:
    true = {(p.shape, p.max_search_steps, p.max_tokens): p for p in points if p.mode == "true"}
    lines = [
        "| shape | search cap | token cap | F1 true | F1 anytime | Δ | steps true "
        "| steps anytime |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        t = true.get((p.shape, p.max_search_steps, p.max_tokens))
        if p.mode == "anytime" and t:
            lines.append(
                f"| {p.shape} | {p.max_search_steps} | {p.max_tokens} | {t.f1:.3f} | {p.f1:.3f} | "
                f"{p.f1 - t.f1:+.3f} | {t.mean_search_steps:.2f} | {p.mean_search_steps:.2f} |"
            )
    return "\n".join(lines) + "\n"


def _matched_section(matched: dict[str, Any]) -> str:
    if not matched:
        return "Not run (pass --compare-adaptive).\n"
    lines = [
        "| shape | metric | mean compute | adaptive (95% CI) "
        "| fixed frontier at same compute (95% CI) "
        "| difference (95% CI) | P(adaptive better) | within fixed range |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for shape, by_metric in matched.items():
        for metric, m in by_metric.items():
            if not m:
                continue
            lines.append(
                f"| {shape} | {metric.upper()} | {m['mean_compute']:,.0f} | "
                f"{m['policy']:.3f} {m['policy_ci']} | "
                f"{m['fixed_at_same_compute']:.3f} {m['fixed_ci']} | {m['difference']:+.3f} "
                f"{m['difference_ci']} | {m['p_policy_better']:.2f} | "
                f"{'yes' if m['within_fixed_range'] else 'no'} |"
            )
    return "\n".join(lines) + "\n"


def _fit_lines(fits: dict[str, Any]) -> list[str]:
    """The fits of accuracy on search steps and on compute, then the frontier, as lines."""
    lines = [
        f"- {f['mode']}, {f['shape']}, {f['max_tokens']} tok, {f['metric'].upper()}: "
        f"{f['slope']:+.3f} per doubling of (search steps + 1), intercept {f['intercept']:.3f}, "
        f"R² {f['r2']:.2f} (n={f['n']} cells)"
        for f in fits["steps"]
    ]
    lines += [
        f"- all fixed cells, {f['shape']}: F1 {f['slope']:+.3f} per doubling of compute, "
        f"R² {f['r2']:.2f} (n={f['n']})"
        for f in fits["compute"]
    ]
    frontier = ", ".join(
        f"s{f['max_search_steps']}/t{f['max_tokens']} ({f['mean_compute']:,.0f} → F1 {f['f1']:.3f})"
        for f in fits["frontier"]
    )
    return [*lines, "", f"Compute-efficient frontier (fixed cells): {frontier or '–'}"]


def sweep_report_markdown(
    summary: dict[str, Any], rows: Sequence[tuple[CurvePoint, dict[str, float]]]
) -> str:
    g = summary["grid"]
    points = [p for p, _ in rows]
    broken = summary["budget_violations"]
    others = [p for p in points if p.mode not in ("true", "anytime")]
    return "\n".join(
        [
            f"# Budget sweep on {summary['dataset']}",
            "",
            f"{summary['n']} questions; search-step caps {g['search_steps']} × "
            f"token caps {g['token_caps']} × "
            f"shapes {g['shapes']}, policy `{g['policy']}`; {summary['cells']} cells. "
            f"Wall time {summary['wall_s']:.0f} s "
            f"({summary['mean_wall_s_per_run']:.1f} s per run).",
            "",
            f"Command: `{summary['command']}`" if summary.get("command") else "",
            "",
            "Budgets respected in every cell: "
            + ("**yes**" if not broken else f"**NO**: {broken}"),
            "",
            "## Cells (true runs)",
            "",
            _cells_table(rows, "true"),
            "## Log-linear fits",
            "",
            *_fit_lines(summary["fits"]),
            "",
            "![accuracy against search steps](accuracy_vs_search_steps.png)",
            "",
            "![F1 against compute](accuracy_vs_compute.png)",
            "",
            "## Anytime replay against true cells",
            "",
            "The anytime curve replays the max-budget run's anytime answers (recorded after each "
            "reasoning step) as if it had stopped at each cell's caps. It needs one run instead of "
            "one per cell, but it reads the reasoner's interim answer, not a final answer call, "
            "and a cap of 0 search steps "
            "has no anytime answer at all (scored 0).",
            "",
            _anytime_table(points),
            "## Adaptive against fixed at equal compute",
            "",
            *(
                f"- {p.mode} at {p.max_search_steps} steps / {p.max_tokens} tok: "
                f"EM {p.em:.3f}, F1 {p.f1:.3f}, "
                f"mean compute {p.mean_compute:,.0f}, mean steps {p.mean_search_steps:.2f}"
                for p in others
            ),
            "",
            "Fixed accuracy at the adaptive run's mean compute is read off the fixed cells' "
            "frontier (interpolated in log compute); intervals are paired bootstrap percentiles "
            "over questions.",
            "",
            _matched_section(summary.get("compute_matched") or {}),
        ]
    )
