"""The sweep's figures, drawn with matplotlib's Agg backend (no display needed).

`plot_sweep` draws accuracy against search steps (one line per token cap, each point with its
bootstrap error bar, replayed anytime curves dashed, fits dotted) and F1 against total compute
(frontier marked). `plot_law` draws EM against each axis the sweep varies, every cell with its
bootstrap error bar and the fitted law's curve, and, when search steps and reasoning tokens
both vary, the law's iso-accuracy contours in their plane.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from leadline.budgets.curves import CurvePoint, bootstrap_ci
from leadline.budgets.law import AXES, LawFit
from leadline.evals.fitting import law_cells
from leadline.evals.sweep_report import curve_groups, group_label


def _log2p1(x: Any) -> Any:
    import numpy as np

    return np.log2(np.maximum(np.asarray(x, dtype=float), 0.0) + 1.0)


def _exp2m1(y: Any) -> Any:
    import numpy as np

    return np.exp2(np.asarray(y, dtype=float)) - 1.0


def plot_sweep(points: Sequence[CurvePoint], out: Path, fits: dict[str, Any]) -> list[Path]:
    """The sweep's two figures: accuracy against search steps and F1 against compute."""
    import matplotlib

    matplotlib.use("Agg")
    steps_png = out / "accuracy_vs_search_steps.png"
    compute_png = out / "accuracy_vs_compute.png"
    _plot_steps(points, fits, steps_png)
    _plot_compute(points, fits, compute_png)
    return [steps_png, compute_png]


def _plot_steps(points: Sequence[CurvePoint], fits: dict[str, Any], path: Path) -> None:
    """EM and F1 against search steps used: one line per token cap, its log-linear fit dotted,
    the anytime replay of the largest cell dashed."""
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    true_groups, any_groups = curve_groups(points, "true"), curve_groups(points, "anytime")
    fit_of = {
        (
            f["mode"],
            f["shape"],
            f["max_tokens"],
            f["max_reasoning_tokens"],
            f["width"],
            f["metric"],
        ): f
        for f in fits["steps"]
    }
    multi_shape = len({key[0] for key in true_groups}) > 1
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, metric in zip(axes, ("em", "f1"), strict=True):
        for i, (key, group) in enumerate(true_groups.items()):
            _plot_cap_line(
                ax,
                metric,
                group,
                any_groups.get(key, []),
                fit_of.get(("true", *key, metric)),
                group_label(key, multi_shape),
                _color(plt, i),
            )
        # log2(x + 1) axis: the fits are straight lines and a cap of 0 still has a place
        ax.set_xscale("function", functions=(_log2p1, _exp2m1))
        top = max((p.mean_search_steps for g in true_groups.values() for p in g), default=1.0)
        ax.set_xticks([t for t in (0, 1, 2, 4, 8, 16, 32) if t <= max(top, 1.0) * 1.05])
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("mean search steps used per question (log2(x+1) axis)")
        ax.set_ylabel(metric.upper())
        ax.set_title(f"{metric.upper()} against search steps")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_cap_line(
    ax: Any,
    metric: str,
    group: Sequence[CurvePoint],
    anytime: Sequence[CurvePoint],
    fit_row: dict[str, Any] | None,
    label: str,
    color: Any,
) -> None:
    """One token cap's cells (annotated with their step caps), fit and anytime replay."""
    import numpy as np

    from leadline.budgets.curves import Fit

    xs = [p.mean_search_steps for p in group]
    ys = [getattr(p, metric) for p in group]
    low = [getattr(p, f"{metric}_ci_low") for p in group]
    high = [getattr(p, f"{metric}_ci_high") for p in group]
    if all(v is not None for v in (*low, *high)):
        yerr = [
            [y - lo for y, lo in zip(ys, low, strict=True)],
            [hi - y for y, hi in zip(ys, high, strict=True)],
        ]
        ax.errorbar(xs, ys, yerr=yerr, fmt="o-", color=color, capsize=3, label=label)
    else:
        ax.plot(xs, ys, "o-", color=color, label=label)
    for p in group:
        ax.annotate(
            f"cap {p.max_search_steps}",
            (p.mean_search_steps, getattr(p, metric)),
            textcoords="offset points",
            xytext=(3, -10),
            fontsize=7,
            color=color,
        )
    if fit_row:
        grid = np.linspace(min(xs), max(xs), 50)
        fit = Fit(
            fit_row["slope"], fit_row["intercept"], fit_row["r2"], fit_row["n"], fit_row["offset"]
        )
        ax.plot(
            grid,
            np.clip(fit.predict(grid), 0.0, 1.0),
            ":",
            color=color,
            label=f"fit: {fit_row['slope']:+.3f}/doubling (R² {fit_row['r2']:.2f})",
        )
    if anytime:
        ax.plot(
            [p.mean_search_steps for p in anytime],
            [getattr(p, metric) for p in anytime],
            "x--",
            color=color,
            alpha=0.6,
            label=f"{label}, anytime replay",
        )


def _plot_compute(points: Sequence[CurvePoint], fits: dict[str, Any], path: Path) -> None:
    """F1 against mean compute: every cell, the compute-efficient frontier, the log-linear fit,
    and other systems (e.g. adaptive) as stars."""
    import matplotlib.pyplot as plt
    import numpy as np

    from leadline.budgets.curves import Fit

    true_groups = curve_groups(points, "true")
    multi_shape = len({key[0] for key in true_groups}) > 1
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (key, group) in enumerate(true_groups.items()):
        ax.scatter(
            [p.mean_compute for p in group],
            [p.f1 for p in group],
            color=_color(plt, i),
            label=f"fixed, {group_label(key, multi_shape)}",
            zorder=3,
        )
        for p in group:
            ax.annotate(
                f"s{p.max_search_steps}",
                (p.mean_compute, p.f1),
                textcoords="offset points",
                xytext=(4, 3),
                fontsize=7,
            )
    for shape in sorted({f["shape"] for f in fits["frontier"]}):
        front = [f for f in fits["frontier"] if f["shape"] == shape]
        ax.step(
            [f["mean_compute"] for f in front],
            [f["f1"] for f in front],
            "k-",
            where="post",
            alpha=0.7,
            label="compute-efficient frontier" + (f" ({shape})" if multi_shape else ""),
        )
    for f in fits["compute"]:
        xs = [p.mean_compute for p in points if p.mode == "true" and p.shape == f["shape"]]
        grid = np.geomspace(min(xs), max(xs), 50)
        fit = Fit(f["slope"], f["intercept"], f["r2"], f["n"], f["offset"])
        ax.plot(
            grid,
            np.clip(fit.predict(grid), 0.0, 1.0),
            ":",
            color="grey",
            label=f"log-linear fit: {f['slope']:+.3f} F1/doubling (R² {f['r2']:.2f})",
        )
    for p in (p for p in points if p.mode not in ("true", "anytime")):
        ax.scatter(
            [p.mean_compute],
            [p.f1],
            marker="*",
            s=160,
            color="crimson",
            zorder=4,
            label=f"{p.mode}, {p.max_search_steps} steps / {p.max_tokens} tok",
        )
    ax.set_xscale("log")
    ax.set_xlabel("mean compute per question (token-equivalents)")
    ax.set_ylabel("F1")
    ax.set_title("F1 against total compute")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _color(plt: Any, i: int) -> Any:
    """The i-th colour of matplotlib's cycle (a name or an RGB tuple)."""
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return colors[i % len(colors)]


AXIS_LABELS = {
    "search_steps": "mean search steps used",
    "reasoning_tokens": "mean reasoner tokens used",
    "width": "width (reader samples)",
}


def plot_law(
    cells: Mapping[Any, Sequence[dict[str, Any]]], law: Mapping[str, Any], out: Path, mode: str
) -> list[Path]:
    """EM against each axis the law was fitted on (cells with bootstrap error bars, the per-axis
    fit as a curve), and iso-accuracy contours of the joint fit when steps and reasoning both
    vary. Nothing when the law has no fit."""
    import matplotlib

    matplotlib.use("Agg")
    per_axis = law.get("per_axis") or {}
    if not per_axis:
        return []
    points = law_cells(
        {c: r for c, r in cells.items() if getattr(c, "shape", "auto") == law.get("shape", "auto")}
    )
    paths = [out / "law_axes.png"]
    _plot_law_axes(points, per_axis, mode, paths[0])
    joint = law.get("joint") or {}
    if {"search_steps", "reasoning_tokens"} <= set(joint.get("axes") or ()):
        paths.append(out / "iso_accuracy.png")
        _plot_iso_accuracy(points, LawFit.from_dict(joint), paths[1])
    return paths


def _plot_law_axes(
    points: Sequence[Any], per_axis: Mapping[str, Any], mode: str, path: Path
) -> None:
    import matplotlib.pyplot as plt
    import numpy as np

    axes_fitted = [a for a in AXES if a in per_axis]
    fig, panels = plt.subplots(
        1, len(axes_fitted), figsize=(5.2 * len(axes_fitted), 4.2), squeeze=False
    )
    for ax, axis in zip(panels[0], axes_fitted, strict=True):
        xs = [p.x[axis] for p in points]
        ems, lows, highs = [], [], []
        for p in points:
            mean, lo, hi = bootstrap_ci(list(p.scores.values()), n_boot=1000)
            ems.append(mean)
            lows.append(mean - lo)
            highs.append(hi - mean)
        ax.errorbar(xs, ems, yerr=[lows, highs], fmt="o", capsize=3, label=f"{mode} cells (95% CI)")
        fit = LawFit.from_dict(per_axis[axis])
        grid = np.linspace(min(xs), max(xs), 60)
        ax.plot(
            grid,
            [fit.predict({axis: float(x)}) for x in grid],
            "-",
            color="grey",
            label=f"fit: {fit.coef[axis]:+.2f} log-odds/doubling (R² {fit.r2:.2f})",
        )
        ax.set_xlabel(AXIS_LABELS[axis])
        ax.set_ylabel("EM")
        ax.set_title(f"EM against {axis.replace('_', ' ')}")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_iso_accuracy(points: Sequence[Any], fit: LawFit, path: Path) -> None:
    """Contours of the joint law's predicted EM over search steps × reasoning tokens."""
    import matplotlib.pyplot as plt
    import numpy as np

    steps = np.linspace(0, max(p.x["search_steps"] for p in points), 40)
    tokens = np.linspace(0, max(p.x["reasoning_tokens"] for p in points), 40)
    width = max((p.x.get("width", 1.0) for p in points), default=1.0)
    grid = np.array(
        [
            [fit.predict({"search_steps": s, "reasoning_tokens": r, "width": width}) for s in steps]
            for r in tokens
        ]
    )
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    contours = ax.contour(steps, tokens, grid, levels=8, cmap="viridis")
    ax.clabel(contours, fmt="%.2f", fontsize=7)
    ax.scatter(
        [p.x["search_steps"] for p in points],
        [p.x["reasoning_tokens"] for p in points],
        c=[p.em for p in points],
        cmap="viridis",
        edgecolors="k",
        vmin=0,
        vmax=1,
        zorder=3,
    )
    ax.set_xlabel(AXIS_LABELS["search_steps"])
    ax.set_ylabel(AXIS_LABELS["reasoning_tokens"])
    ax.set_title("Iso-accuracy contours of the fitted law (cells as dots)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
