"""Which settings made which stored rollouts: a condition folder's settings record and each sentence's ledger.

"Settings" are `RunSpec.compared()`: every fact that changes generated text (model, revision, dtype, sampling,
prompt mode, condition, seed base). They are fixed per condition folder:

* `<condition folder>/settings.json` ({"settings", "provenance", "source"}) is written once, atomically, by the
  first run that stores rollouts there. A folder made before the record existed gets it derived from its
  sentences' sidecars when they all agree ("source": "chunk sidecars"); when they disagree the folder is "mixed".
* Each sentence's sidecar chunk_<i>/provenance.json logs its appends. Since format 2 every entry says which
  records it added ("records": [start, stop), positions in solutions.json) and their settings (null: unknown, for
  records found without a readable sidecar and kept by a --force run). `record_labels` gives every stored record
  its settings key, or None when unknown; nothing is ever relabelled with the settings of a later run.

Everything here only reads; the store (`anchors.disk.store`) writes under its locks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from anchors.disk.jsonio import read_json
from anchors.errors import InputError

if TYPE_CHECKING:
    from anchors.records import JsonObject, JsonValue

FOLDER_SETTINGS = "settings.json"
SOLUTIONS_PROVENANCE = "provenance.json"
"""A sentence's sidecar, chunk_<i>/provenance.json (`anchors.disk.formats` re-exports the name)."""
LEDGER_FORMAT = 2
"""Sidecar format whose append entries carry "records" and "settings" (format 1, unmarked, carried neither)."""
IMPORTED = {"imported": True}
"""condition_info of imported rollouts (`anchors import`): compared like any setting, so an import and a generation
(whose condition_info names its heads) never share a folder unnoticed."""
FLAGS = {"model_id": "--model", "revision": "--model", "dtype": "--dtype", "max_new_tokens": "--max-new-tokens",
         "prompt_mode": "--prompt-mode", "condition": "--condition", "condition_info": "--heads",
         "seed_base": "--seed"}
"""The `anchors rollouts` flag that sets each compared field (temperature and top_p are in the folder's path)."""


class FolderSettings(BaseModel):
    """What a condition folder says its rollouts were made with."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    settings: dict[str, Any] | None
    """The folder's settings; None when nothing is known (a new folder, or only unlabelled data) or mixed."""
    source: Literal["record", "chunk sidecars", "none", "mixed"]
    """Where they come from: settings.json, the agreeing sidecars of an older store, nothing, or disagreeing
    sidecars."""
    mixed: list[dict[str, Any]] = []
    """The distinct settings of a "mixed" folder's sidecars."""
    corrupt: str | None = None
    """Why settings.json could not be read (it is set aside at the next write), else None."""


def settings_key(settings: JsonObject | None) -> str | None:
    """Canonical JSON of a settings dict (equal settings, equal keys); None stays None (unknown)."""
    return None if settings is None else json.dumps(settings, sort_keys=True, separators=(",", ":"))


def read_sidecar(path: Path) -> tuple[JsonObject | None, str | None]:
    """(sidecar, None), or (None, why it is unusable: absent or unreadable)."""
    if not path.exists():
        return None, f"{path.name} is missing"
    try:
        sidecar = read_json(path, expect=dict)
    except InputError as exc:
        return None, f"{path.name} is unreadable ({exc.problem})"
    if not isinstance(_base_settings(sidecar), dict):
        return None, f"{path.name} is unreadable (no provenance.settings)"
    return sidecar, None


def _base_settings(sidecar: JsonObject) -> JsonValue:
    prov = sidecar.get("provenance")
    return prov.get("settings") if isinstance(prov, dict) else None


def _entries(sidecar: JsonObject) -> list[JsonObject]:
    appends = sidecar.get("appends")
    return [e for e in appends if isinstance(e, dict)] if isinstance(appends, list) else []


def _legacy_forced(sidecar: JsonObject) -> bool:
    return sidecar.get("format") != LEDGER_FORMAT and any(e.get("forced") for e in _entries(sidecar))


