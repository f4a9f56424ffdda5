"""Build an `Experiment` (anchors.core.experiment): from stored problem folders, or from the simulated reasoner.

* `arm_from_folders`: one condition's rollouts (one or several problem folders, pooled) -> an `Arm`: the embedder's
  cosines, the dissimilar split, the trace arrays and the condition's accuracy.
* `calibrated_llm_embedder`: the `llm` embedder with a threshold that matches `sent`'s dissimilar fraction under
  `none` (METHOD appendix 12: 0.8 was tuned for MiniLM).
* `sentence_tags`: one category per sentence, from chunks_labeled.json or the offline labeler, with its provenance.
* `store_experiment`: every stored condition of one problem, checked to share one base CoT.
* `sim_experiment`: the simulated reasoner (precomputed similarities, no embedder).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from anchors.core.confounds import IDENTICAL, threshold_split
from anchors.core.experiment import Arm, Experiment, Resample
from anchors.errors import AnchorsError, Unavailable

log = logging.getLogger(__name__)

SENT_THRESHOLD_NOTE = "fixed 0.8 (the paper's, tuned for all-MiniLM-L6-v2)"


def arm_from_folders(datas: list, embedder: Any, condition: str) -> Arm:
    """One condition's Arm pooled over problem folders (`ProblemDir`s): their sentences in order, next(i) kept
    inside each trace (anchors.core.bootstrap.pool_traces), accuracy over every decidable rollout of every folder,
    and each rollout's generated length (`Rollout.n_tokens`, NaN where a record has none)."""
    from anchors.core.bootstrap import pool_traces, trace_arrays
    from anchors.pipelines.importance import sentence_cosines, trace_data

    parts, per_sentence, lengths, eligible, correct, resamples = [], [], [], [], [], []
    for data in datas:
        cosines = sentence_cosines(data, embedder)
        sentences = trace_data(data, cosines, embedder.threshold)
        resamples += stored_resamples(data, cosines, sentences)
        per_sentence += [np.asarray(cosines[i])[s.valid & ~np.isnan(cosines[i])] if s is not None else np.zeros(0)
                         for i, s in enumerate(sentences)]
        eligible += [int(s.acc_eligible.sum()) if s is not None else 0 for s in sentences]
        correct += [int((s.correct & s.acc_eligible).sum()) if s is not None else 0 for s in sentences]
        lengths += [[math.nan if r.n_tokens is None else float(r.n_tokens) for r in data.rollouts.get(i, [])]
                    for i in range(len(sentences))]
        parts.append(trace_arrays(sentences))
    trace = parts[0] if len(parts) == 1 else pool_traces(parts)
    total = sum(eligible)
    accuracy = sum(correct) / total if total else math.nan
    padded = np.full(trace.shape, np.nan)  # [n_sent, R], aligned with the trace's rollout slots
    for i, row in enumerate(lengths):
        padded[i, :len(row)] = row
    return Arm(condition, trace, tuple(per_sentence), accuracy, lengths=padded,
               eligible=np.asarray(eligible, dtype=np.int64), n_correct=np.asarray(correct, dtype=np.int64),
               resamples=tuple(resamples), folders=tuple(str(d.path) for d in datas))


def stored_resamples(data: Any, cosines: dict[int, np.ndarray], sentences: list) -> list[tuple[Resample, ...]]:
    """Every stored rollout of each sentence of one folder as a `Resample` (the report's explorer shows them), in
    stored order; `sentences` are `trace_data`'s (their `valid` is aligned with the rollouts)."""
    out = []
    for i in range(len(data.sentences)):
        rollouts = data.rollouts.get(i, [])
        out.append(tuple(Resample(r.sentence_resampled, float(cosines[i][k]), r.answer, r.is_correct,
                                  bool(sentences[i].valid[k]), r.n_tokens) for k, r in enumerate(rollouts)))
    return out


def calibrated_llm_embedder(loaded: Any, sent: Any, nones: list) -> tuple[Any, str]:
    """The `llm` embedder of `loaded` and a note on its threshold: calibrated so that its dissimilar fraction
    under `none` (the given folders) equals `sent`'s; the raw cosines it reports are unaffected."""
    from anchors.gpu.embedders import calibrate_threshold, get_embedder
    from anchors.pipelines.importance import sentence_cosines

    llm = get_embedder("llm", loaded.model, loaded.tokenizer)
    sent_cos = np.concatenate([v for d in nones for v in sentence_cosines(d, sent).values()] or [np.zeros(0)])
    llm_cos = np.concatenate([v for d in nones for v in sentence_cosines(d, llm).values()] or [np.zeros(0)])
    sent_cos, llm_cos = sent_cos[~np.isnan(sent_cos)], llm_cos[~np.isnan(llm_cos)]
    if not sent_cos.size:
        return llm, "fixed 0.8 (no resamples to calibrate on)"
    target = float(np.mean(sent_cos < sent.threshold))
    llm.threshold = calibrate_threshold(llm_cos, target)
    split = threshold_split(llm_cos, llm.threshold)
    note = (f"calibrated so that its dissimilar fraction under none = sent's {target:.3f} ({split.sentence})")
    if split.identical_below:
        # Identical sentences on the dissimilar side: that part of the split is rounding noise. Flagged, not
        # refused: the raw cosines still serve H8, and every importance claim on it skips (confounds).
        log.warning("llm %s: identical sentences fall below it", split.sentence)
        note += f"; DEGENERATE: identical sentences (within {IDENTICAL:g} of 1) fall below it"
    return llm, note


