"""Receiver-head discovery: the one thin runner that wires traces -> attention -> pure scorers -> a JSON artifact.

Settings (stated in every artifact, METHOD.md §6.5 and appendix items 1-5):
* full `full_cot` (prompt, CoT, answer) with no truncation and no sentence cap;
* sentences: the HEAD splitter without the tail (§6.2), token spans from offset mappings;
* proximity 4, no depth control, mean vertical score; kurtosis Fisher, biased, NaN omitted; plain mean over traces;
* top-20 heads, layer 0 excluded (the paper-era choice; HEAD does not exclude it);
* problem 6481 held out of discovery by default, so the heads are not selected on the test problem.
Traces are visited in sorted path order (not `os.listdir` order, pitfall 20).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from anchors.core.receiver import (
    head_kurtosis,
    length_control,
    mean_kurtosis,
    select_receiver_heads,
    split_half_reliability,
    vertical_scores,
)
from anchors.disk.formats import BASE_SOLUTION, read_base_solution, read_problem_folder
from anchors.disk.heads import read_heads_artifact, write_heads_artifact
from anchors.disk.provenance import make_provenance
from anchors.errors import InputError
from anchors.records import HEADS_ARTIFACT_KIND, HeadReliability, HeadsArtifact, HeadTrace
from anchors.settings import cache_dir

if TYPE_CHECKING:
    from anchors.gpu.model import LoadedModel
    from anchors.records import JsonObject

log = logging.getLogger(__name__)

CACHE_VERSION = 3
"""Bump when anything that changes a heads artifact changes (scan maths, sentence mapping, scoring).
2: the artifact carries per-trace kurtosis (the unit of the reliability CI); 3: and the length-controlled scores."""
DEFAULT_EXCLUDE = ("6481",)
"""Problems held out of head discovery: 6481 is the test problem of the research note (appendix item 5)."""
SENTENCE_SOURCES = ("split", "file")


def discover_traces(dirs: Iterable[str | Path]) -> list[Path]:
    """Problem folders (holding base_solution.json) under each given folder, or the folder itself; sorted."""
    found: list[Path] = []
    for d in map(Path, dirs):
        if not d.is_dir():
            raise InputError(d, "not a folder", "pass math-rollouts problem folders or their parents")
        here = [d] if (d / "base_solution.json").is_file() else sorted(p.parent for p in d.rglob("base_solution.json"))
        if not here:
            raise InputError(d, "no base_solution.json found in or under it", "pass math-rollouts problem folders")
        found += here
    return sorted(dict.fromkeys(found))


def problem_id(folder: Path) -> str:
    """"6481" for a folder named problem_6481; the folder name otherwise."""
    return folder.name.removeprefix("problem_")


def read_trace(folder: Path, sentence_source: str = "split") -> tuple[str, list[str] | None]:
    """(full_cot, sentences): sentences None means "split full_cot with the HEAD splitter" (§6.2).

    sentence_source "file" takes the folder's sentences (`read_problem_folder`'s precedence) minus the last,
    which equals the HEAD list when the files are consistent (§6.2).
    """
    if sentence_source not in SENTENCE_SOURCES:
        raise ValueError(f"sentence_source must be one of {SENTENCE_SOURCES}")
    if sentence_source == "split":
        return read_base_solution(folder / BASE_SOLUTION).full_cot, None
    found = read_problem_folder(folder)
    return found.base_solution.full_cot, found.sentences[:-1]


def cache_key(model_facts: JsonObject, settings: JsonObject, trace_hashes: list[str]) -> str:
    """sha256 over exactly what changes the artifact: model, dtype, settings, trace contents, CACHE_VERSION."""
    blob = json.dumps({"v": CACHE_VERSION, "model": model_facts, "settings": settings, "traces": trace_hashes},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _trace_hash(full_cot: str, sentences: list[str] | None) -> str:
    return hashlib.sha256(json.dumps([full_cot, sentences]).encode()).hexdigest()


def trace_kurtosis(loaded: LoadedModel, full_cot: str, sentences: list[str] | None, where: str, settings: dict[str,
                   Any],
                   block_bytes: int | None = None) -> tuple[np.ndarray, int, int]:
    """Per-head kurtosis of one trace's vertical scores: ([L, H], n_sentences, n_tokens)."""
    from anchors.gpu.attention import (
        DEFAULT_BLOCK_BYTES,
        sentence_attention,
        trace_sentence_spans,
    )

    spans = trace_sentence_spans(loaded.tokenizer, full_cot, sentences, where=where)
    ids = loaded.tokenizer(full_cot, return_tensors="pt").input_ids.to(loaded.model.device)
    M = sentence_attention(loaded.model, ids, spans, block_bytes or DEFAULT_BLOCK_BYTES)  # [L, H, n, n]
    vert = vertical_scores(M.double().numpy(), settings["proximity"], settings["control_depth"], settings["score"])
    return head_kurtosis(vert), len(spans), int(ids.shape[1])


def _nan_to_none(a: np.ndarray) -> list:
    return [[None if math.isnan(v) else float(v) for v in row] for row in a]