def record_labels(sidecar: JsonObject | None, n: int) -> list[str | None]:
    """The settings key of each of the `n` stored records, in file order; None where unknown.

    Format 2: each entry's range, later entries winning (an entry logged just before a kill claims records that were
    never written; the next append claims the same positions). Format 1: every record has the sidecar's settings,
    unless a --force append was logged, which did not say which records it added: then all are unknown.
    """
    if sidecar is None:
        return [None] * n
    if sidecar.get("format") != LEDGER_FORMAT:
        return [None if _legacy_forced(sidecar) else settings_key(_base_settings(sidecar))] * n
    labels: list[str | None] = [None] * n
    for entry in _entries(sidecar):
        span = entry.get("records")
        if isinstance(span, list) and len(span) == 2 and all(isinstance(v, int) for v in span):
            settings = entry.get("settings")
            key = settings_key(settings) if isinstance(settings, dict) else None
            labels[max(span[0], 0):min(span[1], n)] = [key] * max(0, min(span[1], n) - max(span[0], 0))
    return labels


def legacy_entry(sidecar: JsonObject, n: int) -> JsonObject:
    """The entry that carries a format-1 sidecar's `n` records into format 2 (their settings, or unknown)."""
    if _legacy_forced(sidecar):
        return {"records": [0, n], "settings": None, "unknown": "a --force append of format 1 did not record "
                                                                 "which records it added"}
    return {"records": [0, n], "settings": _base_settings(sidecar), "converted_from_format": 1}


def unknown_reason(sidecar: JsonObject | None) -> str:
    """Why a sidecar's unlabelled records are unknown, as its ledger says (e.g. "provenance.json is missing")."""
    reasons = [e["unknown"] for e in _entries(sidecar or {}) if isinstance(e.get("unknown"), str)]
    return reasons[0] if reasons else "no entry of provenance.json names them"


def sidecar_settings(sidecar: JsonObject) -> dict[str, JsonObject]:
    """key -> settings of every settings a sidecar gives its records (format 2: its entries'; format 1: its creation
    settings and those of its --force appends)."""
    found = {}
    base = [] if sidecar.get("format") == LEDGER_FORMAT else [_base_settings(sidecar)]
    for settings in [*base, *(e.get("settings") for e in _entries(sidecar))]:
        if isinstance(settings, dict):
            found[settings_key(settings)] = settings
    return found


def folder_settings(condition_dir: Path) -> FolderSettings:
    """The condition folder's settings: settings.json, else derived from its sentences' sidecars. Reads only."""
    path = condition_dir / FOLDER_SETTINGS
    corrupt = None
    if path.exists():
        try:
            record = read_json(path, expect=dict)
            if isinstance(record.get("settings"), dict):
                return FolderSettings(settings=record["settings"], source="record")
            corrupt = "no 'settings' object"
        except InputError as exc:
            corrupt = exc.problem
    found: dict[str, JsonObject] = {}
    for sidecar_path in sorted(condition_dir.glob(f"problem_*/chunk_*/{SOLUTIONS_PROVENANCE}")):
        sidecar, _ = read_sidecar(sidecar_path)
        found.update(sidecar_settings(sidecar) if sidecar else {})
    if not found:
        return FolderSettings(settings=None, source="none", corrupt=corrupt)
    if len(found) > 1:
        return FolderSettings(settings=None, source="mixed", mixed=list(found.values()), corrupt=corrupt)
    return FolderSettings(settings=next(iter(found.values())), source="chunk sidecars", corrupt=corrupt)


def _flat(settings: JsonObject) -> JsonObject:
    """Sampling's fields lifted in place, so a difference names `max_new_tokens`, not `sampling`."""
    out: JsonObject = {}
    for key, value in settings.items():
        if key == "sampling" and isinstance(value, dict):
            out.update(value)
        else:
            out[key] = value
    return out


