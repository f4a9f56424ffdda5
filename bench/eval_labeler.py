"""Leave-one-problem-out evaluation of the offline labeler against the published GPT-4o labels.

    python bench/eval_labeler.py                 # all problems -> bench/results/labeler_eval.json
    python bench/eval_labeler.py --problems 1    # first problem only (quick check), prints, writes nothing

For each problem P, the labeler is fitted on every trace of the other problems (both models, correct and
incorrect) and labels the traces of P, so no trace of P, under either model, is seen in training.
Baselines measured in the same run: majority tag, and a first-word rule (the training set's most common tag
for each sentence's first word). Speed: labelling 10,000 sentences with the committed weights on one thread.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from collections import Counter

from fit_labeler import CLASS_WEIGHT, MIN_COUNT, C, LabeledTrace, fit, load_traces  # bench/ is the script's folder

from anchors.core.labeler import agreement_scores, label_sentences
from anchors.disk.jsonio import write_json_atomic
from anchors.disk.labeler_files import EVAL_PATH, load_labeler
from anchors.disk.provenance import make_provenance

logger = logging.getLogger("eval_labeler")
FOCUS = ("plan_generation", "uncertainty_management", "active_computation")
"""The categories the research note's claims rest on; reported separately."""


def _first_word(sentence: str) -> str:
    words = sentence.lower().split()
    return words[0].strip(",.:;!?") if words else ""


def _first_word_rule(train: list[LabeledTrace], sentences: list[str]) -> list[str]:
    by_word: dict[str, Counter] = {}
    overall = Counter(tag for t in train for tag in t.tags)
    for t in train:
        for s, tag in zip(t.sentences, t.tags):
            by_word.setdefault(_first_word(s), Counter())[tag] += 1
    fallback = overall.most_common(1)[0][0]
    return [by_word[w].most_common(1)[0][0] if w in by_word else fallback for w in map(_first_word, sentences)]


def leave_one_problem_out(traces: list[LabeledTrace], problems: list[str]) -> dict:
    """Predictions of the labeler and both baselines for every trace of each held-out problem."""
    truth, ours, majority, first_word, models = [], [], [], [], []
    for problem in problems:
        train = [t for t in traces if t.problem != problem]
        model = fit(train)
        top = Counter(tag for t in train for tag in t.tags).most_common(1)[0][0]
        for t in (t for t in traces if t.problem == problem):
            truth += t.tags
            ours += [tag for tag, _ in label_sentences(t.sentences, t.problem_text, model=model)]
            majority += [top] * len(t.tags)
            first_word += _first_word_rule(train, t.sentences)
            models += [t.model] * len(t.tags)
        logger.info("held out %s: %d sentences so far", problem, len(truth))
    return {"truth": truth, "ours": ours, "majority": majority, "first_word": first_word, "models": models}


def _report(pred: dict) -> dict:
    overall = agreement_scores(pred["truth"], pred["ours"])
    by_model = {}
    for name in sorted(set(pred["models"])):
        keep = [i for i, m in enumerate(pred["models"]) if m == name]
        scores = agreement_scores([pred["truth"][i] for i in keep], [pred["ours"][i] for i in keep])
        by_model[name] = {k: scores[k] for k in ("n", "accuracy", "macro_f1")}
    baselines = {}
    for name in ("majority", "first_word"):
        scores = agreement_scores(pred["truth"], pred[name])
        baselines[name] = {k: scores[k] for k in ("accuracy", "macro_f1")}
    return {"overall": overall, "focus": {t: overall["per_tag"][t] for t in FOCUS}, "by_model": by_model,
            "baselines": baselines}


def time_labeling(traces: list[LabeledTrace], n: int = 10_000) -> float:
    """Seconds to label n reference sentences (in trace-sized calls) with the committed weights."""
    sentences = [s for t in traces for s in t.sentences]
    batch = (sentences * (n // len(sentences) + 1))[:n]
    model = load_labeler()
    start = time.perf_counter()
    for k in range(0, n, 200):
        label_sentences(batch[k:k + 200], None, model)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=None, help="evaluate only the first N problems")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    traces = load_traces()
    if not traces:
        raise SystemExit("no reference traces (set ANCHORS_REFERENCE_DIR)")
    problems = sorted({t.problem for t in traces})[:args.problems]
    start = time.perf_counter()
    result = _report(leave_one_problem_out(traces, problems))
    result["scheme"] = (f"leave-one-problem-out: {len(problems)} problems held out in turn, each in all its "
                        f"traces (both models, correct and incorrect); fitted on the rest")
    result["eval_seconds"] = round(time.perf_counter() - start, 1)
    if args.problems is not None:
        print(json.dumps({k: result[k] for k in ("overall", "baselines")}, indent=1)[:4000])
        return
    result["speed"] = {"sentences": 10_000, "seconds": round(time_labeling(traces), 2), "threads": 1,
                       "cpu": platform.processor() or platform.machine()}
    result["provenance"] = make_provenance({"C": C, "class_weight": CLASS_WEIGHT, "min_count": MIN_COUNT,
                                            "n_traces": len(traces), "problems": problems}).model_dump()
    write_json_atomic(EVAL_PATH, result)
    logger.info("accuracy %.3f, macro-F1 %.3f -> %s", result["overall"]["accuracy"],
                result["overall"]["macro_f1"], EVAL_PATH)


if __name__ == "__main__":
    main()
