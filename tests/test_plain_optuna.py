"""Studies plain Optuna made (no hptui settings): their own directions decide what "best"
is, and their objective values are columns of the trials table and the exports."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from conftest import hptui_env
from console_pilot import drive, open_trials
from textual.pilot import Pilot

from hptui.core.studies.store import Store
from hptui.tui.app import HptuiApp

# x values and the objective (x - 3)^2: the minimum is at the trial with x = 3.25.
XS = (9.75, 3.25, -3.0, 5.5)


def _objective(x: float) -> float:
    return (x - 3) ** 2


def _hptui(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "hptui", *args],
        capture_output=True, text=True, env=hptui_env(COLUMNS="200", NO_COLOR="1"), timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def plain_minimize(storage_url: str) -> str:
    """A minimize study written by Optuna alone, four COMPLETE trials."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="plain", direction="minimize", storage=storage_url)
    for x in XS:
        study.enqueue_trial({"x": x})
    study.optimize(lambda t: _objective(t.suggest_float("x", -10, 10)), n_trials=len(XS))
    return storage_url


def test_study_list_shows_the_minimum_of_a_minimize_study(plain_minimize: str) -> None:
    best = min(_objective(x) for x in XS)
    worst = max(_objective(x) for x in XS)
    out = _hptui("study", "list", "--storage", plain_minimize).stdout
    line = next(line for line in out.splitlines() if line.startswith("plain"))
    cells = line.split()
    assert f"{best:.4f}" in cells and f"{worst:.4f}" not in cells, out
    assert cells[-1] == str(XS.index(3.25))  # the best trial's number
    assert "minimize value" in line
    info = Store(plain_minimize).study("plain")
    assert info.directions == ("minimize",) and info.best_value == best


def test_trials_and_exports_list_the_objective_value(plain_minimize: str, tmp_path: Path) -> None:
    expected = [_objective(x) for x in XS]
    rows = json.loads(
        _hptui("trials", "plain", "--format", "json", "--storage", plain_minimize).stdout
    )
    assert [row["value"] for row in rows] == expected
    assert [row["x"] for row in rows] == list(XS)

    table = _hptui("trials", "plain", "--storage", plain_minimize).stdout
    header = next(line for line in table.splitlines() if line.split()[:2] == ["number", "state"])
    assert "value" in header.split()

    target = tmp_path / "plain.csv"
    _hptui("export", "plain", "--csv", str(target), "--storage", plain_minimize)
    with target.open(newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert [float(row["value"]) for row in exported] == expected

    target = tmp_path / "plain.json"
    _hptui("export", "plain", "--json", str(target), "--storage", plain_minimize)
    assert [row["value"] for row in json.loads(target.read_text())] == expected


def test_a_multi_objective_study_has_a_value_column_per_objective_and_no_single_best(
    storage_url: str,
) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="pareto", directions=["minimize", "maximize"], storage=storage_url
    )
    for x in XS:
        study.enqueue_trial({"x": x})
    study.optimize(lambda t: (_objective(x := t.suggest_float("x", -10, 10)), x), n_trials=len(XS))
    rows = json.loads(
        _hptui("trials", "pareto", "--format", "json", "--storage", storage_url).stdout
    )
    assert [(row["value_0"], row["value_1"]) for row in rows] == [(_objective(x), x) for x in XS]
    assert "value" not in rows[0]

    out = _hptui("study", "list", "--storage", storage_url).stdout
    line = next(line for line in out.splitlines() if line.startswith("pareto"))
    assert "multi: minimize, maximize" in line
    assert line.split()[-2:] == ["-", "-"]  # no best value, no best trial
    assert "no single best trial" in out
    info = Store(storage_url).study("pareto")
    assert info.best_value is None and info.direction == "multi"


def test_an_hptui_study_adds_no_value_column(storage_url: str, tmp_path: Path) -> None:
    """An hptui study's objective value is its objective metric, a column already."""
    from conftest import write_space

    space = write_space(tmp_path / "space.toml", tmp_path)
    _hptui("study", "create", "ours", "--space", str(space), "--storage", storage_url)
    store = Store(storage_url)
    store.enqueue("ours", {"learning_rate": 3e-4})
    rows = store.flat_rows("ours")
    assert rows and not any(key.startswith("value") for key in rows[0])
    assert store.study("ours").directions == ("maximize",)


def test_the_consoles_trials_table_shows_the_objective_value(plain_minimize: str) -> None:
    """The console's trials tab lists a plain study's objective value as a column, sortable
    like any other (its cells are the values Optuna recorded)."""

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        pane = await open_trials(app, pilot)
        labels = [column.label for column in pane.model.columns]
        assert "value" in labels, labels
        values = {number: row["value"] for number, row in pane.model.rows.items()}
        assert values == {i: _objective(x) for i, x in enumerate(XS)}

    drive(plain_minimize, steps)


def test_the_live_best_so_far_of_a_minimize_study_is_its_minimum(plain_minimize: str) -> None:
    from hptui.core.views.live import LiveFeed

    feed = LiveFeed(Store(plain_minimize), "plain")
    snapshot = feed.poll()
    assert feed.direction == "minimize"
    assert snapshot.best_by_number[-1][1] == min(_objective(x) for x in XS)
