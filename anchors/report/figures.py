"""Figures for the hypothesis report: plain data in, `matplotlib.figure.Figure` out. Presentation layer.

Never `savefig`, never `pyplot` (no global figure registry, so figures are safe under pytest-xdist workers and
are garbage-collected with their test); the report plugin turns each Figure into an embedded PNG. All plot
styling goes through the single `style()` context, so importing this module changes nothing.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence

import matplotlib
from matplotlib.figure import Figure

# Eight taxonomy tags (METHOD.md §5.1) in a fixed order and colour, so every figure reads the same way.
CATEGORY_ORDER = ("problem_setup", "plan_generation", "fact_retrieval", "active_computation",
                  "result_consolidation", "uncertainty_management", "self_checking", "final_answer_emission")
CONDITION_COLOURS = {"none": "#4c72b0", "receiver": "#dd8452", "random": "#55a868"}

_STYLE = {
    "figure.dpi": 80,  # 80 dpi keeps each embedded PNG near 40 kB; 30 figures stay under a few MB of HTML
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


@contextlib.contextmanager
def style() -> Iterator[None]:
    """The one place plot style is set: a `rc_context`, undone on exit."""
    with matplotlib.rc_context(_STYLE):
        yield


def _colour(condition: str) -> str:
    """Colour by condition family ("random-k20-s1" -> random)."""
    for family, colour in CONDITION_COLOURS.items():
        if condition.startswith(family):
            return colour
    return "#8172b2"


def _pretty(tag: str) -> str:
    """"plan_generation" -> "Plan Generation" (METHOD.md §4.8)."""
    return tag.replace("_", " ").title()


def _ordered(categories: Sequence[str]) -> list[str]:
    known = [c for c in CATEGORY_ORDER if c in categories]
    return known + sorted(c for c in categories if c not in CATEGORY_ORDER)


def category_boxes(values: Mapping[str, Mapping[str, Sequence[float]]], title: str,
                   ylabel: str = "counterfactual importance") -> Figure:
    """Box plots of a per-sentence value by category, one box per condition within each category.

    values: {condition: {category: per-sentence values}}; NaN values are dropped and counted in the labels.
    """
    conditions = list(values)
    categories = _ordered(sorted({c for per in values.values() for c in per}))
    fig = Figure(figsize=(max(6.0, 1.1 * len(categories) * max(1, len(conditions)) ** 0.5), 3.6))
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(conditions))
    for j, condition in enumerate(conditions):
        data, positions = [], []
        for i, category in enumerate(categories):
            xs = [x for x in values[condition].get(category, ()) if not math.isnan(x)]
            data.append(xs if xs else [math.nan])
            positions.append(i + (j - (len(conditions) - 1) / 2) * width)
        boxes = ax.boxplot(data, positions=positions, widths=width * 0.9, patch_artist=True,
                           showfliers=True, flierprops={"markersize": 2})
        for patch in boxes["boxes"]:
            patch.set_facecolor(_colour(condition))
            patch.set_alpha(0.7)
        ax.plot([], [], color=_colour(condition), lw=6, label=condition)
    counts = [max(len(values[c].get(cat, ())) for c in conditions) for cat in categories]
    ax.set_xticks(range(len(categories)))
    ax.set_xticklabels([f"{_pretty(c)}\n(n={n})" for c, n in zip(categories, counts)], rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    return fig


def importance_along_cot(series: Mapping[str, Sequence[float]], runs: Mapping[str, Sequence[tuple[int, int]]],
                         title: str, zoom: tuple[int, int] | None = None) -> Figure:
    """Importance per sentence index along the CoT, conditions overlaid; dropdown runs shaded.

    series: {condition: value per sentence (NaN = no rollouts, drawn as a gap)}.
    runs: {condition: [(start, end_exclusive), ...]} dropdown runs to shade in that condition's colour.
    zoom: sentence range [start, end) for the lower panel (the note zooms on sentences 100-125).
    """
    fig = Figure(figsize=(8.0, 4.8 if zoom else 2.8))
    axes = [fig.add_subplot(2 if zoom else 1, 1, 1)]
    if zoom:
        axes.append(fig.add_subplot(2, 1, 2))
    for k, ax in enumerate(axes):
        for condition, ys in series.items():
            xs = range(len(ys))
            ax.plot(xs, ys, lw=0.9, marker=".", ms=2, color=_colour(condition), label=condition, alpha=0.85)
            for start, end in runs.get(condition, ()):
                ax.axvspan(start - 0.5, end - 0.5, color=_colour(condition), alpha=0.15, lw=0)
        ax.set_ylabel("importance")
        if k == 1 and zoom:
            ax.set_xlim(zoom[0] - 0.5, zoom[1] - 0.5)
            ax.set_title(f"zoom: sentences {zoom[0]}–{zoom[1] - 1}")
    axes[0].set_title(title)
    axes[0].legend(loc="upper right", fontsize=7)
    axes[-1].set_xlabel("sentence index")
    fig.tight_layout()
    return fig


def table_figure(columns: Sequence[str], rows: Sequence[Sequence[object]], title: str,
                 col_widths: Sequence[float] | None = None) -> Figure:
    """A table rendered as a figure (difference tables, greatest increase/decrease tables)."""
    height = 0.6 + 0.22 * (len(rows) + 1)
    fig = Figure(figsize=(8.0, height))
    ax = fig.add_subplot()
    ax.axis("off")
    cells = [[_cell(v) for v in row] for row in rows] or [["(no rows)"] + [""] * (len(columns) - 1)]
    table = ax.table(cellText=cells, colLabels=list(columns), loc="upper center", cellLoc="left",
                     colWidths=list(col_widths) if col_widths else None)
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.scale(1.0, 1.15)
    ax.set_title(title)
    return fig


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.3g}"
    text = str(value)
    return text if len(text) <= 70 else text[:67] + "..."


def difference_table(diffs: Mapping[str, tuple[float, float, float, int]], title: str) -> Figure:
    """Per-category mean importance difference (none - ablated) with its 95% CI and n.

    diffs: {category: (difference, ci_low, ci_high, n)}.
    """
    rows = [(_pretty(c), *diffs[c]) for c in _ordered(list(diffs))]
    return table_figure(("category", "none − ablated", "CI low", "CI high", "n"), rows, title,
                        col_widths=(0.34, 0.18, 0.16, 0.16, 0.1))


def extremes_table(rows: Sequence[tuple[int, str, str, float, float]], title: str) -> Figure:
    """Greatest increases/decreases: (sentence idx, category, text, importance none, change)."""
    body = [(i, _pretty(cat), text, before, change) for i, cat, text, before, change in rows]
    return table_figure(("sent", "category", "text", "none", "change"), body, title,
                        col_widths=(0.05, 0.21, 0.52, 0.1, 0.1))


def similarity_spread(values: Mapping[str, Sequence[float]], title: str,
                      ylabel: str = "cosine(resampled, original)") -> Figure:
    """Distribution of cosine similarities per group (condition or embedder), as boxes with jittered points."""
    groups = list(values)
    fig = Figure(figsize=(max(4.0, 1.2 * len(groups)), 3.0))
    ax = fig.add_subplot()
    data = [[x for x in values[g] if not math.isnan(x)] or [math.nan] for g in groups]
    ax.boxplot(data, positions=range(len(groups)), widths=0.5, showfliers=False)
    for i, xs in enumerate(data):
        jitter = [i + 0.15 * math.sin(7.0 * k) for k in range(len(xs))]  # deterministic jitter
        ax.scatter(jitter, xs, s=3, alpha=0.4, color=_colour(groups[i]))
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{g}\n(n={len(values[g])})" for g in groups], fontsize=7)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def draws_distribution(draws: Sequence[float], receiver: float, title: str, xlabel: str) -> Figure:
    """A statistic over random-head draws as points, with the receiver-head value as a line (H5)."""
    fig = Figure(figsize=(5.0, 2.4))
    ax = fig.add_subplot()
    ax.scatter(list(draws), [0.0] * len(draws), color=_colour("random"), label="random draws", zorder=3)
    ax.axvline(receiver, color=_colour("receiver"), lw=2, label="receiver heads")
    ax.set_yticks([])
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    return fig
