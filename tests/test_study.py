"""Studies in a real SQLite file: creation, changed spaces, manual trials, grids."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import hptui_env, write_space

from hptui.core.errors import ConfigError
from hptui.core.studies.reader import StudyReader
from hptui.core.studies.settings import (
    StudyError,
    StudySettings,
    create_study,
    enqueue,
    load_settings,
)
from hptui.core.studies.space import load_space
from hptui.core.workers.runner import Worker, WorkerOptions


def test_create_stores_the_settings_and_uses_wal(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    space = load_space(write_space(tmp_path / "space.toml", mrpc_dir))
    settings = StudySettings(space, objective="loss", direction="minimize", seed=3)
    _, created = create_study("s", settings, storage_url)
    assert created
    assert load_settings("s", storage_url) == settings
    _, created_again = create_study("s", settings, storage_url)
    assert not created_again
    mode = sqlite3.connect(tmp_path / "runs.db").execute("PRAGMA journal_mode").fetchone()
    assert mode == ("wal",)
    (info,) = StudyReader(storage_url).studies()
    assert (info.name, info.total, info.settings) == ("s", 0, settings)


def test_a_changed_space_is_caught_up_front(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    first = load_space(write_space(tmp_path / "a.toml", mrpc_dir))
    create_study("s", StudySettings(first), storage_url)
    changed = load_space(write_space(tmp_path / "b.toml", mrpc_dir, num_epochs=2))
    with pytest.raises(StudyError) as caught:
        create_study("s", StudySettings(changed), storage_url)
    message = str(caught.value)
    assert "fixed.num_epochs: 1 -> 2" in message and "hptui study create s-2" in message


def test_grid_studies_queue_each_point_once(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    params = "\n".join(
        [
            '[params.learning_rate]\ntype = "categorical"\nchoices = [1e-4, 1e-3]',
            '[params.weight_decay]\ntype = "categorical"\nchoices = [0.0, 0.01, 0.1]',
        ]
    )
    space = load_space(write_space(tmp_path / "grid.toml", mrpc_dir, params=params))
    create_study("g", StudySettings(space, sampler="grid"), storage_url)
    create_study("g", StudySettings(space, sampler="grid"), storage_url)  # idempotent
    rows = StudyReader(storage_url).trials("g")
    assert [r.state for r in rows] == ["WAITING"] * 6
    points = {(r.params["learning_rate"], r.params["weight_decay"]) for r in rows}
    assert len(points) == 6


def test_enqueue_validates_against_the_space(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    space = load_space(write_space(tmp_path / "space.toml", mrpc_dir))
    create_study("s", StudySettings(space), storage_url)
    with pytest.raises(ConfigError, match=r"learning_rate: 0\.5 is outside"):
        enqueue("s", storage_url, {"learning_rate": 0.5})
    with pytest.raises(ConfigError, match="seed: not a searched parameter"):
        enqueue("s", storage_url, {"seed": 1})
    enqueue("s", storage_url, {"learning_rate": 5e-4})
    (row,) = StudyReader(storage_url).trials("s")
    assert (row.state, row.params) == ("WAITING", {"learning_rate": 5e-4})


def test_unknown_study_names_the_fix(storage_url: str) -> None:
    with pytest.raises(StudyError, match="hptui study create nope --space"):
        load_settings("nope", storage_url)


def test_grid_needs_finite_values(tmp_path: Path, mrpc_dir: Path) -> None:
    space = load_space(write_space(tmp_path / "space.toml", mrpc_dir))
    with pytest.raises(ConfigError, match="learning_rate: a grid needs"):
        StudySettings(space, sampler="grid")


def test_cli_create_reports_space_errors_and_stores_nothing(
    tmp_path: Path, mrpc_dir: Path, storage_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from hptui.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text('[params.learning_rate]\ntype = "float"\nlow = 0.0\nhigh = 1e-3\nlog = true\n')
    assert main(["study", "create", "s", "--space", str(bad), "--storage", storage_url]) == 2
    err = capsys.readouterr().err
    assert "learning_rate: a log range needs low > 0" in err and "Traceback" not in err
    assert not (tmp_path / "runs.db").exists()  # nothing written, not even an empty file

    good = write_space(tmp_path / "good.toml", mrpc_dir)
    assert main(["study", "create", "s", "--space", str(good), "--storage", storage_url]) == 0
    assert main(["study", "enqueue", "s", "learning_rate=2e-4", "--storage", storage_url]) == 0
    assert main(["study", "enqueue", "s", "learning_rate=2", "--storage", storage_url]) == 2
    assert "learning_rate: 2 is outside" in capsys.readouterr().err
    (row,) = StudyReader(storage_url).trials("s")
    assert row.params == {"learning_rate": 2e-4}


def test_cli_choices_match_the_core() -> None:
    """The CLI repeats these lists so that `--help` need not import core.study."""
    from hptui import cli
    from hptui.core.studies import settings as study

    assert cli.SAMPLERS == study.SAMPLERS
    assert cli.PRUNERS == study.PRUNERS
    assert cli.OBJECTIVES == study.OBJECTIVES


def test_a_grid_over_the_limit_is_refused_with_its_count(tmp_path: Path, mrpc_dir: Path) -> None:
    params = '[params.warmup_ratio]\ntype = "float"\nlow = 0.0\nhigh = 0.5\nstep = 1e-18'
    space = load_space(write_space(tmp_path / "space.toml", mrpc_dir, params=params))
    with pytest.raises(ConfigError, match=r"has [\d,]{20,} grid points, more than the 10,000"):
        StudySettings(space, sampler="grid")  # counted, never expanded in memory


def test_a_pruner_that_could_never_prune_is_refused(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    space = load_space(write_space(tmp_path / "space.toml", mrpc_dir, num_epochs=1))
    with pytest.raises(ConfigError, match="--pruner: median prunes between epochs"):
        create_study("s", StudySettings(space, pruner="median"), storage_url)
    assert not Path(storage_url.removeprefix("sqlite:///")).exists()  # nothing was written


def test_a_grid_create_killed_part_way_is_resumed(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    params = '[params.learning_rate]\ntype = "float"\nlow = 0.0001\nhigh = 0.0301\nstep = 0.0001'
    space_file = write_space(tmp_path / "space.toml", mrpc_dir, params=params)
    command = [sys.executable, "-m", "hptui", "study", "create", "g", "--space", str(space_file),
               "--sampler", "grid", "--storage", storage_url]  # fmt: skip
    creating = subprocess.Popen(command, env=hptui_env(), stdout=subprocess.DEVNULL)
    db = tmp_path / "runs.db"

    def queued() -> int:
        try:
            with sqlite3.connect(db, timeout=30) as c:
                return int(c.execute("SELECT COUNT(*) FROM trials").fetchone()[0])
        except sqlite3.OperationalError:  # the schema is still being made
            return 0

    deadline = time.monotonic() + 120
    while queued() < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    creating.kill()
    creating.wait(timeout=30)
    part = queued()
    assert 5 <= part < 301, part
    with pytest.raises(StudyError, match="was not fully queued"):
        Worker(WorkerOptions("g", storage_url, trials=1))
    again = subprocess.run(command, env=hptui_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "exists (same settings)" in again.stdout
    assert f"; {301 - part} missing grid point(s) queued" in again.stdout
    rows = StudyReader(storage_url).trials("g")
    assert len(rows) == 301
    assert len({r.params["learning_rate"] for r in rows}) == 301
    Worker(WorkerOptions("g", storage_url, trials=1))  # complete: workers accept it
