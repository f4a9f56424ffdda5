"""anchors.report.figures: plain data in, Figure out; no pyplot state, no global style change."""

from __future__ import annotations

import math
import subprocess
import sys

import matplotlib
from matplotlib.figure import Figure

from anchors.report import figures


def test_every_builder_returns_a_figure_without_pyplot():
    with figures.style():
        built = [
            figures.category_boxes({"none": {"plan_generation": [0.1, 0.3, math.nan], "fact_retrieval": [0.0]},
                                    "receiver-k20": {"plan_generation": [0.5, 0.7]}}, "t"),
            figures.importance_along_cot({"none": [0.1, 0.0, math.nan, 0.0]}, {"none": [(1, 4)]}, "t", zoom=(0, 3)),
            figures.difference_table({"plan_generation": (0.1, -0.2, 0.4, 12)}, "t"),
            figures.extremes_table([(3, "plan_generation", "x" * 200, 0.1, 0.5)], "t"),
            figures.similarity_spread({"none": [1.0, 0.99], "random": [0.5, 0.9, math.nan]}, "t"),
            figures.draws_distribution([0.1, 0.2], 0.5, "t", "x"),
        ]
    assert all(isinstance(f, Figure) for f in built)
    assert "matplotlib.pyplot" not in sys.modules or not __import__("matplotlib.pyplot").pyplot.get_fignums()


def test_style_is_undone_on_exit():
    before = matplotlib.rcParams["font.size"]
    with figures.style():
        assert matplotlib.rcParams["font.size"] == 8
    assert matplotlib.rcParams["font.size"] == before


def test_import_changes_no_rcparams():
    code = ("import matplotlib; a = dict(matplotlib.rcParams); import anchors.report.figures; "
            "assert dict(matplotlib.rcParams) == a")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_long_table_text_is_shortened():
    assert figures._cell("y" * 100).endswith("...") and len(figures._cell("y" * 100)) == 70
    assert figures._cell(math.nan) == "NaN" and figures._cell(0.123456) == "0.123"
