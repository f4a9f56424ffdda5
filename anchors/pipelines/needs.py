"""What a model's experiment needs and where it is: the models the suite knows, the store folders and heads
artifact it reads, and the exact `anchors` commands that make what is missing.

The experiment builder (anchors.pipelines.experiments) names these commands in its `Unavailable` messages; the
suite's collection-time skips and its all-skipped summary (fixtures/) print them. Reads folders and the Hugging Face
cache index only: nothing here loads a model or writes.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from anchors.settings import SuiteOptions

REAL_MODELS = ("llama8b", "qwen14b", "qwen3_14b")
"""Registry names in anchors.gpu.model (GPU-sized; weights from the HF cache, never downloaded)."""
ORGANISM_MODELS = ("organism-planted", "organism-null", "organism")
"""The project-trained organisms (anchors.organism.ORGANISMS): the planted organism, whose receiver heads are
designated in training, its null twin, and the first organism (no planted mechanism)."""
CPU_MODELS = ("tiny", "sim", *ORGANISM_MODELS)
"""tiny: random 2-layer model through the engine; sim: anchors.core.sim; the organisms."""
MARKERS = {"organism-planted": "organism", "organism-null": "organism", "organism": "organism_v1"}
"""Model id -> its pytest marker where the two differ: `-m organism`, the main job, runs the planted organism and
its null twin side by side; `-m organism_v1` the first organism. Every other model's marker is its id."""
ALL_MODELS = REAL_MODELS + CPU_MODELS
"""Every model id an experiment can be built for."""
HEADS_K = 20
"""Heads per ablation of a real model (the note's 20)."""
SIM_NO_EMBEDDER = ("the simulated reasoner has one precomputed similarity per resample and no embedder, so only the "
                   "'sent' case is simulated")
MAX_REASONS = 4
"""Distinct skip reasons shown per model in `missing_summary`: the summary must fit one screen."""
SKIP_LINE_MAX = 160
"""Characters of a skip reason in the suite: pytest's `SKIPPED [1] hypotheses/<module>.py:<line>: ` adds about 60,
and a skipped row's terminal line must stay under 240 (issue 29)."""
SEE_SUMMARY = "fix: see the summary at the end"
"""Ends a skip reason whose fix is a chain of commands: they are printed once, in `missing_summary`, not per row."""


def marker(model: str) -> str:
    """The pytest marker that selects a model's cases (MARKERS, else the model id)."""
    return MARKERS.get(model, model)


def heads_path(model: str, options: SuiteOptions) -> Path:
    """Where a model's receiver-heads artifact lives: beside its rollouts in the store."""
    from anchors.gpu.model import store_folder_for

    return Path(options.store) / store_folder_for(model) / "receiver_heads.json"


def heads_traces(model: str) -> Path:
    """The head-discovery traces of a model: those `anchors fetch` put in the cache, else the reference demo's
    (`anchors.disk.fetched.traces_dir`), of the dataset folder the model reads (Qwen3-14B: Qwen-14B's)."""
    from anchors.disk.fetched import traces_dir
    from anchors.gpu.model import published_folder, store_folder_for

    return traces_dir(published_folder(model) or store_folder_for(model))


def stored_conditions(options: SuiteOptions, model: str) -> dict[str, Path]:
    """condition -> problem folder in the store for --problem (anchors.disk.store.stored_conditions)."""
    from anchors.disk.store import stored_conditions as in_store
    from anchors.gpu.model import store_folder_for

    return in_store(options.store, store_folder_for(model), options.problem)


def wanted_conditions(options: SuiteOptions) -> list[str]:
    """Conditions the suite compares: none, receiver heads and the random draws, at --ablation-k, with the seeds of
    --random-seeds (default 0 to --random-draws - 1)."""
    k, seeds = options.ablation_k, options.random_seeds or range(options.random_draws)
    return ["none", f"receiver-k{k}"] + [f"random-k{k}-s{s}" for s in seeds]


