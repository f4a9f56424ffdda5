"""Work units and the Ray entry points without Ray: planning covers the work exactly once, a retry skips what is
stored, `--ray` without Ray installed is one line and exit 2 (everything else keeps working), and Ray workers start
with NVLink multicast off. About 3 s."""

from __future__ import annotations

import sys
from itertools import pairwise
from types import SimpleNamespace

from anchors.core.prompts import SamplingSettings
from anchors.disk.store import RolloutStore, RunSpec
from anchors.pipelines.units import FillJob, plan_units, shrink_unit
from anchors.records import Rollout

SPEC = RunSpec(model_id="m", revision="r", dtype="float32", store_folder="m", sampling=SamplingSettings(n_rollouts=4))


def _job(tmp_path, condition: str = "none") -> FillJob:
    store = RolloutStore(tmp_path, SPEC.model_copy(update={"condition": condition}))
    return FillJob(store, [], None, 4)


def test_units_cover_every_rollout_once_and_never_split_a_sentence(tmp_path):
    jobs = [_job(tmp_path), _job(tmp_path, "receiver-k1")]
    todos = [{("7", i): [0, 1, 2, 3] for i in range(5)} | {("8", 0): [2, 3]},
             {("7", i): [1, 3] for i in range(3)}]
    units = plan_units(jobs, todos, unit_rollouts=8)
    covered = [(u.job, u.problem_id, i, k) for u in units for i, ks in u.rollouts for k in ks]
    wanted = [(j, pid, i, k) for j, todo in enumerate(todos) for (pid, i), ks in todo.items() for k in ks]
    assert sorted(covered) == sorted(wanted) and len(covered) == len(set(covered))
    assert [u.unit_id for u in units] == list(range(len(units)))
    assert all(len({u.problem_id}) == 1 and u.n_rollouts <= 8 for u in units)
    assert [u.sentences for u in units if u.job == 0 and u.problem_id == "7"] == [(0, 2), (2, 4), (4, 5)]
    assert [(u.condition, u.model) for u in units][-1] == ("receiver-k1", "m@r (float32)")
    assert units[0].label() == "unit 0 (problem 7, none, sentences 0:2, 8 rollouts)"


def test_guided_units_start_large_and_shrink_to_the_floor(tmp_path):
    jobs = [_job(tmp_path), _job(tmp_path, "receiver-k1")]
    todos = [{("7", i): list(range(12)) for i in range(200)}, {("7", i): list(range(12)) for i in range(200)}]
    units = plan_units(jobs, todos, actors=8, min_rollouts=96)
    sizes = [[u.n_rollouts for u in units if u.job == j] for j in (0, 1)]
    assert sum(map(sum, sizes)) == 2 * 200 * 12
    assert sizes[0][:2] == [600, 528]                                   # 4800 / 8, then 4200 / 8 rounded up to a sentence
    for job in sizes:                                                   # shrinking; only a job's last unit below the floor
        assert all(a >= b for a, b in pairwise(job)) and min(job[:-1]) >= 96
    assert sizes[1][-2] == 96
    one_actor = plan_units(jobs, todos, actors=1, min_rollouts=96)
    assert [u.n_rollouts for u in one_actor] == [2400, 2400]            # one actor: one unit (one drain) per job


def test_a_retried_unit_skips_what_the_store_already_holds(tmp_path):
    job = _job(tmp_path)
    unit = plan_units([job], [{("7", 0): [0, 1, 2, 3], ("7", 1): [0, 1, 2, 3]}], 8)[0]
    made = [Rollout(rollout="x", answer="", seed=job.store.seed("7", 0, k)) for k in (0, 2)]
    job.store.append("7", 0, made)
    left = shrink_unit(unit, job.store, 4)
    assert left.rollouts == ((0, (1, 3)), (1, (0, 1, 2, 3)))
    job.store.append("7", 0, [Rollout(rollout="x", answer="", seed=job.store.seed("7", 0, k)) for k in (1, 3)])
    assert shrink_unit(left, job.store, 4).rollouts == ((1, (0, 1, 2, 3)),)


def test_ray_missing_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    from anchors.cli.app import main

    monkeypatch.setitem(sys.modules, "ray", None)             # `import ray` raises ImportError, as when not installed
    code = main(["rollouts", "--model", "tiny-qwen2", "--problem", str(tmp_path), "--store", str(tmp_path / "s"),
                 "--ray"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "pip install -e '.[ray]'" in err[0], err


def test_ray_option_takes_an_optional_address(monkeypatch):
    from anchors.cli import rollouts
    from anchors.cli.app import main
    from anchors.errors import AnchorsError

    seen = []

    def record(address, *rest):
        seen.append(address)
        raise AnchorsError("stop here")

    monkeypatch.setattr(rollouts, "_ray_options", record)
    for argv, want in ((["--ray"], "local"), (["--ray", "auto"], "auto"), (["--ray", "--n", "2"], "local"),
                       ([], None)):
        assert main(["rollouts", "--model", "m", "--problem", "p", "--store", "s", *argv]) == 2
        assert seen[-1] == want


def test_ray_workers_start_with_nvlink_multicast_off_unless_the_driver_sets_it(monkeypatch):
    from anchors.pipelines import distributed

    calls = []
    fake = SimpleNamespace(is_initialized=lambda: False, init=lambda **kw: calls.append(kw))
    monkeypatch.setitem(sys.modules, "ray", fake)                 # no cluster: only what ray.init is given
    for name in ("NCCL_NVLS_ENABLE", "TORCH_SYMM_MEM_DISABLE_MULTICAST", "NVSHMEM_DISABLE_NVLS",
                 *distributed.FORWARDED_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert distributed.connect(distributed.RayOptions()) is fake
    assert calls[-1]["address"] is None
    assert calls[-1]["runtime_env"] == {"env_vars": {
        "NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1",
        "HF_HUB_OFFLINE": "1"}}
    monkeypatch.setenv("NCCL_NVLS_ENABLE", "1")                   # an explicit value in the driver's environment wins
    distributed.connect(distributed.RayOptions(address="auto"))
    assert calls[-1]["address"] == "auto"
    assert calls[-1]["runtime_env"]["env_vars"]["NCCL_NVLS_ENABLE"] == "1"
    assert calls[-1]["runtime_env"]["env_vars"]["NVSHMEM_DISABLE_NVLS"] == "1"