def head_inputs(artifact: Any) -> dict[str, Any]:
    """Experiment inputs from a heads artifact (records.HeadsArtifact): the split-half r with its head count, the
    per-trace kurtosis [n_traces, n_layers, n_heads] that H0a's CI needs (None when absent), and the
    length-controlled scores' summary for the report (`length_summary`)."""
    rel = artifact.reliability
    kurtosis = None
    if artifact.trace_kurtosis is not None:
        kurtosis = np.array([[[math.nan if v is None else v for v in row] for row in layer]
                             for layer in artifact.trace_kurtosis], dtype=np.float64)
    return {"reliability": None if rel.split_half_r is None else (float(rel.split_half_r), int(rel.n_heads)),
            "trace_kurtosis": kurtosis, "head_length": length_summary(artifact)}


def length_summary(artifact: Any) -> dict[str, Any] | None:
    """What the report shows of a heads artifact's `length_control` (JSON-ready, for Experiment.settings
    ["heads_length_control"]): the residualised top-k, its overlap with the raw top-k, rho with sentence count;
    None for an artifact written before heads CACHE_VERSION 3."""
    lc = artifact.length_control
    if lc is None:
        return None
    return {"top_k": artifact.top_k, "overlap": lc.overlap, "rho_sentences": lc.rho_sentences,
            "n_traces": lc.n_traces, "heads": [[h.layer, h.head] for h in lc.heads], "method": lc.method}


def sentence_tags(data: Any) -> tuple[list[str], str]:
    """One category per sentence: the folder's chunks_labeled.json when present, else anchors.core.labeler."""
    if data.tags is not None:
        return [t[0] if t else "unknown" for t in data.tags], "chunks_labeled.json in the store"
    from anchors.core.labeler import label_sentences
    from anchors.disk.labeler_files import labeler_agreement, load_labeler

    try:
        tags = [tag for tag, _ in label_sentences(list(data.sentences), data.problem.problem, load_labeler())]
    except AnchorsError as exc:  # no labels: every category claim skips (fewer than 3 sentences per category)
        return ["unknown"] * len(data.sentences), f"no labels: the labeler could not run ({exc})"
    try:
        agreement = labeler_agreement()
        note = (f"anchors.core.labeler (offline; leave-one-problem-out accuracy {agreement['accuracy']:.2f}, "
                f"macro-F1 {agreement['macro_f1']:.2f} on {agreement['n_sentences']} published sentences)")
    except Exception as exc:  # noqa: BLE001 - the agreement file is optional; say it is unmeasured
        note = f"anchors.core.labeler (agreement not measured: {exc})"
    return tags, note


def load_conditions(found: dict[str, Path], model: str) -> dict[str, Any]:
    """condition -> ProblemDir of each stored condition folder; all must share the `none` folder's sentences."""
    from anchors.disk.formats import load_problem_dir

    data = {c: load_problem_dir(p) for c, p in found.items()}
    base = data["none"]
    for condition, d in data.items():
        if d.sentences != base.sentences:
            raise Unavailable(f"{model}: the {condition} folder {d.path} has other sentences than the 'none' "
                              f"folder; conditions must share one base CoT (regenerate it)")
    return data


def store_experiment(model: str, problem: str, embedder_name: str, data: dict[str, Any], embedder: Any,
                     threshold_note: str, reliability: tuple[float, int] | None, settings: dict[str, Any],
                     n_boot: int, metric: str, trace_kurtosis: np.ndarray | None = None) -> Experiment:
    """The experiment of one problem's stored conditions (`load_conditions`) under one embedder."""
    base = data["none"]
    arms = {c: arm_from_folders([d], embedder, c) for c, d in data.items()}
    tags, labeler = sentence_tags(base)
    return Experiment(model=model, problem=problem, embedder=embedder_name, sentences=tuple(base.sentences),
                      tags=tuple(tags), arms=arms, source=f"store:{base.path.parent.parent.name}", labeler=labeler,
                      reliability=reliability, trace_kurtosis=trace_kurtosis,
                      settings={"embedder_threshold": embedder.threshold, "embedder_source": embedder.source,
                                "threshold_note": threshold_note, **settings},
                      n_boot=n_boot, metric=metric)


def sim_experiment(spec: Any, problem: str, variant: str, n_boot: int, metric: str) -> Experiment:
    """The simulated reasoner under `spec` (anchors.core.sim.SimSpec): planted effects, precomputed similarities."""
    from anchors.core import sim

    arms = {}
    for condition in spec.conditions:
        raw = sim.simulate_raw(spec, condition)
        cosines = tuple(raw["similarity"][i][raw["valid"][i]] for i in range(spec.n_sentences))
        accuracy = float(raw["correct"].sum() / raw["valid"].sum()) if raw["valid"].any() else math.nan
        lengths = np.asarray(raw["n_tokens"], dtype=np.float64) if "n_tokens" in raw else None
        rollouts, similarity = sim.simulate_rollouts(spec, condition)
        resamples = tuple(tuple(Resample(r.sentence_resampled, float(similarity[i][k]), r.answer, r.is_correct,
                                         bool(raw["valid"][i, k]), r.n_tokens) for k, r in enumerate(rows))
                          for i, rows in enumerate(rollouts))
        arms[condition] = Arm(condition, sim.simulate_arrays(spec, condition), cosines, accuracy, lengths=lengths,
                              resamples=resamples)
    return Experiment(model="sim", problem=problem, embedder="sent",
                      sentences=tuple(s.text for s in sim.sim_sentences(spec)), tags=tuple(sim.sim_tags(spec)),
                      arms=arms, source=f"sim:{variant}", labeler="planted tags (simulated reasoner)",
                      reliability=None,
                      settings={"sim_spec": variant, "n_sentences": spec.n_sentences, "n_rollouts": spec.n_rollouts,
                                "seed": spec.seed, "embedder_threshold": sim.THRESHOLD},
                      n_boot=n_boot, metric=metric)