def read_conditions(names: Iterable[str], options: SuiteOptions) -> list[str]:
    """The stored conditions (`names`) a run reads: those at --ablation-k when any is stored, else at the one k
    every stored ablation shares (`stored_k`); with --random-seeds, only the draws it names, else every draw held."""
    names = list(names)
    held = conditions_at_k(names, stored_k(names, options.ablation_k))
    if options.random_seeds is None:
        return held
    named = set(wanted_conditions(options))
    return [c for c in held if not c.startswith("random") or c in named]


def conditions_at_k(names: Iterable[str], k: int = HEADS_K) -> list[str]:
    """The stored conditions an experiment at ablation size k reads, in the given order: none, receiver-k<k> and
    every random draw at k whatever seed it was saved under (`random-k<k>-s<seed>`, `random-k<k>-uniform...`, as
    anchors.gpu.conditions names them). Conditions at another k are left out: the claims take every `receiver*`
    and `random*` arm they are given."""
    draw = re.compile(rf"^random-k{k}-(s\d+|uniform\S*)$")
    return [c for c in names if c in ("none", f"receiver-k{k}") or draw.match(c)]


def stored_k(names: Iterable[str], default: int = HEADS_K) -> int:
    """The ablation size to read from stored conditions: `default` when a condition at it is stored (or none is
    ablated), else the one k that all stored ablations share (a tiny model's receiver-k2), else `default`."""
    ks = {int(m["k"]) for m in map(_ABLATED.match, names) if m}
    return default if default in ks or len(ks) != 1 else ks.pop()


_ABLATED = re.compile(r"^(receiver|random)-k(?P<k>\d+)(-|$)")


def held_out(options: SuiteOptions) -> list[str]:
    """Problems held out of head discovery: the default (6481) and the problem under test."""
    from anchors.pipelines.heads import DEFAULT_EXCLUDE

    return list(dict.fromkeys([*DEFAULT_EXCLUDE, options.problem]))


def generation_steps(model: str, options: SuiteOptions, conditions: list[str] | None = None) -> list[list[str]]:
    """The `anchors` commands that make a model's run possible, each only when its output is missing: `anchors
    fetch` (the problem into the store, the head-discovery traces into the cache), `anchors heads` (when an
    ablation needs heads), then one `anchors rollouts` per condition with the suite's small-run options."""
    store, heads = options.store, heads_path(model, options)
    device = options.device or "cuda"
    problem = options.problem
    conditions = conditions or wanted_conditions(options)
    steps = []
    if "none" not in stored_conditions(options, model):
        steps.append(["anchors", "fetch", "--model", model, "--problem", problem, "--store", store])
    if any(c != "none" for c in conditions) and not heads.is_file():
        steps.append(["anchors", "heads", "--model", model, "--traces", str(heads_traces(model)),
                      "--exclude", *held_out(options), "--out", str(heads), "--device", device])
    small = [*(["--sentences", options.sentences] if options.sentences else []),
             *(["--max-new-tokens", str(options.max_new_tokens)]
               if options.max_new_tokens else [])]
    for condition in conditions:
        step = ["anchors", "rollouts", "--model", model, "--problem", problem, "--store", store,
                "--condition", condition, "--n", str(options.rollouts), "--device", device, *small]
        steps.append(step + (["--heads", str(heads)] if condition != "none" else []))
    return steps


def rollouts_command(model: str, options: SuiteOptions, conditions: list[str] | None = None) -> str:
    """The exact shell command that fills the store for one model (every condition the suite needs)."""
    return " && ".join(shlex.join(step) for step in generation_steps(model, options, conditions))


@lru_cache(maxsize=None)
def weights_missing(model: str) -> str | None:
    """Why a real model cannot run here (no weights in the HF cache), or None. Reads only the cache index."""
    from anchors.errors import AnchorsError
    from anchors.gpu.model import MODEL_SPECS, cached_snapshot

    spec = MODEL_SPECS[model]
    try:
        cached_snapshot(spec.model_id, spec.revision)
    except AnchorsError as exc:
        return str(exc)
    return None


