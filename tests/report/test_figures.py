"""anchors.report.figures: plain data in, Figure out; legible, labelled, one colour per random draw; no pyplot state."""

from __future__ import annotations

import math
import subprocess
import sys

import matplotlib
from matplotlib.figure import Figure

from anchors.report import figures

DRAWS = ("random-k20-s0", "random-k20-s1", "random-k20-s2")


def _built() -> list[Figure]:
    with figures.style():
        return [
            figures.category_boxes({"none": {"plan_generation": [0.1, 0.3, math.nan], "fact_retrieval": [0.0]},
                                    "receiver-k20": {"plan_generation": [0.5, 0.7]}}, "t", "importance (nats)"),
            figures.importance_along_cot({"none": [0.1, 0.0, math.nan, 0.0]}, {"none": [(1, 4)]}, "t", "y (nats)",
                                         boundaries=[2], zoom=(0, 3)),
            figures.similarity_spread({"none": [1.0, 0.99], "random": [0.5, 0.9, math.nan]}, "t"),
            figures.draws_distribution({d: 0.1 * i for i, d in enumerate(DRAWS)}, 0.5, "t", "x (nats)"),
        ]


def _texts(fig: Figure) -> list:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    return [t for ax in fig.axes for t in ax.texts + ax.get_xticklabels() + ax.get_yticklabels()
            + [ax.xaxis.label, ax.yaxis.label, ax.title] if t.get_text()] + \
        [t for legend in legends for t in legend.get_texts()]


def test_every_builder_returns_a_figure_without_pyplot():
    assert all(isinstance(f, Figure) for f in _built())
    assert "matplotlib.pyplot" not in sys.modules or not __import__("matplotlib.pyplot").pyplot.get_fignums()


def test_text_is_at_least_10_points_and_every_axis_is_labelled():
    for fig in _built():
        assert min(t.get_fontsize() for t in _texts(fig)) >= 10, fig.axes[0].get_title()
        for ax in fig.axes:
            assert ax.get_xlabel(), ax.get_title()
            assert ax.get_ylabel() or not ax.get_yticks().size, ax.get_title()


def test_each_random_draw_has_its_own_colour_and_legend_entry():
    colours = {figures.colour(d, DRAWS) for d in DRAWS}
    assert len(colours) == 3 and not colours & {figures.colour("none"), figures.colour("receiver-k20")}
    fig = _built()[3]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [*DRAWS, "receiver heads"]


def test_an_empty_category_is_marked_n_0():
    fig = _built()[0]
    # fact_retrieval has no receiver-k20 values: a "n = 0" mark where that box would be.
    assert [t.get_text() for t in fig.axes[0].texts] == ["n = 0"]


def test_pooled_traces_get_boundaries_and_runs_a_legend():
    fig = _built()[1]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "trace boundary" in labels and "dropdown run (none)" in labels


def test_a_flat_axis_reads_plain_numbers_not_an_offset():
    with figures.style():
        fig = figures.similarity_spread({"none": [1.0 - 1e-12, 1.0], "random": [1.0, 1.0]}, "t")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    assert ax.yaxis.get_major_formatter().get_offset() == ""
    low, high = ax.get_ylim()
    assert high - low >= 0.02


def test_style_is_undone_on_exit():
    before = matplotlib.rcParams["font.size"]
    with figures.style():
        assert matplotlib.rcParams["font.size"] == 10
    assert matplotlib.rcParams["font.size"] == before


def test_import_changes_no_rcparams():
    code = ("import matplotlib; a = dict(matplotlib.rcParams); import anchors.report.figures; "
            "assert dict(matplotlib.rcParams) == a")
    subprocess.run([sys.executable, "-c", code], check=True)
