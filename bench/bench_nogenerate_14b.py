"""Wall time and peak RSS of a whole `--no-generate` run of the suite's qwen14b rows on the CPU, from an
embedding-only checkpoint at the 14B shape (issue 29).

What it builds, all in a temporary folder:
* a Hugging Face cache (HF_HOME) whose DeepSeek-R1-Distill-Qwen-14B snapshot holds only config.json, the tokenizer,
  model.safetensors.index.json and the one shard with the random bf16 [152064, 5120] input embeddings (1.56 GB;
  bench/bench_embedding_rss.py's `write_folder`, in the cache layout of bench/gpu_realpath_checkpoint.py's
  `snapshot_dir`: refs/main -> a made-up commit). Loading the model from it is impossible: no other weight is there.
* a store: `anchors fetch --model qwen14b --problem P --dataset <the published demo> --no-traces` (the problem under
  `none`), then the demo's resampled sentences of that problem written as its `none` rollouts (the demo publishes no
  answers and no other condition: answer-less, every resample counted valid, as `anchors importance` reads a demo
  folder, anchors.disk.formats.demo_rollouts). Nothing is copied into the repository.

Then, in a child process under /usr/bin/time -v (else getrusage of the children), offline:

    python -m pytest hypotheses/ -m qwen14b --no-generate --store STORE --problem P --report-dir REPORTS

and records its wall time, peak RSS, exit code, and from the results.json it wrote: every row's verdict, the `llm`
rows decided and skipped (with the skip reasons), and the `llm` experiment's embedder source, which names the
stand-in for the model (`input-embeddings:EmbeddingTable`) when the embedding matrix was read alone. Only `none` is
stored, so every claim that compares ablations skips; that is expected. Last, the suite's work again in one child,
stage by stage (sent experiment, the matrix read alone, llm experiment, verdicts, digests), with the peak and current
RSS after each: where the whole run's peak comes from. Partial results are written after each step. Run it niced on
a shared machine:

    nice -n 10 python bench/bench_nogenerate_14b.py --out bench/results/nogenerate_14b_cpu.json
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MODEL = "qwen14b"
MODEL_ID = "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B"
STAND_IN = "input-embeddings:EmbeddingTable"
"""The `llm` embedder's source when it read the embedding matrix alone (anchors.gpu.embedders.llm_embedder names the
type of what it embeds with; the loaded model would give input-embeddings:Qwen2ForCausalLM)."""
TIME = "/usr/bin/time"
STAGES = """
import json, re, sys, time
t0 = time.time()
def stage(name):
    status = open("/proc/self/status").read()
    mib = lambda key: int(re.search(key + r":\\s+(\\d+)", status).group(1)) // 1024
    print(json.dumps({"stage": name, "s": round(time.time() - t0, 1), "peak_rss_mib": mib("VmHWM"),
                      "rss_mib": mib("VmRSS")}), flush=True)
import torch, transformers, sentence_transformers
stage("imports (torch, transformers, sentence-transformers)")
from anchors.pipelines import experiments
from anchors.pipelines.lab import Lab
from anchors.pipelines.options import suite_options
from anchors.report.digest import digest
lab = Lab(suite_options(store=sys.argv[1], problem=sys.argv[2], no_generate=True))
experiments.sent_embedder(lab.session)
stage("sent embedder loaded")
sent = lab.experiment("qwen14b", "sent")
stage("sent experiment built (every resample embedded)")
experiments.embedding_source(lab.options, lab.session, "qwen14b")
stage("input-embedding matrix read alone")
llm = lab.experiment("qwen14b", "llm")
stage("llm experiment built (threshold calibrated, every resample embedded)")
lab.verdicts("qwen14b", "sent"), lab.verdicts("qwen14b", "llm")
stage("verdicts of both")
digest(sent), digest(llm)
stage("report digests of both")
"""
"""The suite's work in the same order, in one child, with its peak (VmHWM) and current RSS after each stage: where
the whole run's peak comes from. One JSON line per stage."""


