"""The GPU run's scripts, rehearsed on the CPU with the tiny model and tiny sizes: the
benchmark side by side, the example-database build, workers per GPU, the device script."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, hptui_env


def _python(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = hptui_env(OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, text=True, capture_output=True, timeout=timeout
    )


def test_gpu_bench_runs_both_trainers_on_the_cpu(tmp_path: Path, mrpc_dir: Path) -> None:
    out = tmp_path / "bench.json"
    done = _python(
        "bench/gpu.py", "--model-size", "tiny", "--train-limit", "64", "--eval-limit", "32",
        "--epochs", "1", "--rounds", "1", "--data-dir", str(mrpc_dir), "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert {t["runner"] for t in report["trials"]} == {"hptui", "transformers.Trainer"}
    assert all(t["seconds"] > 0 and t["examples_per_s"] > 0 for t in report["trials"])
    assert report["flops_per_trial"] > 0 and report["matmul_params"] > 0
    assert report["ratio hptui / transformers.Trainer"] > 0
    assert "ratio hptui / transformers.Trainer" in done.stdout


def test_example_db_refuses_to_overwrite(tmp_path: Path, mrpc_dir: Path) -> None:
    out = tmp_path / "runs.db.example"
    out.write_bytes(b"recorded before")
    done = _python("examples/build_example_db.py", "--out", str(out), "--data-dir", str(mrpc_dir))
    assert done.returncode == 2
    assert "--force" in done.stderr and "Traceback" not in done.stderr
    assert out.read_bytes() == b"recorded before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.db.example"]


@pytest.mark.slow
def test_example_db_is_built_by_workers_with_the_cards(tmp_path: Path, mrpc_dir: Path) -> None:
    out, summary = tmp_path / "example.db", tmp_path / "example.json"
    done = _python(
        "examples/build_example_db.py", "--out", str(out), "--model", "tiny-distilbert",
        "--cpu-subset", "--train-limit", "32", "--eval-limit", "32", "--trials", "2",
        "--workers", "2", "--device", "cpu", "--data-dir", str(mrpc_dir), "--json", str(summary),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["example.db", "example.json"]
    studies = json.loads(summary.read_text())["studies"]
    assert studies["grid"]["states"]["COMPLETE"] == 2
    assert studies["tpe"]["states"] == {"COMPLETE": 2}
    with sqlite3.connect(out) as db:
        names = {row[0] for row in db.execute("select study_name from studies")}
        assert names == {"grid", "tpe", "cards"}
        assert db.execute("pragma journal_mode").fetchone()[0] == "delete"
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"


@pytest.mark.slow
def test_workers_per_gpu_measures_each_n(tmp_path: Path, mrpc_dir: Path) -> None:
    out = tmp_path / "workers.json"
    done = _python(
        "bench/workers_per_gpu.py", "--model", "tiny-distilbert", "--trials", "2",
        "--workers", "1", "2", "--train-limit", "32", "--eval-limit", "32", "--device", "cpu",
        "--data-dir", str(mrpc_dir), "--out", str(out), "--timeout", "240",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["workers"] for r in rows] == [1, 2]
    for row in rows:
        assert row["finished"] and row["trials_complete"] == 2
        assert row["trials_per_hour"] > 0 and row["peak_memory_bytes_per_worker"] > 0


@pytest.mark.slow
def test_device_script_rehearsal(tmp_path: Path) -> None:
    """The whole device script in its CPU rehearsal mode, with the budget cut so that the
    last phase (compile) is stopped by its time limit and the script still finishes."""
    env = hptui_env(GPU_RUN_SMOKE="1", OUT=str(tmp_path), GPU_RUN_BUDGET="260",
                    PYTHON=sys.executable)  # fmt: skip
    done = subprocess.run(
        ["bash", "device/gpu_run.sh"], cwd=REPO, env=env, text=True, capture_output=True,
        timeout=400,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    names = {p.name for p in tmp_path.iterdir()}
    assert {"run.log", "bench.json", "example.json", "runs.db.example", "workers.json"} <= names
    assert len(names) <= 8 and all(p.is_file() for p in tmp_path.iterdir())
    log = (tmp_path / "run.log").read_text()
    assert "bench/gpu.py (compile off): exit 0" in log
    assert "examples/build_example_db.py: exit 0" in log
    assert "bench/workers_per_gpu.py: exit 0" in log


@pytest.mark.slow
def test_packing_bench_rehearsal_through_the_device_script(tmp_path: Path) -> None:
    """bench/gpu_packing.py (issue 17) in its --smoke mode, run by the device script's
    packing plan: every phase ends, --per-gpu is refused on this CPU host and recorded,
    the CUDA-graph option is refused, and the study reaches all its trials."""
    env = hptui_env(GPU_RUN_SMOKE="1", GPU_RUN_PLAN="packing", OUT=str(tmp_path),
                    GPU_RUN_BUDGET="500", PYTHON=sys.executable)  # fmt: skip
    done = subprocess.run(
        ["bash", "device/gpu_run.sh"], cwd=REPO, env=env, text=True, capture_output=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["packing.json", "run.log"]
    assert "bench/gpu_packing.py: exit 0" in (tmp_path / "run.log").read_text()
    report = json.loads((tmp_path / "packing.json").read_text())
    phases = report["phases"]
    assert set(phases) == {"packing", "study", "ratio", "options"}
    (row,) = phases["packing"]["rows"]
    assert row["finished"] and row["complete"] == 2 and row["trials_per_hour"] > 0
    assert "--per-gpu: exit 2" in row["started_with"] and "no visible CUDA GPU" in row["mps"]
    assert phases["study"]["all_complete"] and phases["study"]["workers"] == 2
    assert phases["ratio"]["exit"] == 0 and phases["ratio"]["ratio"] > 0
    options = {r["option"]: r for r in phases["options"]["rows"]}
    assert all(r["seconds"] > 0 for name, r in options.items() if "reduce-overhead" not in name)
    assert "needs a CUDA device" in options['compile = "reduce-overhead"']["refused"]
