"""Locations and environment settings, read when called (never at import), the allowed range of every numeric
command-line option (`OPTION_RANGES`, `check_option`), and the hypothesis suite's options as one typed record
(`SuiteOptions`, built once at start-up by fixtures/options.py)."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from anchors.errors import InputError
from anchors.records import METRICS

REPO_ROOT = Path(__file__).resolve().parents[1]


def reference_dir() -> Path:
    """Published Thought Anchors data: `ANCHORS_REFERENCE_DIR`, default `../shared/reference` beside the repo."""
    env = os.environ.get("ANCHORS_REFERENCE_DIR")
    return Path(env) if env else (REPO_ROOT.parent / "shared" / "reference")


def demo_dir() -> Path:
    """The thought-anchors-demo tree inside the reference folder."""
    return reference_dir() / "thought-anchors-demo"


def cache_dir() -> Path:
    """Derived-artifact cache (heads, embeddings, labels): `ANCHORS_CACHE`, default `~/.cache/anchors`."""
    env = os.environ.get("ANCHORS_CACHE")
    return check_folder("ANCHORS_CACHE", env) if env else Path.home() / ".cache" / "anchors"


class OptionRange(BaseModel):
    """The values one numeric command-line option may take, and why. Checked where the option is read (the CLI's
    parsers, the suite's `pytest_configure`), before any work: a typo must never hang a run or reach a verdict."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    integer: bool
    """True: a whole number; False: a finite real number (nan and inf are refused)."""
    low: float | None = None
    """Smallest allowed value; None: no lower bound."""
    high: float | None = None
    """Largest allowed value; None: no upper bound."""
    low_open: bool = False
    """True when `low` itself is refused (a strict bound)."""
    high_open: bool = False
    """True when `high` itself is refused (a strict bound)."""
    why: str
    """What the option counts and why these bounds, in a few words (shown with the error)."""

    def describe(self) -> str:
        """The allowed values in words: "an integer from 1 to 100000", "a number in (-1, 1)", "a number >= 0"."""
        kind = "an integer" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            if not (self.low_open or self.high_open):
                return f"{kind} from {_num(self.low)} to {_num(self.high)}"
            return (f"{kind} in {'(' if self.low_open else '['}{_num(self.low)}, {_num(self.high)}"
                    f"{')' if self.high_open else ']'}")
        if self.low is not None:
            return f"{kind} {'>' if self.low_open else '>='} {_num(self.low)}"
        if self.high is not None:
            return f"{kind} {'<' if self.high_open else '<='} {_num(self.high)}"
        return kind

    def admits(self, value: float) -> bool:
        """True when `value` (already a number) lies within the bounds."""
        if not math.isfinite(value):
            return False
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


_ROLLOUTS = OptionRange(integer=True, low=1, high=100_000,
                        why="rollouts per sentence; the paper used 100; every seed is listed before generation starts, "
                            "so a bigger typo would hang")
_DRAWS = OptionRange(integer=True, low=1, high=1000,
                     why="seeded random-head sets, each a full condition of rollouts; H5 needs 39 (one-sided 0.025), and at "
                         "1000 its rank p floor is 0.001")
_BAND = OptionRange(integer=False, low=0, high=1,
                    why="a shift of a fraction against none; 0 confounds on any established shift, 1 on none")

OPTION_RANGES: dict[str, OptionRange] = {
    "--n": _ROLLOUTS,
    "--rollouts": _ROLLOUTS,
    "--random-draws": _DRAWS,
    "--draws": _DRAWS,
    "--n-boot": OptionRange(integer=True, low=100, high=100_000,
                            why="bootstrap replicates per CI: below 100 each end of a 95% CI rests on under 3 "
                                "replicates; above 100000 the replicate arrays outgrow memory"),
    "--seed": OptionRange(integer=True, why="the seed base of a set of rollouts or planned experiments"),
    "--max-new-tokens": OptionRange(integer=True, low=1,
                                    why="tokens per rollout; the model's context is checked once it is known"),
    "--batch-size": OptionRange(integer=True, low=1, high=65_536,
                                why="rollouts decoded together; out of memory halves it, and 65536 rows exceed any "
                                    "GPU's KV cache"),
    "--ray-actors": OptionRange(integer=True, low=1, high=4096, why="Ray actors, one per GPU"),
    "--ablation-k": OptionRange(integer=True, low=1, why="heads zeroed per ablation; the model's head count bounds "
                                "it once the heads artifact is read"),
    "--temperature": OptionRange(integer=False, low=0, why="the softmax temperature the rollouts were sampled at"),
    "--top-p": OptionRange(integer=False, low=0, high=1, low_open=True,
                           why="the nucleus-sampling mass the rollouts were sampled at"),
    "--top-k": OptionRange(integer=True, low=1,
                           why="receiver heads to keep; the model's head count bounds it once the model is known"),
    "--proximity": OptionRange(integer=True, low=0,
                               why="sentence pairs closer than this are ignored; 0 keeps every pair"),
    "--threshold": OptionRange(integer=False, low=-1, high=1, low_open=True, high_open=True,
                               why="a cosine lies in [-1, 1] and a resample is dissimilar when its cosine is below "
                                   "the threshold: at -1 none is, at 1 every non-identical one is"),
    "--subset": OptionRange(integer=True, low=1, why="sentences compared per trace"),
    "--target-power": OptionRange(integer=False, low=0, high=1, low_open=True, high_open=True,
                                  why="a probability of deciding a claim"),
    "--sims": OptionRange(integer=True, low=1, high=10_000,
                          why="planned experiments per grid point: power to about +-0.15 at 10, +-0.005 at 10000"),
    "--laplace": OptionRange(integer=False, low=0, high=100, low_open=True,
                             why="add-lambda smoothing of answer counts; unsmoothed is --metric kl; above 100 the "
                                 "prior swamps the counts of 12-100 rollouts"),
    "--accuracy-band": _BAND,
    "--dissimilar-band": _BAND,
    "--valid-band": _BAND,
    "--length-band": OptionRange(integer=False, low=0,
                                 why="a shift of the mean rollout length relative to none; 0.5 = +-50%"),
    "--equivalence-margin": OptionRange(integer=False, low=0, low_open=True,
                                        why="H12's smallest effect of interest in units of the none scale; 0 "
                                            "would make every effect count"),
    "--dropdown-margin": OptionRange(integer=False, low=0, low_open=True,
                                     why="H9's 'close to 0' in the metric's units; at 0 only an exact 0 is near 0"),
}
"""flag -> its allowed values. The same quantity has the same range everywhere (`anchors rollouts --n` and the
suite's `--rollouts`; `--random-draws` and `anchors plan --draws`)."""


def check_option(flag: str, value: object) -> int | float | None:
    """`value` (a command-line string or a default) as the number OPTION_RANGES[flag] allows; None stays None.
    Raises a one-line `InputError` naming the flag, the value given and the allowed range."""
    if value is None:
        return None
    allowed = OPTION_RANGES[flag]
    number = _number(value, allowed.integer)
    if number is None or not allowed.admits(number):
        raise InputError(f"{flag} {value}", f"must be {allowed.describe()}", allowed.why)
    return number


def _number(value: object, integer: bool) -> int | float | None:
    """The value as an int (integer options; "1e3" is refused) or a float; None when it is not one."""
    text = str(value).strip()
    try:
        if integer:
            return int(text)
        return float(text)
    except ValueError:
        return None


def option_parser(flag: str) -> Callable[[object], int | float | None]:
    """A typer `parser=` for a numeric option: parses and range-checks it (`check_option`)."""
    return functools.partial(check_option, flag)


def parse_sentence_range(text: str | None, n_sentences: int) -> range:
    """"A:B" (B exclusive, either side optional) -> range within [0, n_sentences); None -> all."""
    if text is None:
        return range(n_sentences)
    start_text, sep, stop_text = text.partition(":")
    try:
        start = int(start_text) if start_text.strip() else 0
        stop = int(stop_text) if sep and stop_text.strip() else (n_sentences if sep else start + 1)
    except ValueError:
        raise InputError(f"--sentences {text}", "is not A:B", "e.g. --sentences 0:20") from None
    if not 0 <= start < stop:
        raise InputError(f"--sentences {text}", "selects no sentence", "use A:B with 0 <= A < B")
    if stop > n_sentences:
        raise InputError(f"--sentences {text}", f"is outside 0:{n_sentences}", f"use A:B within 0:{n_sentences}")
    return range(start, stop)


def parse_seeds(text: str) -> tuple[int, ...]:
    """--random-seeds: "7,3,11" (in that order) or "A:B" (A..B-1); each seed >= 0, none twice, 1-1000 of them."""
    flag = f"--random-seeds {text}"
    start, sep, stop = text.partition(":")
    try:
        seeds = tuple(range(int(start), int(stop))) if sep else tuple(int(s) for s in text.split(","))
    except ValueError:
        raise InputError(flag, "is neither a list of seeds nor A:B", "e.g. --random-seeds 7,3,11 or 0:39") from None
    if not 1 <= len(seeds) <= 1000 or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise InputError(flag, "must name 1-1000 distinct seeds >= 0", "e.g. --random-seeds 7,3,11 or 0:39")
    return seeds


def check_folder(flag: str, path: str | Path, writable: bool = False) -> Path:
    """`path` as a folder option's value: refused in one line when it, or the nearest part of it that exists, is
    not a folder, and (`writable`) when that part cannot be written. Looks only; creates nothing (a store on a
    read-only mount must stay readable, so a store is checked with writable=False)."""
    path = Path(path)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None:
        return path
    if not existing.is_dir():
        what = "is a file" if existing == path else f"{existing} is a file"
        raise InputError(f"{flag} {path}", f"{what}, not a folder", f"pass a folder to {flag}; it is made when absent")
    if writable and not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}", f"{existing} is not writable by this user",
                         f"pass a writable folder to {flag}")
    return path