def bench_module(name: str):
    """A sibling bench script as a module (bench/ is no package)."""
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_snapshot(hf_home: Path) -> dict:
    """The embedding-only 14B-shape snapshot in the cache at `hf_home`; what it holds."""
    folder = bench_module("gpu_realpath_checkpoint").snapshot_dir(hf_home, MODEL_ID)
    written = bench_module("bench_embedding_rss").write_folder(folder)
    files = sorted(p.name for p in folder.iterdir())
    return {**written, "snapshot": folder.name, "files": files,
            "safetensors_files": [f for f in files if f.endswith(".safetensors")]}


def child_env(tmp: Path) -> dict:
    """The environment of every child: offline, the temporary HF cache and anchors cache, this checkout first."""
    env = {k: v for k, v in os.environ.items() if k not in ("ANCHORS_DATASET", "ANCHORS_STORE", "HF_HUB_CACHE")}
    return {**env, "HF_HOME": str(tmp / "hf"), "HF_HUB_OFFLINE": "1", "ANCHORS_CACHE": str(tmp / "anchors-cache"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))}


def demo_root() -> Path:
    from anchors.settings import demo_dir

    return demo_dir()


def build_store(store: Path, problem: str, env: dict) -> dict:
    """`anchors fetch` of the problem from the demo tree, then the demo's resamples as its `none` rollouts."""
    from anchors.disk.formats import demo_rollouts, write_solutions
    from anchors.disk.provenance import make_provenance
    from anchors.pipelines.needs import stored_conditions
    from anchors.pipelines.options import suite_options

    store.mkdir(parents=True)
    fetch = subprocess.run([sys.executable, "-m", "anchors", "fetch", "--model", MODEL, "--problem", problem,
                            "--store", str(store), "--dataset", str(demo_root()), "--no-traces"],
                           capture_output=True, text=True, env=env, cwd=ROOT)
    out = {"fetch_exit_code": fetch.returncode, "fetch_output": (fetch.stdout + fetch.stderr).strip().splitlines()}
    if fetch.returncode != 0:
        return out
    none = stored_conditions(suite_options(store=str(store), problem=problem), MODEL)["none"]
    trace = demo_root() / "deepseek-r1-distill-qwen-14b" / "correct_base_solution" / f"problem_{problem}"
    sentences, rollouts = demo_rollouts(trace)
    provenance = make_provenance({"source": "demo chunks_resampled"})
    for idx, items in rollouts.items():
        write_solutions(none, idx, items, provenance)
    return {**out, "demo_trace": str(trace.relative_to(demo_root().parent)), "conditions": ["none"],
            "sentences": len(sentences), "sentences_with_rollouts": len(rollouts),
            "rollouts": sum(map(len, rollouts.values()))}


def suite_command(store: Path, problem: str, reports: Path) -> list[str]:
    return [sys.executable, "-m", "pytest", "hypotheses/", "-m", MODEL, "--no-generate", "--store", str(store),
            "--problem", problem, "--report-dir", str(reports), "-q", "--durations=5"]


def run_measured(command: list[str], env: dict, log: Path) -> dict:
    """Run `command` to completion; its exit code, wall time and peak RSS (of the process tree's largest member)."""
    timed = Path(TIME).is_file()
    stats = log.with_suffix(".time")
    full = [TIME, "-v", "-o", str(stats), *command] if timed else command
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.monotonic()
    with log.open("w") as sink:
        code = subprocess.run(full, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=ROOT).returncode
    wall = time.monotonic() - t0
    if timed:
        text = stats.read_text()
        kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
        code = int(re.search(r"Exit status: (\d+)", text).group(1)) if "Exit status" in text else code
        how = "/usr/bin/time -v: Maximum resident set size"
    else:  # ru_maxrss of the children is the largest one waited for; valid when it beats the earlier children's
        kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        how = "getrusage(RUSAGE_CHILDREN).ru_maxrss" + ("" if kib > before else " (not above an earlier child's)")
    return {"exit_code": code, "wall_s": round(wall, 1), "peak_rss_mib": round(kib / 1024), "rss_measured_by": how}


