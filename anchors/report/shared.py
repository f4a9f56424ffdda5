"""Pictures several verdict cards attach: the page shows each once, captioned for every card it stands for.

A figure's title is its caption, not part of its picture (anchors.report.plugin.figure_attachment), so two cards
share a picture exactly when their PNGs are the same bytes. That happens when two claims draw the same data (the
organism's first 27 figures held 10 such repeats) and, on the organism, when the two embedders split the resamples
alike: they then call the same resamples dissimilar, their importances coincide, and the `sent` and `llm` figures
are one picture under two titles. The main job's page drew 34 pictures (599 KB of its 1.27 MB) before titles left
the pictures, 15 (255 KB) after. The first card to attach a picture shows it (the first whose figures are not
folded away, if any), its caption naming every other title and card; each other card says where it is and, across
embedders that split alike, that they do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from anchors.report.tables import esc
from anchors.report.summary import card_id, same_split_sentence

if TYPE_CHECKING:
    from anchors.records import JsonObject


@dataclass(frozen=True)
class Use:
    """One verdict card's attachment of a picture."""

    card: str
    """The card's id on the page (anchors.report.summary.card_id)."""
    caption: str
    """The figure's title in that card (e.g. "organism-null / sent: importance by category")."""
    embedder: str
    """The card's embedder ("sent", "llm"; "" for a row without one)."""
    split: tuple[str, str]
    """The card's (model, source): whose embedders' split says why two embedders' pictures coincide."""
    folded: bool = False
    """The card folds its figures away (an undecided verdict: anchors.report.sections.folded); such a card shows a
    picture only when no unfolded card attaches it."""


@dataclass(frozen=True)
class Picture:
    """Every card that attaches one PNG, in page order, and whether its embedders split alike."""

    uses: tuple[Use, ...]
    """The first shows the picture (the first unfolded card, else the first card); the others point to it."""
    alike: bool
    """True when the uses span several embedders of one model and source whose splits are the same
    (anchors.report.summary.same_split_sentence): the reason the embedders' pictures coincide."""


def alike_splits(experiments: Sequence[JsonObject]) -> set[tuple[str, str]]:
    """(model, source) pairs whose embedders call the same resamples dissimilar under every condition."""
    by_split: dict[tuple[str, str], list[JsonObject]] = {}
    for d in experiments:
        by_split.setdefault((str(d["model"]), str(d["source"])), []).append(d)
    return {key for key, digests in by_split.items() if same_split_sentence(digests)}


def pictures(cards: Sequence[tuple[JsonObject, str, bool]], attachments: Mapping[str, Sequence[JsonObject]],
             alike: set[tuple[str, str]]) -> dict[str, Picture]:
    """PNG (base64) -> its Picture. cards: (row, source, folded) of every verdict card in page order; attachments:
    test -> what it attached; alike: `alike_splits` of the run's experiments."""
    uses: dict[str, list[Use]] = {}
    for row, source, folded in cards:
        for a in attachments.get(row["test"], ()):
            if a["kind"] == "figure":
                uses.setdefault(a["png"], []).append(Use(card=card_id(row), caption=str(a["alt"]),
                                                         embedder=str(row.get("embedder") or ""),
                                                         split=(str(row.get("model")), source), folded=folded))
    return {png: Picture(uses=tuple(sorted(u, key=lambda x: x.folded)), alike=_alike(u, alike))
            for png, u in uses.items()}


def _alike(uses: Sequence[Use], alike: set[tuple[str, str]]) -> bool:
    embedders = {u.embedder for u in uses}
    return len(embedders) > 1 and all(u.split in alike for u in uses)


def why(picture: Picture) -> str:
    """"llm = sent, the embedders split alike (...)" when the picture stands for several embedders that split alike,
    else "": the pixels alone say the drawn data coincide (H7's cosines are all 1 on both organisms, for one)."""
    embedders = list(dict.fromkeys(u.embedder for u in picture.uses))
    if not picture.alike:
        return ""
    return f"{' = '.join(embedders)}, the embedders split alike (they call the same resamples dissimilar)"


def caption_html(picture: Picture) -> str:
    """The shown picture's caption (above it): its first title, then every other title it stands for, with its
    card."""
    first = picture.uses[0]
    others = {u.caption: u for u in picture.uses[1:] if u.caption != first.caption}  # each title once, first card
    title = f'<span class="figure-title">{esc(first.caption)}</span>'
    if not others:
        return title
    also = "; ".join(f"“{esc(u.caption)}” (<a href=\"#{u.card}\">its card</a>)" for u in others.values())
    reason = why(picture)
    return (f'{title}. <span class="shared">The same picture, pixel for pixel, is also {also}'
            + (f": {esc(reason)}" if reason else "") + ".</span>")


def pointer_html(picture: Picture, use: Use) -> str:
    """A later card's line in place of the picture: where the page shows it and, across embedders, why."""
    first = picture.uses[0]
    same = ("the same figure as" if use.caption == first.caption else
            f"the same picture, pixel for pixel, as “{esc(first.caption)}”")
    reason = why(picture) if use.embedder != first.embedder else ""
    return (f'<p class="same-figure">Figure “{esc(use.caption)}”: {same} in <a href="#{first.card}">this card</a>'
            + (f" ({esc(reason)})" if reason else "") + ".</p>")
