"""Marks from several processes at once, for real: every mark is kept. A mark used to be a
read-modify-write of one study attribute, so two processes excluding trials together lost
some of each other's marks (10 of 100)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from conftest import hptui_env
from pg_server import postgres_server

from hptui.core.studies.marks import load_marks
from hptui.core.studies.storage import optuna_storage
from hptui.core.studies.store import Store

PROCESSES = 4
MARKS_EACH = 25

# One process: wait for the start signal, then exclude its trials one mark at a time
# (process 0 also sets the baseline half-way), through the Store as the console does.
MARKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from hptui.core.studies.store import Store
    url, index, each, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    store = Store(url)
    while not go.exists():
        time.sleep(0.01)
    for number in range(index * each, (index + 1) * each):
        store.set_excluded("m", [number])
        if index == 0 and number == each // 2:
            store.set_baseline("m", 0)
    """
)


def _study_with_trials(url: str, count: int) -> None:
    study = optuna.create_study(storage=optuna_storage(url), study_name="m")
    for number in range(count):
        study.add_trial(
            optuna.trial.create_trial(
                params={"x": float(number)},
                distributions={"x": optuna.distributions.FloatDistribution(0, 1000)},
                value=float(number),
            )
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'runs.db'}"
        return
    with postgres_server() as server:
        yield server.url


def test_concurrent_processes_keep_every_mark(tmp_path: Path, url: str) -> None:
    total = PROCESSES * MARKS_EACH
    _study_with_trials(url, total)
    # A mark recorded before this change (the attribute alone) is kept as well.
    Store(url).set_excluded("m", [0])
    go = tmp_path / "go"
    command = [sys.executable, "-c", MARKER, url]
    processes = [
        subprocess.Popen(
            [*command, str(i), str(MARKS_EACH), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=hptui_env(),
        )
        for i in range(PROCESSES)
    ]
    time.sleep(1.0)  # let every process import and open the store before they all start
    go.touch()
    outputs = [p.communicate(timeout=300)[0].decode(errors="replace") for p in processes]
    assert [p.returncode for p in processes] == [0] * PROCESSES, "\n".join(outputs)
    marks = load_marks(url, "m")
    assert marks.excluded == frozenset(range(total)), sorted(set(range(total)) - marks.excluded)
    assert marks.baseline == 0
    # Including some back, concurrently with nothing else, leaves exactly the rest.
    Store(url).set_excluded("m", range(10), excluded=False)
    assert load_marks(url, "m").excluded == frozenset(range(10, total))
