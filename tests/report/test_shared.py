"""anchors.report.shared: a picture several cards attach is drawn once; when the two embedders split alike their
figures are one picture, shown once and captioned for both (issue 27: 0.3 MB of the organism page)."""

from __future__ import annotations

import pytest

from anchors.core.claims import Claim
from anchors.report import figures
from anchors.report.plugin import figure_attachment
from anchors.report.rows import verdict_row
from anchors.report.sections import claim_section, folded
from anchors.report.shared import alike_splits, pictures

pytestmark = pytest.mark.unit

RATIO = Claim("H1", statistic="ratio", threshold=2.0, direction="ge", title="a doubling")
BOXES = {"none": {"plan_generation": [0.1, 0.2, 0.3]}, "receiver-k4": {"plan_generation": [0.2, 0.1]}}


def _figure(embedder: str, values: dict = BOXES):
    with figures.style():
        return figures.category_boxes(values, f"m / {embedder}: importance by category", "importance")


def _row(embedder: str) -> dict:
    row = verdict_row(RATIO.check(2.5, ci=(2.1, 3.0), n=9), {"model": "m", "embedder": embedder, "source": "s"})
    return {**row, "test": f"test_H1[m-{embedder}]"}


def _experiments(llm_split: str) -> list[dict]:
    return [{"model": "m", "source": "s", "embedder": e, "conditions": {"none": {"dissimilar_split": split}}}
            for e, split in (("llm", llm_split), ("sent", "abc"))]


def _page(attachments: dict, experiments: list[dict]) -> str:
    rows = [_row("llm"), _row("sent")]
    shown = pictures([(r, "s", False) for r in rows], attachments, alike_splits(experiments))
    return claim_section("claim-H1", rows, {}, attachments, None, shown)


def test_the_title_is_the_caption_not_part_of_the_picture():
    fig = _figure("llm")
    a = figure_attachment(fig)
    assert a["alt"] == "m / llm: importance by category"
    assert fig.axes[0].get_title() == a["alt"] and fig.axes[0].title.get_visible()  # the caller's Figure unchanged
    assert a["width_in"] < fig.get_figwidth() and a["height_in"] < fig.get_figheight()  # the title's margin cropped


def test_embedders_that_split_alike_get_one_figure_captioned_for_both():
    llm, sent = figure_attachment(_figure("llm")), figure_attachment(_figure("sent"))
    assert llm["png"] == sent["png"] and llm["alt"] != sent["alt"]
    html = _page({"test_H1[m-llm]": [llm], "test_H1[m-sent]": [sent]}, _experiments("abc"))
    assert html.count("data:image/png;base64") == 1 and html.count("<figure>") == 1
    caption = html.split("<figcaption>", 1)[1].split("</figcaption>", 1)[0]
    assert caption.startswith('<span class="figure-title">m / llm: importance by category</span>. ')
    assert "“m / sent: importance by category” (<a href=\"#v-test_H1-m-sent\">its card</a>)" in caption
    assert caption.endswith("its card</a>): llm = sent, the embedders split alike (they call the same resamples "
                            "dissimilar).</span>")
    card = html.split('id="v-test_H1-m-sent"', 1)[1].split("</article>", 1)[0]
    assert ("Figure “m / sent: importance by category”: the same picture, pixel for pixel, as “m / llm: importance "
            'by category” in <a href="#v-test_H1-m-llm">this card</a> (llm = sent, the embedders split alike') in card


def test_the_same_picture_under_embedders_that_split_differently_is_shown_once_without_a_reason():
    llm, sent = figure_attachment(_figure("llm")), figure_attachment(_figure("sent"))
    html = _page({"test_H1[m-llm]": [llm], "test_H1[m-sent]": [sent]}, _experiments("xyz"))
    assert html.count("<figure>") == 1 and "split alike" not in html
    assert "The same picture, pixel for pixel, is also “m / sent: importance by category”" in html


def test_embedders_whose_figures_differ_keep_both():
    other = {c: {k: [x + 0.05 for x in v] for k, v in per.items()} for c, per in BOXES.items()}
    llm, sent = figure_attachment(_figure("llm")), figure_attachment(_figure("sent", other))
    html = _page({"test_H1[m-llm]": [llm], "test_H1[m-sent]": [sent]}, _experiments("abc"))
    assert html.count("<figure>") == 2 and 'class="same-figure"' not in html and 'class="shared"' not in html


def test_a_picture_is_drawn_in_a_decided_card_rather_than_in_an_undecided_one_before_it():
    undecided = {**_row("llm"), "verdict": "skip", "message": "too few sentences"}
    rows = [undecided, _row("sent")]
    attachments = {r["test"]: [figure_attachment(_figure(r["embedder"]))] for r in rows}
    shown = pictures([(r, "s", folded(r)) for r in rows], attachments, alike_splits(_experiments("abc")))
    html = claim_section("claim-H1", rows, {}, attachments, None, shown)
    first, second = html.split('id="v-test_H1-m-sent"', 1)
    assert "<figure>" not in first and 'href="#v-test_H1-m-sent">this card</a>' in first  # points to the decided card
    assert second.count("<figure>") == 1
