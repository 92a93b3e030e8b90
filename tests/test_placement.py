"""Packing workers onto GPUs (core/workers/placement.py): the pure plan on fake GPU lists,
CUDA_VISIBLE_DEVICES and MPS detection on fake environments, the study's measured peak from
a real SQLite file, and `hptui worker --per-gpu` refused end to end on this CPU host."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from conftest import hptui_env, write_space

from hptui.core.errors import ConfigError
from hptui.core.studies import attrs
from hptui.core.studies.settings import StudySettings, create_study
from hptui.core.studies.space import load_space
from hptui.core.workers import registry
from hptui.core.workers.placement import (
    CONTEXT_BYTES,
    GIB,
    Gpu,
    MpsStatus,
    host_line,
    mps_status,
    plan_placements,
    study_peak_bytes,
    visible_gpus,
    visible_ids,
    worker_bytes,
)

H200 = Gpu(0, "0", "NVIDIA H200", 141 * GIB, 140 * GIB)


def _gpus(*free_gib: float) -> list[Gpu]:
    return [Gpu(i, str(i), "NVIDIA H200", 141 * GIB, int(f * GIB)) for i, f in enumerate(free_gib)]


def test_n_per_gpu_over_every_gpu_each_with_its_own_visible_device() -> None:
    placements = plan_placements(_gpus(140, 140), 3, 2 * GIB)
    assert [(p.gpu.index, p.slot) for p in placements] == [
        (0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)
    ]  # fmt: skip
    assert [p.env for p in placements[2:4]] == [
        {"CUDA_VISIBLE_DEVICES": "0"},
        {"CUDA_VISIBLE_DEVICES": "1"},
    ]


def test_an_n_that_does_not_fit_is_refused_naming_the_largest_that_does() -> None:
    peak = 2 * GIB
    fits = int(10 * GIB // worker_bytes(peak))
    assert plan_placements(_gpus(140, 10), fits, peak)  # the largest that fits is accepted
    with pytest.raises(ConfigError) as refused:
        plan_placements(_gpus(140, 10), fits + 1, peak, study="s")
    message = str(refused.value)
    assert message.startswith("--per-gpu: ") and "\n" not in message
    assert "GPU 1" in message and f"use --per-gpu {fits} or less" in message


def test_no_room_for_even_one_says_to_free_the_gpu() -> None:
    with pytest.raises(ConfigError, match="not even one fits"):
        plan_placements(_gpus(0.25), 1, GIB)


def test_without_a_measured_trial_only_one_per_gpu_is_allowed() -> None:
    assert len(plan_placements(_gpus(140, 140), 1, None)) == 2
    with pytest.raises(ConfigError, match=r"no trial measured on a CUDA GPU.*--per-gpu 1"):
        plan_placements(_gpus(140), 2, None, study="s")


def test_no_gpu_and_a_bad_n_are_refused() -> None:
    with pytest.raises(ConfigError, match="no visible CUDA GPU"):
        plan_placements([], 2, GIB)
    with pytest.raises(ConfigError, match="at least 1"):
        plan_placements([H200], 0, GIB)


def test_the_memory_counted_per_worker_adds_context_and_slack() -> None:
    assert worker_bytes(0) == CONTEXT_BYTES
    assert worker_bytes(4 * GIB) == 5 * GIB + CONTEXT_BYTES


@pytest.mark.parametrize(
    ("value", "ids"),
    [(None, None), ("", []), ("-1", []), ("2,0", ["2", "0"]), ("1,-1,2", ["1"]),
     ("GPU-8a1b", ["GPU-8a1b"])],
)  # fmt: skip
def test_cuda_visible_devices_is_read_as_cuda_reads_it(
    value: str | None, ids: list[str] | None
) -> None:
    env = {} if value is None else {"CUDA_VISIBLE_DEVICES": value}
    assert visible_ids(env) == ids


def test_gpus_hidden_by_cuda_visible_devices_are_none() -> None:
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []


def test_this_cpu_host_has_no_gpu() -> None:
    assert visible_gpus({}) == []


def test_mps_is_in_use_when_its_control_pipe_exists(tmp_path: Path) -> None:
    (tmp_path / "control").touch()
    status = mps_status({"CUDA_MPS_PIPE_DIRECTORY": str(tmp_path)}, which=lambda _: None)
    assert status.active and "in use" in status.line()
    idle = mps_status({"CUDA_MPS_PIPE_DIRECTORY": str(tmp_path / "no")}, which=lambda _: "/x")
    assert not idle.active and "nvidia-cuda-mps-control -d" in idle.line()
    absent = mps_status({}, which=lambda _: None, exists=lambda _: False)
    assert absent.pipe_dir == "/tmp/nvidia-mps" and "not available" in absent.line()


def test_the_host_line_names_each_gpu_and_says_whether_mps_is_in_use() -> None:
    off = MpsStatus(active=False, installed=True, pipe_dir="/tmp/nvidia-mps")
    line = host_line(_gpus(100, 50), off)
    assert line.startswith("2 GPU(s): GPU 0 NVIDIA H200: 100.0 of 141.0 GiB free; GPU 1 ")
    assert "CUDA MPS: not in use" in line
    assert "CUDA MPS: in use" in host_line([H200], MpsStatus(True, True, "/tmp/nvidia-mps"))
    assert host_line([], off) == "No CUDA GPU here: per-GPU packing is off"


def _study(tmp_path: Path, mrpc_dir: Path, url: str) -> None:
    space = load_space(write_space(tmp_path / "space.toml", mrpc_dir))
    create_study("s", StudySettings(space, seed=0), url)


def _record(url: str, device: str, peak: Any) -> None:
    study = optuna.load_study(study_name="s", storage=url)
    trial = study.ask()
    trial.set_user_attr(attrs.DEVICE, device)
    trial.set_user_attr(attrs.PEAK_MEMORY_BYTES, peak)
    study.tell(trial, 0.5)


def test_the_study_peak_is_the_largest_of_its_cuda_trials(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    _study(tmp_path, mrpc_dir, storage_url)
    assert study_peak_bytes(storage_url, "s") is None
    _record(storage_url, "cpu (x86_64, 2 threads)", 9 * GIB)  # a CPU's RSS is not GPU memory
    assert study_peak_bytes(storage_url, "s") is None
    _record(storage_url, "NVIDIA H200", 2 * GIB)
    _record(storage_url, "NVIDIA H200", 3 * GIB)
    _record(storage_url, "NVIDIA H200", None)
    assert study_peak_bytes(storage_url, "s") == 3 * GIB


def test_start_packed_spawns_one_worker_per_slot_with_its_device(
    tmp_path: Path, mrpc_dir: Path, storage_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wiring from plan to spawn (the spawn itself is the registry's, tested with real
    processes elsewhere): each slot gets `--device cuda` and its CUDA_VISIBLE_DEVICES."""
    _study(tmp_path, mrpc_dir, storage_url)
    _record(storage_url, "NVIDIA H200", 2 * GIB)
    calls: list[tuple[str | None, dict[str, str] | None]] = []

    def spawn(url: str, study: str, trials: int, **options: Any) -> registry.StartedWorker:
        calls.append((options.get("device"), options.get("env")))
        return registry.StartedWorker(1000 + len(calls), tmp_path / "log")

    monkeypatch.setattr(registry, "spawn_worker", spawn)
    packed = registry.start_packed(storage_url, "s", 2, 10, gpus=_gpus(140, 140))
    assert calls == [("cuda", {"CUDA_VISIBLE_DEVICES": str(i)}) for i in (0, 0, 1, 1)]
    assert [w.gpu for w in packed.started][:2] == [
        "GPU 0 (NVIDIA H200) slot 1", "GPU 0 (NVIDIA H200) slot 2"
    ]  # fmt: skip
    assert packed.mps_line.startswith("CUDA MPS: ")
    calls.clear()
    with pytest.raises(ConfigError, match="--per-gpu"):
        registry.start_packed(storage_url, "s", 80, 10, gpus=_gpus(140))
    with pytest.raises(ConfigError, match="--device"):
        registry.start_packed(storage_url, "s", 1, 10, device="cpu", gpus=_gpus(140))
    assert calls == []  # refused before anything started