def run_stages(store: Path, problem: str, env: dict) -> list[dict]:
    """`STAGES` in a child: one record per stage."""
    out = subprocess.run([sys.executable, "-c", STAGES, str(store), problem], capture_output=True, text=True,
                         env=env, cwd=ROOT, check=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def results_file(reports: Path) -> Path | None:
    """The results.json the run wrote: in --report-dir, or under undecided/ when it decided nothing."""
    found = sorted(reports.rglob("results.json"))
    return found[0] if found else None


def summarise_rows(results: dict) -> dict:
    """Per embedder: rows decided (with their verdicts) and skipped (with their reasons); the llm source."""
    by_embedder: dict = collections.defaultdict(lambda: {"decided": {}, "skipped": {}, "errors": {}})
    for row in results["rows"]:
        part = by_embedder[str(row.get("embedder") or "-")]
        verdict = row["verdict"]
        if verdict == "skip":
            part["skipped"][row["test"]] = row.get("message", "")
        elif verdict in ("error", "xpass"):
            part["errors"][row["test"]] = row.get("message", "")
        else:
            part["decided"][row["test"]] = verdict
    summary = {}
    for embedder, part in sorted(by_embedder.items()):
        reasons = collections.Counter(part["skipped"].values())
        summary[embedder] = {"decided": len(part["decided"]), "skipped": len(part["skipped"]),
                             "errors": len(part["errors"]), "verdicts": part["decided"],
                             "skip_reasons": dict(reasons.most_common()), "error_messages": part["errors"]}
    sources = {d["embedder"]: d["settings"].get("embedder_source") for d in results.get("experiments", [])
               if d.get("model") == MODEL}
    return {"rows": summary, "embedder_sources": sources,
            "llm_from_embedding_only": sources.get("llm") == STAND_IN}


def write(out: Path, res: dict) -> None:
    out.write_text(json.dumps(res, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "nogenerate_14b_cpu.json")
    parser.add_argument("--problem", default="4682",
                        help="a problem of the demo's qwen14b correct base solutions (4682: the one whose trace has "
                             "the >= 3 final-answer sentences H8 needs, so one llm row can be decided)")
    parser.add_argument("--keep", type=Path, default=None, help="also copy the run's log and results.json here")
    args = parser.parse_args()
    from anchors.disk.provenance import make_provenance

    res = {"provenance": make_provenance({"problem": args.problem, "base": "correct", "model": MODEL},
                                         model_id=MODEL_ID, packages=("pytest",)).model_dump(mode="json"),
           "device": "cpu", "machine": {"cpus": os.cpu_count(), "load_at_start": os.getloadavg()},
           "expected": "only `none` is stored (the demo publishes no ablation): every claim comparing ablations "
                       "skips, and every number needing answers is missing (the demo publishes none)"}
    with tempfile.TemporaryDirectory(prefix="anchors-nogen14b-") as name:
        tmp = Path(name)
        env = child_env(tmp)
        res["checkpoint"] = build_snapshot(tmp / "hf")
        write(args.out, res)
        res["store"] = build_store(tmp / "store", args.problem, env)
        write(args.out, res)
        if res["store"]["fetch_exit_code"] != 0:
            raise SystemExit(f"anchors fetch failed: {res['store']['fetch_output'][-1:]}")
        command = suite_command(tmp / "store", args.problem, tmp / "reports")
        res["command"] = " ".join(["python", *command[1:]]).replace(name, "$TMP")
        res["run"] = run_measured(command, env, tmp / "run.log")
        res["machine"]["load_at_end"] = os.getloadavg()
        log = (tmp / "run.log").read_text()
        res["run"]["pytest_summary"] = log.strip().splitlines()[-1] if log.strip() else ""
        res["run"]["slowest"] = re.findall(r"^(\d+\.\d+s \w+ +\S+)", log, re.M)
        write(args.out, res)
        found = results_file(tmp / "reports")
        if found is not None:
            results = json.loads(found.read_text())
            res["results"] = {"file": str(found.relative_to(tmp)), "suite_wall_s": results["run"]["wall_s"],
                              **summarise_rows(results)}
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp / "run.log", args.keep / "run.log")
            if found is not None:
                shutil.copy(found, args.keep / "results.json")
        write(args.out, res)
        res["stages"] = run_stages(tmp / "store", args.problem, env)
        write(args.out, res)
    print(json.dumps({k: res[k] for k in ("run", "results") if k in res}, indent=1)[:4000])


if __name__ == "__main__":
    main()