def download_command(model: str) -> str:
    """`hf download <id> --revision <rev>`: puts a registry model's weights in the Hugging Face cache."""
    from anchors.gpu.model import MODEL_SPECS

    spec = MODEL_SPECS[model]
    return f"hf download {spec.model_id} --revision {spec.revision}"


def skip_line(reason: str, fix: str | None = None) -> str:
    """A skipped row's reason as the suite prints it: one clause of at most SKIP_LINE_MAX characters; a fix that is
    a command is left to the end summary (`missing_summary` lists the commands once). A longer reason loses its
    middle (usually a path), not its end, where a reason without a command says what to do."""
    suffix = f"; {SEE_SUMMARY}" if fix else ""
    return clip_middle(reason, SKIP_LINE_MAX - len(suffix)) + suffix


def clip_middle(text: str, room: int) -> str:
    """`text` with its white space folded, at most `room` characters: a longer one loses its middle (" ... "), so
    its start (what) and its end (what to do) stay."""
    text = " ".join(text.split())
    if len(text) <= room:
        return text
    head = (room - 5) // 2
    return f"{text[:head]} ... {text[len(text) - (room - 5 - head):]}"


def unavailable_reason(model: str, embedder: str | None, options: SuiteOptions) -> str | None:
    """Why (model, embedder) cannot be built here, from cheap checks only (folders, the cache index), or None
    when it may be: the builder itself still raises `Unavailable` for what only building finds out. A short clause
    (`skip_line`): the commands that fix it are printed once, by `missing_summary`."""
    if model == "sim" and embedder == "llm":
        return SIM_NO_EMBEDDER
    if model not in REAL_MODELS or stored_conditions(options, model):
        return None
    command = rollouts_command(model, options)
    if options.no_generate:
        return skip_line(f"{model}: no stored rollouts for problem {options.problem} and --no-generate was given",
                         command)
    if weights_missing(model):
        return skip_line(f"{model}: no stored rollouts for problem {options.problem} and no weights in the Hugging "
                         f"Face cache", command)
    return None


def missing_summary(options: SuiteOptions, model: str, reasons: Counter) -> list[str]:
    """What is missing for `model` and the commands that fix it (a few lines, no traceback); `reasons`: skip
    reason -> how many cases skipped with it."""
    store, problem = options.store, options.problem
    weights = weights_missing(model)
    stored = stored_conditions(options, model)
    lines = ["missing:",
             f"  weights: {'absent from the Hugging Face cache (HF_HOME)' if weights else 'present'}",
             f"  problem {problem} (dataset -> store {store}): {'present' if 'none' in stored else 'absent'}",
             f"  stored conditions: {', '.join(sorted(stored)) or 'none'}; heads artifact: "
             f"{'present' if heads_path(model, options).is_file() else 'absent'}",
             "skip reasons:"]
    for reason, count in reasons.most_common(MAX_REASONS):
        lines.append(f"  {count} x {reason[:200]}{'...' if len(reason) > 200 else ''}")
    if len(reasons) > MAX_REASONS:
        lines.append(f"  ... and {len(reasons) - MAX_REASONS} more (see the report)")
    fixes = [download_command(model)] if weights else []
    held = read_conditions(stored, options)
    short = options.random_draws - sum(c.startswith("random") for c in held)  # draws stored under any seed count
    absent = [c for c in wanted_conditions(options) if c not in held and not c.startswith("random")]
    absent += [c for c in wanted_conditions(options) if c.startswith("random") and c not in held][:max(short, 0)]
    steps = generation_steps(model, options, absent) if absent else []
    fixes += [shlex.join(step) for step in steps if step[1] == "fetch"]
    if options.no_generate:  # the suite will not make them: the commands must (only those of absent conditions)
        fixes += [shlex.join(step) for step in steps if step[1] != "fetch"]
    device = options.device or "cuda"
    fixes.append(f"pytest hypotheses/ -m {model} --store {store} --problem {problem} --device {device}")
    return lines + ["fix, in order:"] + [f"  {command}" for command in fixes]
