"""A sweep's report: fits on its curve points, tables, the fitted law, and report.md.

`sweep_fits` computes the log-linear fits of accuracy on search steps and on compute, and the
compute-efficient frontier, from the curve points; `sweep_types` splits every cell by question
type and compares sequential with parallel per type; `sweep_report_markdown` writes report.md
around the figures `evals.plots` draws, for true sweeps and replayed ones alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from leadline.budgets.curves import CurvePoint, loglinear_fit, pareto_frontier
from leadline.evals.report import types_section
from leadline.evals.types import shape_comparison, type_scores

GroupKey = tuple[str, int | None, int | None, int]


def curve_groups(points: Sequence[CurvePoint], mode: str) -> dict[GroupKey, list[CurvePoint]]:
    """The `mode` points by (shape, token cap, reasoning cap, width), each group in order of
    its search-step cap: one line of the steps plot each."""
    groups: dict[GroupKey, list[CurvePoint]] = {}
    for p in points:
        if p.mode == mode:
            key = (p.shape, p.max_tokens, p.max_reasoning_tokens, p.width)
            groups.setdefault(key, []).append(p)

    def order(key: GroupKey) -> tuple[str, int, float, int]:
        shape, tokens, reasoning, width = key
        return (shape, tokens or 0, float("inf") if reasoning is None else reasoning, width)

    return {
        k: sorted(groups[k], key=lambda p: p.max_search_steps or 0)
        for k in sorted(groups, key=order)
    }


def group_label(key: GroupKey, multi_shape: bool = False) -> str:
    shape, tokens, reasoning, width = key
    label = f"{tokens} tok"
    if reasoning is not None:
        label += f", r{reasoning}"
    if width != 1:
        label += f", w{width}"
    return label + (f", {shape}" if multi_shape else "")


def sweep_fits(points: Sequence[CurvePoint]) -> dict[str, Any]:
    """Log-linear fits (F1, EM against mean search steps; F1 against compute) and the frontier."""
    steps = []
    for mode in ("true", "anytime", "replay"):
        for (shape, tokens, reasoning, width), group in curve_groups(points, mode).items():
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
                            "max_reasoning_tokens": reasoning,
                            "width": width,
                            "metric": metric,
                            "x": "log2(mean search steps + 1)",
                            **fit.to_dict(),
                        }
                    )
    compute, frontier = [], []
    base = "true" if any(p.mode == "true" for p in points) else "replay"
    for shape in sorted({p.shape for p in points if p.mode == base}):
        cells = [p for p in points if p.mode == base and p.shape == shape]
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
                    "max_reasoning_tokens": p.max_reasoning_tokens,
                    "width": p.width,
                    "mean_compute": p.mean_compute,
                    "f1": p.f1,
                }
            )
    return {"steps": steps, "compute": compute, "frontier": frontier}


def sweep_types(cells: Mapping[Any, Sequence[dict[str, Any]]]) -> dict[str, Any]:
    """Every cell's scores by question type, and for each pair of cells that differ only in
    shape (sequential, parallel), their paired difference per type."""
    by_name = {c.name: c for c in cells}
    pairs = []
    for cell, records in cells.items():
        if cell.shape != "sequential":
            continue
        other = next(
            (
                c
                for c in cells
                if c.shape == "parallel"
                and c.name == cell.name.replace("-sequential-", "-parallel-")
            ),
            None,
        )
        if other is not None:
            pairs.append(
                {
                    "sequential": cell.name,
                    "parallel": other.name,
                    **{m: shape_comparison(records, cells[other], m) for m in ("em", "f1")},
                }
            )
    return {
        "systems": {name: type_scores(cells[c]) for name, c in by_name.items()},
        "sequential_vs_parallel": pairs,
    }


def _fmt_cap(value: int | None) -> str:
    return "–" if value is None else str(value)


def _cells_table(points: Sequence[CurvePoint], mode: str) -> str:
    head = [
        "shape",
        "search cap",
        "token cap",
        "reasoning cap",
        "width",
        "n",
        "EM (95% CI)",
        "F1 (95% CI)",
        "support recall",
        "mean steps",
        "mean reasoner tok",
        "mean tokens (raw)",
        "mean tokens (weighted)",
        "mean compute",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in points:
        if p.mode != mode:
            continue
        em = f"{p.em:.3f} [{p.em_ci_low:.2f}, {p.em_ci_high:.2f}]"
        f1 = f"{p.f1:.3f} [{p.f1_ci_low:.2f}, {p.f1_ci_high:.2f}]"
        recall = "–" if p.support_recall is None else f"{p.support_recall:.3f}"
        lines.append(
            "| "
            + " | ".join(
                [
                    p.shape,
                    str(p.max_search_steps),
                    str(p.max_tokens),
                    _fmt_cap(p.max_reasoning_tokens),
                    str(p.width),
                    str(p.n),
                    em,
                    f1,
                    recall,
                    f"{p.mean_search_steps:.2f}",
                    f"{p.mean_reasoner_tokens or 0:,.0f}",
                    f"{p.mean_total_tokens:,.0f}",
                    f"{p.mean_weighted_tokens or 0:,.0f}",
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
        return "Not run (--compare-policies names the policies to run).\n"
    lines = [
        "| policy / shape | metric | mean compute | policy (95% CI) "
        "| fixed frontier at same compute (95% CI) "
        "| difference (95% CI) | P(policy better) | within fixed range |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, by_metric in matched.items():
        label = key if "/" in key else f"adaptive/{key}"
        for metric, m in by_metric.items():
            if not m:
                continue
            lines.append(
                f"| {label} | {metric.upper()} | {m['mean_compute']:,.0f} | "
                f"{m['policy']:.3f} {m['policy_ci']} | "
                f"{m['fixed_at_same_compute']:.3f} {m['fixed_ci']} | {m['difference']:+.3f} "
                f"{m['difference_ci']} | {m['p_policy_better']:.2f} | "
                f"{'yes' if m['within_fixed_range'] else 'no'} |"
            )
    return "\n".join(lines) + "\n"


def _fit_key(fit: Mapping[str, Any]) -> GroupKey:
    return (fit["shape"], fit["max_tokens"], fit["max_reasoning_tokens"], fit["width"])


def _fit_lines(fits: dict[str, Any]) -> list[str]:
    """The fits of accuracy on search steps and on compute, then the frontier, as lines."""
    lines = [
        f"- {f['mode']}, {group_label(_fit_key(f))}, {f['metric'].upper()}: "
        f"{f['slope']:+.3f} per doubling of (search steps + 1), "
        f"intercept {f['intercept']:.3f}, R² {f['r2']:.2f} (n={f['n']} cells)"
        for f in fits["steps"]
    ]
    lines += [
        f"- all cells, {f['shape']}: F1 {f['slope']:+.3f} per doubling of compute, "
        f"R² {f['r2']:.2f} (n={f['n']})"
        for f in fits["compute"]
    ]
    frontier = ", ".join(
        f"s{f['max_search_steps']}/t{f['max_tokens']}"
        + ("" if f["max_reasoning_tokens"] is None else f"/r{f['max_reasoning_tokens']}")
        + ("" if f["width"] == 1 else f"/w{f['width']}")
        + f" ({f['mean_compute']:,.0f} → F1 {f['f1']:.3f})"
        for f in fits["frontier"]
    )
    return [*lines, "", f"Compute-efficient frontier: {frontier or '–'}"]


def _law_fit_line(name: str, fit: Mapping[str, Any]) -> str:
    terms = ", ".join(
        f"{axis} {fit['coef'][axis]:+.3f} [{fit['ci'][axis][0]:+.2f}, {fit['ci'][axis][1]:+.2f}]"
        for axis in fit["axes"]
    )
    return (
        f"- {name}: logit(EM) = {fit['intercept']:+.3f} + per doubling: {terms}; "
        f"R² {fit['r2']:.2f} ({fit['n_cells']} cells, n={fit['n_questions']})"
    )


def law_section(law: Mapping[str, Any]) -> list[str]:
    """The fitted law: per axis, jointly, per question type, with the cost model."""
    lines = [
        "## Fitted law: logit(EM) against the log of each axis",
        "",
        "Least squares on each cell's empirical logit of EM; a coefficient is the gain in "
        "log-odds per doubling of log2(1 + steps), log2(1 + reasoning tokens / 100) or "
        "log2(width). Intervals: 95% bootstrap over questions (paired across cells). "
        "Written to `law.json`, which `--policy allocate --allocation-model law.json` reads.",
        "",
    ]
    if not law.get("per_axis"):
        return [*lines, "Not enough cells to fit (each axis needs at least three values).", ""]
    lines += [_law_fit_line(f"{axis} alone", fit) for axis, fit in law["per_axis"].items()]
    if law.get("joint") and len(law["joint"]["axes"]) > 1:
        lines.append(_law_fit_line("jointly", law["joint"]))
    for kind, fits in (law.get("by_type") or {}).items():
        if fits.get("joint"):
            lines.append(_law_fit_line(f"{kind} questions (n={fits['n']})", fits["joint"]))
    cost = law.get("cost")
    if cost:
        terms = ", ".join(f"{v:+,.1f} per unit of {a}" for a, v in cost["coef"].items())
        lines.append(
            f"- cost: mean weighted tokens ≈ {cost['intercept']:,.0f} {terms} (R² {cost['r2']:.2f})"
        )
    return [*lines, "", "![EM against each axis](law_axes.png)", ""]


def check_section(check: Mapping[str, Any] | None) -> list[str]:
    """Replayed cells against true cells on the same questions (`sweep --replay --check`)."""
    if not check:
        return []
    lines = [
        "## Replayed cells against true cells",
        "",
        f"True runs of {check['n']} questions in each checked cell, paired with the replayed "
        "cell on the same questions (replay − true; 95% bootstrap interval).",
        "",
        "| cell | n | EM replay | EM true | Δ EM (95% CI) | F1 replay | F1 true | Δ F1 (95% CI) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, c in check["cells"].items():
        em, f1 = c["em"], c["f1"]
        lines.append(
            f"| {name} | {em['n']} | {em['a']:.3f} | {em['b']:.3f} | {em['difference']:+.3f} "
            f"{em['ci']} | {f1['a']:.3f} | {f1['b']:.3f} | {f1['difference']:+.3f} {f1['ci']} |"
        )
    lines += ["", f"Mean |Δ EM| over the checked cells: {check['mean_abs_em_difference']:.3f}.", ""]
    return lines


def _header(summary: Mapping[str, Any]) -> list[str]:
    g = summary["grid"]
    replay = summary.get("mode") == "replay"
    what = "Replayed sweep" if replay else "Budget sweep"
    lines = [
        f"# {what} on {summary['dataset']}",
        "",
        f"{summary['n']} questions; search-step caps {g['search_steps']} × token caps "
        f"{g['token_caps']} × reasoning caps {g['reasoning_tokens']} × widths {g['widths']} × "
        f"shapes {g['shapes']}, policy `{g['policy']}`; {summary['cells']} cells. "
        f"Tokens count cached prompt tokens at {summary.get('cached_token_rate', 1.0):g}. "
        f"Wall time {summary['wall_s']:.0f} s.",
        "",
    ]
    if replay:
        lines += [
            "Every cell is replayed from one max-budget run per question "
            f"(`{summary.get('replayed_from', '')}`): the pool as it was when the run had used "
            "the cell's search steps (and, on the reasoning axis, the rounds its reasoning "
            "within the cap had chosen), read by the final reader with the cell's width. "
            f"Reader calls: {summary.get('reader_calls', 0)} for {summary['cells']} cells.",
            "",
        ]
    if summary.get("command"):
        lines += [f"Command: `{summary['command']}`", ""]
    return lines


def sweep_report_markdown(summary: dict[str, Any], points: Sequence[CurvePoint]) -> str:
    mode = summary.get("mode", "true")
    broken = summary.get("budget_violations") or {}
    others = [p for p in points if p.mode not in ("true", "anytime", "replay")]
    if mode == "replay":
        held = (
            "Replayed spend within every cell's caps: "
            + ("yes" if not broken else f"no, in {sorted(broken)}")
            + " (steps and reasoning hold by construction; the extra reader samples of a "
            "width above 1 are not held to the token cap, where a true run would read fewer)"
        )
    else:
        held = "Budgets respected in every cell: " + (
            "**yes**" if not broken else f"**NO**: {broken}"
        )
    parts = [
        *_header(summary),
        held,
        "",
        f"## Cells ({'replayed' if mode == 'replay' else 'true runs'})",
        "",
        _cells_table(points, mode),
        *law_section(summary.get("law") or {}),
        "## Log-linear fits",
        "",
        *_fit_lines(summary["fits"]),
        "",
    ]
    if mode == "true":
        parts += [
            "![accuracy against search steps](accuracy_vs_search_steps.png)",
            "",
            "![F1 against compute](accuracy_vs_compute.png)",
            "",
            "## Anytime replay against true cells",
            "",
            "The anytime curve replays the max-budget run's anytime answers (recorded after each "
            "reasoning step) as if it had stopped at each cell's caps. It needs one run instead "
            "of one per cell, but it reads the reasoner's interim answer, not a final answer "
            "call, and a cap of 0 search steps has no anytime answer at all (scored 0).",
            "",
            _anytime_table(points),
            "## Other policies against fixed at equal compute",
            "",
            *(
                f"- {p.mode} at {p.max_search_steps} steps / {p.max_tokens} tok: "
                f"EM {p.em:.3f}, F1 {p.f1:.3f}, "
                f"mean compute {p.mean_compute:,.0f}, mean steps {p.mean_search_steps:.2f}"
                for p in others
            ),
            "",
            "Fixed accuracy at each policy's mean compute is read off the fixed cells' "
            "frontier (interpolated in log compute); intervals are paired bootstrap percentiles "
            "over questions.",
            "",
            _matched_section(summary.get("compute_matched") or {}),
        ]
    parts += check_section(summary.get("check"))
    parts.append(types_section(summary.get("by_type") or {}))
    return "\n".join(parts)
