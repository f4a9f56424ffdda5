"""Figures for the hypothesis report: plain data in, `matplotlib.figure.Figure` out. Presentation layer.

Never `savefig`, never `pyplot` (no global figure registry, so figures are safe under pytest-xdist workers and
are garbage-collected with their test); the report plugin turns each Figure into an embedded PNG shown at its
physical size (1 figure inch = 96 CSS px), so the 10 pt text set by the single `style()` context is 10 pt on the
page at 100% zoom. Importing this module changes nothing.

Every axis names its quantity and unit; no axis uses offset notation (the old H7/H8 axes read "1e-12+1");
every random-head draw has its own colour and legend entry; an empty category is marked "n = 0".
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from anchors.records import TAGS

# The eight taxonomy tags (anchors.records.TAGS) in a fixed order, so every figure reads the same way: the
# paper's, with final-answer emission last (it ends every trace).
CATEGORY_ORDER = tuple(t for t in TAGS if t != "final_answer_emission") + ("final_answer_emission",)
# Okabe-Ito colours (distinguishable under the common colour-vision deficiencies): none blue, receiver vermillion,
# each random draw its own colour.
NONE_COLOUR, RECEIVER_COLOUR, OTHER_COLOUR = "#0072B2", "#D55E00", "#7F7F7F"
DRAW_COLOURS = ("#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#8C564B", "#BCBD22", "#17BECF")
FULL_WIDTH = 10.0
"""Inches: 960 CSS px on the page, the width of the report's text column."""

_STYLE = {
    "font.size": 10,  # 10 pt at 100% zoom: the page shows a figure at 96 px per figure inch
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "axes.formatter.useoffset": False,
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


def colour(condition: str, conditions: Sequence[str] = ()) -> str:
    """A condition's colour: none blue, receiver vermillion, each random draw (by its position among the random
    conditions of `conditions`, else by its seed suffix) its own colour."""
    if condition.startswith("none"):
        return NONE_COLOUR
    if condition.startswith("receiver"):
        return RECEIVER_COLOUR
    if condition.startswith("random"):
        draws = sorted(c for c in conditions if c.startswith("random"))
        if condition in draws:
            index = draws.index(condition)
        else:
            suffix = condition.rsplit("-s", 1)[-1]
            index = int(suffix) if suffix.isdigit() else 0
        return DRAW_COLOURS[index % len(DRAW_COLOURS)]
    return OTHER_COLOUR


def pretty(tag: str) -> str:
    """"plan_generation" -> "Plan Generation" (METHOD.md §4.8)."""
    return tag.replace("_", " ").title()


def ordered_categories(categories: Sequence[str]) -> list[str]:
    known = [c for c in CATEGORY_ORDER if c in categories]
    return known + sorted(c for c in categories if c not in CATEGORY_ORDER)


def _finite(xs: Sequence[float]) -> list[float]:
    return [float(x) for x in xs if not math.isnan(float(x))]


def category_boxes(values: Mapping[str, Mapping[str, Sequence[float]]], title: str, ylabel: str) -> Figure:
    """Box plots of a per-sentence value by category, one box per condition within each category.

    values: {condition: {category: per-sentence values}}; NaN values are dropped. Each category's tick label gives
    its analysed sentences per condition; a (category, condition) with none is marked "n = 0" where its box would be.
    """
    conditions = list(values)
    categories = ordered_categories(sorted({c for per in values.values() for c in per}))
    fig = Figure(figsize=(FULL_WIDTH, 4.8))
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(conditions))
    for j, condition in enumerate(conditions):
        offset = (j - (len(conditions) - 1) / 2) * width
        for i, category in enumerate(categories):
            xs = _finite(values[condition].get(category, ()))
            if not xs:
                ax.text(i + offset, 0.02, "n = 0", transform=ax.get_xaxis_transform(), rotation=90,
                        ha="center", va="bottom", fontsize=10, color="#444444")
                continue
            boxes = ax.boxplot([xs], positions=[i + offset], widths=width * 0.9, patch_artist=True,
                               showfliers=True, flierprops={"markersize": 3}, medianprops={"color": "#000000"})
            boxes["boxes"][0].set_facecolor(colour(condition, conditions))
            boxes["boxes"][0].set_alpha(0.75)
    counts = []
    for cat in categories:
        ns = [len(_finite(values[c].get(cat, ()))) for c in conditions]
        counts.append(str(ns[0]) if len(set(ns)) == 1 else "/".join(map(str, ns)))
    ax.set_xticks(range(len(categories)))
    ax.set_xticklabels([f"{pretty(c).replace(' ', chr(10))}\nn = {n}" for c, n in zip(categories, counts)])
    ax.set_xlim(-0.6, len(categories) - 0.4)
    ax.set_xlabel("sentence category (n = analysed sentences; per condition in legend order where they differ)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _legend_below(fig, [Patch(color=colour(c, conditions), alpha=0.75, label=c) for c in conditions])
    return fig


def _legend_below(fig: Figure, handles: list) -> None:
    """The legend in rows of 5 under the axes, which then take the figure's full width."""
    rows = math.ceil(len(handles) / 5)
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 5), frameon=False)
    fig.tight_layout(rect=(0, (0.1 + 0.28 * rows) / fig.get_figheight(), 1, 1))


