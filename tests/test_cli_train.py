"""`hptui train` end to end, as a user runs it: a real process on a real MRPC slice."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from conftest import hptui_env

TINY = [
    "--set", "model=tiny-distilbert",
    "--set", "num_epochs=1",
    "--set", "train_limit=64",
    "--set", "eval_limit=32",
    "--set", "max_seq_length=64",
    "--set", "train_batch_size=16",
]  # fmt: skip


def _hptui(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hptui", *args],
        capture_output=True, text=True, env=hptui_env(), timeout=300, **kwargs,  # type: ignore[call-overload]
    )  # fmt: skip


def test_json_lines_end_with_the_result(mrpc_dir: Path) -> None:
    done = _hptui("train", *TINY, "--data-dir", str(mrpc_dir), "--json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds == ["step"] * 4 + ["eval", "result"]
    result = events[-1]
    for key in ("accuracy", "f1", "loss", "epochs", "seconds", "examples_per_s", "config"):
        assert key in result
    assert result["status"] == "completed" and result["epochs"] == 1
    assert 0 <= result["f1"] <= 1 and result["config"]["model"] == "tiny-distilbert"
    assert result["f1"] == events[-2]["metrics"]["f1"]
    # Nothing from transformers' progress bars or load reports leaks into the streams.
    assert "Loading weights" not in done.stderr and "LOAD REPORT" not in done.stderr


def test_rich_output_shows_the_epoch_table(mrpc_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(f'data_dir = "{mrpc_dir}"\nseed = 3\n')
    done = _hptui("train", "--config", str(config), *TINY)
    assert done.returncode == 0, done.stderr
    assert "validation metrics" in done.stdout
    assert "completed: 1 epoch(s), 4 steps" in done.stdout


def test_config_error_names_the_key_and_exits_2() -> None:
    done = _hptui("train", "--set", "learning_rate=-1")
    assert done.returncode == 2
    assert "learning_rate: must be a finite number > 0 (got -1.0)" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_data_is_one_clear_error(tmp_path: Path) -> None:
    done = _hptui("train", *TINY, "--data-dir", str(tmp_path))
    assert done.returncode == 2
    assert "MRPC data not found" in done.stderr and "--data-dir" in done.stderr
    assert "Traceback" not in done.stderr


def test_interrupt_stops_cleanly_with_a_partial_result(mrpc_dir: Path) -> None:
    args = [*TINY, "--set", "num_epochs=50", "--data-dir", str(mrpc_dir), "--json"]
    process = subprocess.Popen(
        [sys.executable, "-m", "hptui", "train", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=hptui_env(),
    )  # fmt: skip
    assert process.stdout is not None
    first = json.loads(process.stdout.readline())
    assert first["event"] == "step"
    process.send_signal(signal.SIGINT)
    rest = [json.loads(line) for line in process.stdout]
    assert process.wait(timeout=60) == 1
    assert rest[-1]["event"] == "result"
    assert rest[-1]["status"].startswith("stopped at step ")
    assert rest[-1]["steps"] < 200


def test_help_lists_the_train_command() -> None:
    done = _hptui("--help")
    assert done.returncode == 0 and "train" in done.stdout
    settings = _hptui("train", "--list-settings")
    assert "gradient_clip_val" in settings.stdout and "warmup_ratio" in settings.stdout