def _hptui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hptui", *args], env=hptui_env(), text=True,
        capture_output=True, timeout=120,
    )  # fmt: skip


def _worker_rows(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "runs.db") as db:
        tables = {r[0] for r in db.execute("select name from sqlite_master")}
        if "hptui_workers" not in tables:
            return 0
        return int(db.execute("select count(*) from hptui_workers").fetchone()[0])


@pytest.mark.parametrize("detach", [[], ["--detach"]])
def test_per_gpu_on_this_cpu_host_is_one_line_and_exit_2(
    tmp_path: Path, mrpc_dir: Path, storage_url: str, detach: list[str]
) -> None:
    _study(tmp_path, mrpc_dir, storage_url)
    done = _hptui("worker", "s", "--trials", "2", "--per-gpu", "2", *detach,
                  "--storage", storage_url)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "--per-gpu" in lines[0] and "no visible CUDA GPU" in lines[0]
    assert _worker_rows(tmp_path) == 0
    assert not (tmp_path / "hptui-logs").exists()  # nothing spawned


def test_detach_refuses_a_missing_study_before_starting_anything(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    _study(tmp_path, mrpc_dir, storage_url)
    done = _hptui("worker", "nope", "--trials", "2", "--detach", "--storage", storage_url)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "no study 'nope'" in lines[0]
    assert "worker started" not in done.stdout
    assert not (tmp_path / "hptui-logs").exists()
    assert _worker_rows(tmp_path) == 0