def importance_along_cot(series: Mapping[str, Sequence[float]], runs: Mapping[str, Sequence[tuple[int, int]]],
                         title: str, ylabel: str, boundaries: Sequence[int] = (),
                         zoom: tuple[int, int] | None = None) -> Figure:
    """Importance per sentence index along the CoT, conditions overlaid; dropdown runs shaded.

    series: {condition: value per sentence (NaN = no rollouts, drawn as a gap)}.
    runs: {condition: [(start, end_exclusive), ...]} dropdown runs, shaded in that condition's colour.
    boundaries: first sentence index of every pooled trace after the first (dashed lines).
    zoom: sentence range [start, end) for the lower panel (the note zooms on sentences 100-125).
    """
    conditions = list(series)
    fig = Figure(figsize=(FULL_WIDTH, 6.8 if zoom else 4.2))
    axes = [fig.add_subplot(2 if zoom else 1, 1, 1)]
    if zoom:
        axes.append(fig.add_subplot(2, 1, 2))
    for k, ax in enumerate(axes):
        for condition, ys in series.items():
            ax.plot(range(len(ys)), ys, lw=1.0, marker=".", ms=3, color=colour(condition, conditions),
                    label=condition, alpha=0.9)
            for start, end in runs.get(condition, ()):
                ax.axvspan(start - 0.5, end - 0.5, color=colour(condition, conditions), alpha=0.15, lw=0)
        for b in boundaries:
            ax.axvline(b - 0.5, color="#333333", ls="--", lw=0.8)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("sentence index" + (" (pooled traces, dashed lines between traces)" if boundaries else ""))
        if k == 1 and zoom:
            ax.set_xlim(zoom[0] - 0.5, min(zoom[1], max(len(ys) for ys in series.values())) - 0.5)
            ax.set_title(f"zoom: sentences {zoom[0]}–{zoom[1] - 1}")
    axes[0].set_title(title)
    handles, _ = axes[0].get_legend_handles_labels()
    handles += [Patch(color=colour(c, conditions), alpha=0.15, label=f"dropdown run ({c})") for c in runs if runs[c]]
    if boundaries:
        handles.append(Line2D([], [], color="#333333", ls="--", lw=0.8, label="trace boundary"))
    _legend_below(fig, handles)
    return fig


def similarity_spread(values: Mapping[str, Sequence[float]], title: str,
                      ylabel: str = "cosine similarity\n(resample vs removed sentence)") -> Figure:
    """Distribution of cosine similarities per group (condition or embedder), as boxes with jittered points."""
    groups = list(values)
    fig = Figure(figsize=(max(6.0, 1.6 * len(groups) + 2.0), 4.0))
    ax = fig.add_subplot()
    data = [_finite(values[g]) for g in groups]
    for i, xs in enumerate(data):
        if not xs:
            ax.text(i, 0.5, "n = 0", transform=ax.get_xaxis_transform(), ha="center", fontsize=10)
            continue
        ax.boxplot([xs], positions=[i], widths=0.5, showfliers=False)
        jitter = [i + 0.15 * math.sin(7.0 * k) for k in range(len(xs))]  # deterministic jitter
        ax.scatter(jitter, xs, s=6, alpha=0.4, color=colour(groups[i], groups))
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{g}\nn = {len(xs)} resamples" for g, xs in zip(groups, data)])
    ax.set_xlim(-0.6, len(groups) - 0.4)
    _pad_flat_axis(ax, [x for xs in data for x in xs])
    ax.set_xlabel("group")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _pad_flat_axis(ax, ys: Sequence[float], min_span: float = 0.02) -> None:
    """Values that are all (nearly) equal get a y range of at least `min_span`, so the ticks read 0.99, 1.00,
    1.01 instead of offset notation on a 1e-12 range (the old H7/H8 axes)."""
    if ys and max(ys) - min(ys) < min_span:
        high = min((max(ys) + min(ys)) / 2 + min_span, 1.0 + min_span / 10)  # a cosine never exceeds 1
        ax.set_ylim(high - 2 * min_span, high)


def draws_distribution(draws: Mapping[str, float], receiver: float, title: str, xlabel: str) -> Figure:
    """A statistic per random-head draw (one colour and legend entry each) against the receiver-head value (H5)."""
    names = list(draws)
    fig = Figure(figsize=(8.0, 2.8))
    ax = fig.add_subplot()
    for name in names:
        ax.scatter([draws[name]], [0.0], color=colour(name, names), s=60, label=name, zorder=3)
    ax.axvline(receiver, color=RECEIVER_COLOUR, lw=2, label="receiver heads")
    ax.set_yticks([])
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig
