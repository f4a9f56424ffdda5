"""The real-model path end to end at full size (issue 15): README's GPU commands on random weights, every stage timed.

For each model (qwen14b, llama8b, qwen3_14b), in its own process, after `bench/gpu_realpath_checkpoint.py` has put
a checkpoint of the model's exact layout, a random-weight all-MiniLM-L6-v2 and the offline dataset copy into a
fresh HF cache (HF_HOME, HF_HUB_OFFLINE=1):

1. `anchors fetch --model M --problem P --store S` (the problem and the head-discovery traces from the dataset's
   parquet rows, the base solution into the store);
2. `pytest hypotheses/ -m M --device cuda` with small-run settings, in-process, with a plugin that times the
   stages the suite runs: loading the weights, receiver-head discovery on the fetched traces, rollouts per
   condition (5), the two embedders, importance per embedder, the verdicts, the report.

Each stage's wall time and peak GPU memory (torch.cuda.max_memory_allocated, reset at the stage's start) go to
`<out>/<model>.json`, rewritten after every stage. Random weights never write \\boxed{}, so the verdicts skip and
the suite exits 6 (nothing tested); the JSON keeps each distinct skip reason so one can check they are the true
ones. `--dry-run` runs the same files and code on the CPU with 2-layer shapes.

    python bench/gpu_realpath.py prepare --carry .carry/realpath --reference ../shared/reference   # here
    python bench/gpu_realpath.py model qwen14b --carry .carry/realpath --out $OUT                # on the GPU
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

log = logging.getLogger("gpu_realpath")
PACKAGES = ("torch", "transformers", "huggingface_hub", "pyarrow", "sentence-transformers", "pydantic", "pytest")


class Recorder:
    """Stages of one model's run, written to JSON after each one (a killed run keeps what it finished)."""

    def __init__(self, path: Path, facts: dict):
        self.path, self.data = path, {**facts, "stages": [], "complete": False}
        self.staged_s = 0.0
        """Wall time spent inside recorded stages so far (to take them out of the verdict time)."""
        self.write()

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=1, default=str))

    def stage(self, name: str, fn, *args, **kwargs):
        """Run fn, record its wall time and peak GPU memory (and what it returned, if a dict)."""
        import torch

        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        try:
            result = fn(*args, **kwargs)
            error = None
        except BaseException as exc:  # record the failure, then let it end the run
            result, error = None, f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if cuda:
                torch.cuda.synchronize()
            self.staged_s += time.perf_counter() - t0
            row = {"stage": name, "wall_s": round(time.perf_counter() - t0, 3),
                   "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None,
                   "gpu_gib_after": round(torch.cuda.memory_allocated() / 2**30, 3) if cuda else None,
                   "host_maxrss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)}
            if isinstance(result, dict):
                row["facts"] = result
            elif isinstance(result, (int, float)) and not isinstance(result, bool):
                row["returned"] = result  # e.g. rollouts made: 0 when a later experiment found the store full
            if error:
                row["error"] = error[:2000]
            self.data["stages"].append(row)
            self.write()
            log.info("stage %s: %.1f s, peak %s GiB", name, row["wall_s"], row["peak_gpu_gib"])
        return result


class SuiteTimer:
    """A pytest plugin that times the pipeline calls the hypothesis suite makes, by wrapping them in place."""

    TARGETS = (("anchors.gpu.model", "load_model", "load weights"),
               ("anchors.pipelines.heads", "find_receiver_heads", "receiver heads"),
               ("anchors.pipelines.fill", "fill_store", "rollouts"),
               ("anchors.gpu.embedders", "get_embedder", "embedder sent"),
               ("anchors.pipelines.experiment", "calibrated_llm_embedder", "embedder llm (calibrated)"),
               ("anchors.pipelines.experiment", "store_experiment", "importance"))

    def __init__(self, recorder: Recorder):
        self.recorder, self.restore, self.test_s = recorder, [], 0.0

    def pytest_configure(self, config) -> None:
        import importlib

        for module_name, attr, label in self.TARGETS:
            module = importlib.import_module(module_name)
            original = getattr(module, attr)
            setattr(module, attr, self._wrap(original, label))
            self.restore.append((module, attr, original))

    def _wrap(self, fn, label: str):
        def timed(*args, **kwargs):
            name = label
            if label == "rollouts":
                name = f"rollouts {args[2].name}"            # fill_store(store, cots, condition, ...)
            elif label == "importance":
                name = f"importance {args[2]}"               # store_experiment(model, problem, embedder, ...)
            elif label == "embedder sent" and args and args[0] != "sent":
                return fn(*args, **kwargs)
            return self.recorder.stage(name, fn, *args, **kwargs)
        return timed

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        """Time in test bodies (statistics, bootstrap, figures), less the stages a body itself triggered."""
        t0, staged = time.perf_counter(), self.recorder.staged_s
        yield
        self.test_s += time.perf_counter() - t0 - (self.recorder.staged_s - staged)

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        self.recorder.data["verdict_computation_s"] = round(self.test_s, 3)
        t0 = time.perf_counter()
        yield
        self.recorder.data["stages"].append({"stage": "report (html + results.json)",
                                             "wall_s": round(time.perf_counter() - t0, 3)})
        self.recorder.write()

    def pytest_unconfigure(self, config) -> None:
        for module, attr, original in self.restore:
            setattr(module, attr, original)


def verdicts(results: Path) -> dict:
    """Verdict counts and each distinct skip reason (with its count) from results.json."""
    if not results.is_file():
        return {"results_json": "absent"}
    rows = json.loads(results.read_text())["rows"]
    reasons = Counter(r.get("message", "")[:400] for r in rows if r["verdict"] == "skip")
    return {"verdicts": dict(Counter(r["verdict"] for r in rows)),
            "skip_reasons": [{"count": n, "reason": text} for text, n in reasons.most_common()]}


def run_model(name: str, carry: Path, out: Path, problem: str, dry_run: bool, small: list[str]) -> int:
    """Build the cache entries, fetch, run the suite; returns the suite's exit code."""
    import torch

    from anchors.cli.app import main as anchors
    from anchors.disk.versions import runtime_versions
    from gpu_realpath_checkpoint import write_checkpoint, write_dataset, write_minilm

    device = "cpu" if dry_run else "cuda"
    hf_home, store = Path(os.environ["HF_HOME"]), Path(os.environ["ANCHORS_CACHE"]).parent / f"store-{name}"
    facts = {"model": name, "dry_run": dry_run, "device": torch.cuda.get_device_name(0) if not dry_run else "cpu",
             "platform": platform.platform(), "python": platform.python_version(),
             "versions": runtime_versions(PACKAGES), "problem": problem, "suite_options": small,
             "weights": "random N(0, 0.02) bf16, loaded in the suite's dtype (float16 on CUDA)"}
    rec = Recorder(out / f"{name}{'-dry' if dry_run else ''}.json", facts)
    rec.stage("checkpoint (random bf16 shards written)", write_checkpoint, name, hf_home, device, dry_run)
    if not (hf_home / "hub" / "models--sentence-transformers--all-MiniLM-L6-v2").is_dir():
        rec.stage("all-MiniLM-L6-v2 (random weights)", write_minilm, hf_home, carry / "minilm")
        # --dry-run: 2 of the 6 reference problems, so the CPU head scan reads 2 traces, not 10 (same code path).
        rec.stage("dataset copy (parquet rows)", write_dataset, hf_home, carry / "reference",
                  ("330", "2238") if dry_run else None)
    code = rec.stage("anchors fetch", anchors, ["fetch", "--model", name, "--problem", problem, "--store",
                                                str(store)])
    if code != 0:
        raise SystemExit(f"anchors fetch exited {code}")
    reports = store.parent / f"reports-{name}"
    args = ["hypotheses/", "-m", name, "-q", "-p", "no:cacheprovider", "--store", str(store), "--problem", problem,
            "--device", device, "--report-dir", str(reports), *small]
    timer = SuiteTimer(rec)
    code = int(pytest.main(args, plugins=[timer]))
    rec.data.update(suite_exit_code=code, **verdicts(reports / "results.json"), complete=True)
    if (reports / "report.html").is_file():  # $OUT brings back at most 8 files: the report, not its folder
        shutil.copyfile(reports / "report.html", out / f"{name}{'-dry' if dry_run else ''}-report.html")
    rec.data["peak_gpu_gib_all_stages"] = max((s.get("peak_gpu_gib") or 0) for s in rec.data["stages"])
    rec.write()
    return code


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="(here) copy what the device call needs into --carry")
    prep.add_argument("--carry", type=Path, required=True)
    prep.add_argument("--reference", type=Path, required=True)
    one = sub.add_parser("model", help="(device) one model's full run")
    one.add_argument("name", choices=("qwen14b", "llama8b", "qwen3_14b"))
    one.add_argument("--carry", type=Path, required=True)
    one.add_argument("--out", type=Path, required=True)
    one.add_argument("--problem", default="330", help="a problem of the carried reference data (6481 is not in it)")
    one.add_argument("--dry-run", action="store_true", help="CPU, 2-layer shapes: the same files and code path")
    args, suite = parser.parse_known_args()  # after `--`: the suite's pytest options
    if args.command == "prepare":
        from gpu_realpath_checkpoint import prepare

        print(json.dumps(prepare(args.carry, args.reference), indent=1))
        return 0
    small = [a for a in suite if a != "--"]
    code = run_model(args.name, args.carry, args.out, args.problem, args.dry_run, small)
    return 0 if code in (0, 1, 6) else code  # 1/6: verdicts, or nothing decided; both are results, not failures


if __name__ == "__main__":
    sys.exit(main())
