"""The sweep's figures, drawn with matplotlib's Agg backend (no display needed).

`plot_sweep` draws accuracy against search steps (one line per token cap, replayed anytime
curves dashed, fits dotted) and F1 against total compute (frontier marked).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leadline.budgets.curves import CurvePoint
from leadline.evals.report import curve_groups


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
    fit_of = {(f["mode"], f["shape"], f["max_tokens"], f["metric"]): f for f in fits["steps"]}
    multi_shape = len({shape for shape, _ in true_groups}) > 1
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, metric in zip(axes, ("em", "f1"), strict=True):
        for i, ((shape, tokens), group) in enumerate(true_groups.items()):
            label = f"{tokens} tok" + (f", {shape}" if multi_shape else "")
            _plot_cap_line(
                ax,
                metric,
                group,
                any_groups.get((shape, tokens), []),
                fit_of.get(("true", shape, tokens, metric)),
                label,
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
    ax.plot(xs, [getattr(p, metric) for p in group], "o-", color=color, label=label)
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
    multi_shape = len({shape for shape, _ in true_groups}) > 1
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, ((shape, tokens), group) in enumerate(true_groups.items()):
        ax.scatter(
            [p.mean_compute for p in group],
            [p.f1 for p in group],
            color=_color(plt, i),
            label=f"fixed, {tokens} tok" + (f", {shape}" if multi_shape else ""),
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