class SuiteOptions(BaseModel):
    """The hypothesis suite's command-line options (declared in conftest.py), parsed and range-checked once in
    `pytest_configure` (fixtures/options.py). Everything below the fixtures reads these, never a pytest.Config.
    No field has a default: the defaults are `suite_defaults()`, stated once (conftest.py's flags and
    `suite_options` read them)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    store: str
    """--store: the rollout store folder (env ANCHORS_STORE, else ./store)."""
    no_generate: bool
    """--no-generate: use the store only; what is missing skips naming the command that makes it."""
    rollouts: int
    """--rollouts: rollouts per sentence, 1-100000 (the note used 12)."""
    problem: str
    """--problem: the MATH problem id (the note used 6481)."""
    random_draws: int
    """--random-draws: seeded random-head sets per model, 1-1000 (H5 needs 39); with --random-seeds, their count."""
    random_seeds: tuple[int, ...] | None
    """--random-seeds: the random draws' seeds ("7,3,11" or a range "0:39", end exclusive); None: 0..draws-1."""
    ablation_k: int
    """--ablation-k: heads per ablation of a real model (receiver-k<k>, random-k<k>-s<seed>); the note's 20."""
    n_boot: int
    """--n-boot: bootstrap replicates per CI, 100-100000."""
    metric: Literal[METRICS]
    """--metric: the primary importance metric (the others are decided beside it)."""
    laplace: float
    """--laplace: smoothing constant of kl_laplace, in (0, 100]."""
    accuracy_band: float
    """--accuracy-band: an accuracy shift against none beyond +-band (whole 95% CI) confounds a claim; 0-1."""
    dissimilar_band: float
    """--dissimilar-band: the same for the embedder's dissimilar fraction; 0-1."""
    valid_band: float
    """--valid-band: the same for the share of valid (boxed-answer) rollouts; 0-1."""
    length_band: float
    """--length-band: the same for the mean rollout length, relative to none; >= 0."""
    equivalence_margin: float
    """--equivalence-margin: H12's smallest effect of interest, in units of the none scale; > 0."""
    dropdown_margin: float
    """--dropdown-margin: H9's "close to 0", |importance| at most this, in the metric's units; > 0."""
    validation: str | None
    """--validation: measured power per claim (bench/validate.py's JSON); None: bench/results/validation.json."""
    device: str | None
    """--device: torch device for generation (cpu, cuda, cuda:N, auto); None: CUDA for real models when present."""
    sentences: str | None
    """--sentences A:B: generate rollouts for sentences A..B-1 only; None: every sentence."""
    max_new_tokens: int | None
    """--max-new-tokens: cap on generated tokens per rollout; None: the paper's 16384."""
    ray: str | None
    """--ray: None: generate in this process; "local", "auto" or host:port: on Ray actors."""


def suite_defaults() -> dict[str, object]:
    """The suite's option defaults, the one statement of them (conftest.py declares its flags with these). The
    store is env ANCHORS_STORE, else ./store, read when called."""
    return {"store": os.environ.get("ANCHORS_STORE", "store"), "no_generate": False, "rollouts": 12,
            "problem": "6481", "random_draws": 3, "random_seeds": None, "ablation_k": 20, "n_boot": 1000,
            "metric": "drop", "laplace": 1.0,
            "accuracy_band": 0.10, "dissimilar_band": 0.10, "valid_band": 0.10, "length_band": 0.50,
            "equivalence_margin": 0.10, "dropdown_margin": 0.10, "validation": None, "device": None, "sentences": None,
            "max_new_tokens": None, "ray": None}