def differences(stored: JsonObject, asked: JsonObject) -> list[tuple[str, JsonValue, JsonValue]]:
    """(field, stored value, asked value) for each field that differs ("<absent>" where one side lacks it)."""
    a, b = _flat(stored), _flat(asked)
    keys = [*b, *(k for k in a if k not in b)]
    absent = "<absent>"
    return [(k, a.get(k, absent), b.get(k, absent)) for k in keys if a.get(k, absent) != b.get(k, absent)]


def describe(diffs: list[tuple[str, JsonValue, JsonValue]], side: int) -> str:
    """"max_new_tokens=8, seed_base=0": one side (1 stored, 2 asked) of `differences`."""
    return ", ".join(f"{d[0]}={d[side]!r}" for d in diffs)


def imported_refusal(diffs: list[tuple[str, JsonValue, JsonValue]]) -> str | None:
    """What to do when a generation meets a folder of imported rollouts (no flag makes a generation match an
    import); None when the folder's rollouts were not imported."""
    if not any(field == "condition_info" and stored == IMPORTED for field, stored, _ in diffs):
        return None
    return ("its rollouts were imported (anchors import), and generation never adds to an import: add more with "
            "`anchors import FILE --store` on this store, or generate into another --store")


def how_to_match(diffs: list[tuple[str, JsonValue, JsonValue]]) -> str:
    """The flags that would make a run agree with the stored side, e.g. "--max-new-tokens 8 --seed 0"."""
    parts = []
    for field, stored, _ in diffs:
        flag = FLAGS.get(field)
        if flag is None:
            parts.append(f"{field} {stored!r} (it is part of the folder's path: use the folder that has it)")
        elif field in ("revision", "model_id", "condition_info"):
            parts.append(f"{flag} <the one that made them: {field}={stored!r}>")
        else:
            parts.append(f"{flag} {stored}")
    return " ".join(dict.fromkeys(parts))


def problem_mix(problem_dir: Path, counts: dict[int, int]) -> str | None:
    """Why a problem folder's rollouts do not share one settings; None when they do, or when none of them carries any
    provenance (the published dataset). `counts`: sentence index -> records stored. Reads only.

    Records are checked against each other and against the condition folder's settings.json when there is one (a
    folder derived from sidecars is judged on this problem's own records: another problem's legacy settings may
    differ without touching this one)."""
    spans: dict[str | None, list[str]] = {}
    for idx, n in sorted(counts.items()):
        sidecar, why = read_sidecar(problem_dir / f"chunk_{idx}" / SOLUTIONS_PROVENANCE)
        for key, span in _runs(record_labels(sidecar, n)):
            reason = "" if key else f" ({why or unknown_reason(sidecar)})"
            spans.setdefault(key, []).append(f"chunk_{idx} records {span}{reason}")
    folder = folder_settings(problem_dir.parent)
    if folder.source == "record":
        spans.setdefault(settings_key(folder.settings), []).insert(0, f"{problem_dir.parent.name}/{FOLDER_SETTINGS}")
    elif set(spans) == {None}:
        return None  # no provenance anywhere: data from elsewhere, read as it is
    return None if len(spans) <= 1 else _mix_text(spans)


def _runs(labels: list[str | None]) -> list[tuple[str | None, str]]:
    """Consecutive equal labels as (label, "a-b") spans."""
    out, start = [], 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            out.append((labels[start], f"{start}-{i - 1}"))
            start = i
    return out


def _mix_text(keys: dict[str | None, list[str]]) -> str:
    known = [json.loads(k) for k in keys if k is not None]
    parts = []
    if len(known) > 1:
        diffs = differences(known[0], known[1])
        parts.append(f"settings differ in {', '.join(d[0] for d in diffs)} ({describe(diffs, 1)} vs "
                     f"{describe(diffs, 2)})")
    for key, where in keys.items():
        label = "unknown settings" if key is None else f"settings #{known.index(json.loads(key)) + 1}"
        parts.append(f"{label}: {'; '.join(where[:3])}{' ...' if len(where) > 3 else ''}")
    return " | ".join(parts)