def make_heads_artifact(loaded: LoadedModel, per_trace: np.ndarray, settings: JsonObject, traces: list[HeadTrace],
                        excluded: list[str], key: str) -> HeadsArtifact:
    """The artifact of a scan: per-trace kurtosis `[n_traces, L, H]` -> top-k heads, reliability, the scores
    residualised on each trace's sentence and token counts beside them (`length_control`), provenance."""
    mk = mean_kurtosis(per_trace)
    heads = select_receiver_heads(mk, k=settings["top_k"], exclude_layer0=settings["exclude_layer0"])
    r, n_rel = split_half_reliability(per_trace)
    lengths = length_control(per_trace, np.array([t.n_sentences for t in traces]),
                             np.array([t.n_tokens for t in traces]), settings["top_k"], settings["exclude_layer0"])
    exclude = settings["exclude_problems"]
    return HeadsArtifact(
        kind=HEADS_ARTIFACT_KIND, model_id=loaded.model_id, revision=loaded.revision, dtype=loaded.dtype,
        n_layers=loaded.n_layers, n_heads=loaded.n_heads, n_kv_heads=loaded.n_kv_heads, top_k=settings["top_k"],
        heads=heads, mean_kurtosis=_nan_to_none(mk), settings=settings, traces=traces, excluded_traces=excluded,
        trace_kurtosis=[_nan_to_none(k) for k in np.asarray(per_trace, dtype=np.float64)],
        length_control=lengths,
        reliability=HeadReliability(split_half_r=None if math.isnan(r) else r, n_heads=n_rel, n_traces=len(traces),
                                    method="even vs odd traces, Pearson r over layer>=1 heads (METHOD 6.6)"),
        notes=["layer 0 excluded from selection" if settings["exclude_layer0"] else "layer 0 eligible (HEAD behaviour)",
               f"problems held out of discovery: {exclude or 'none'}"],
        cache_key=key, cache_version=CACHE_VERSION,
        provenance=make_provenance(settings, model_id=loaded.model_id, revision=loaded.revision))


def _check_proximity(proximity: int, rows: list[HeadTrace]) -> None:
    """Every trace must keep two sentence columns with a pair `proximity` apart: a shorter trace's kurtosis is
    NaN for every head, and the plain mean over traces (NaN propagates) would leave no head to select. Checked
    once the traces are split (after the scan), before anything is written."""
    shortest = min(rows, key=lambda row: row.n_sentences)
    if shortest.n_sentences < proximity + 2:
        raise InputError(f"--proximity {proximity}", f"{shortest.folder} has {shortest.n_sentences} sentences, so "
                         f"fewer than two have a later sentence {proximity} or more apart",
                         f"use --proximity {max(shortest.n_sentences - 2, 0)} or less, or leave that trace out")


def find_receiver_heads(loaded: LoadedModel, trace_dirs: Iterable[str | Path], top_k: int = 20,
                        exclude_problems: Iterable[str] = DEFAULT_EXCLUDE, proximity: int = 4,
                        control_depth: bool = False, score: str = "mean", exclude_layer0: bool = True,
                        sentence_source: str = "split", use_cache: bool = True,
                        block_bytes: int | None = None) -> HeadsArtifact:
    """Discover receiver heads on the given traces; returns (and caches) the heads artifact."""
    eligible = (loaded.n_layers - (1 if exclude_layer0 else 0)) * loaded.n_heads
    if not 1 <= top_k <= eligible:
        raise InputError(f"--top-k {top_k}", f"the model has {eligible} eligible heads ({loaded.n_layers} layers x "
                         f"{loaded.n_heads}{', layer 0 excluded' if exclude_layer0 else ''})",
                         f"use --top-k from 1 to {eligible}")
    exclude = sorted({str(p) for p in exclude_problems})
    folders = discover_traces(trace_dirs)
    used = [f for f in folders if problem_id(f) not in exclude]
    if not used:
        raise InputError("traces", "every trace is excluded", "pass other traces or change --exclude")
    settings = {"top_k": top_k, "proximity": proximity, "control_depth": control_depth, "score": score,
                "exclude_layer0": exclude_layer0, "exclude_problems": exclude, "sentence_source": sentence_source,
                "sentences": "HEAD splitter, no tail (METHOD 6.2)" if sentence_source == "split" else "chunks file minus last",
                "token_spans": "offsets", "truncation": None, "kurtosis": "fisher, biased, nan omitted",
                "trace_mean": "plain mean (NaN propagates)"}
    traces = [(f, *read_trace(f, sentence_source)) for f in used]
    hashes = [_trace_hash(cot, sentences) for _, cot, sentences in traces]
    model_facts = {"model_id": loaded.model_id, "revision": loaded.revision, "dtype": loaded.dtype}
    key = cache_key(model_facts, settings, hashes)
    path = cache_dir() / "heads" / f"{key}.json"
    if use_cache and path.is_file():
        log.info("receiver heads from cache %s", path)
        return read_heads_artifact(path)
    per_trace, rows = [], []
    for (folder, cot, sentences), digest in zip(traces, hashes):
        kurt, n_sent, n_tok = trace_kurtosis(loaded, cot, sentences, str(folder / BASE_SOLUTION), settings,
                                             block_bytes)
        per_trace.append(kurt)
        rows.append(HeadTrace(folder=str(folder), problem_id=problem_id(folder), n_sentences=n_sent, n_tokens=n_tok,
                              sha256=digest, nan_heads_layer1plus=int(np.isnan(kurt[1:]).sum())))
        log.info("scanned %s: %d sentences, %d tokens", folder, n_sent, n_tok)
    _check_proximity(proximity, rows)
    artifact = make_heads_artifact(loaded, np.stack(per_trace), settings, rows,
                                   [str(f) for f in folders if problem_id(f) in exclude], key)
    write_heads_artifact(path, artifact)
    return artifact
