"""Light reads for screens, on the fixed study: each agrees with the full read API."""

from __future__ import annotations

from pathlib import Path

import console_data

from hptui.core.studies.quick_reads import (
    current_cursor,
    first_trials,
    objective_series,
    study_attrs,
    study_rates,
    study_settings,
)
from hptui.core.studies.reader import StudyReader, TrialCursor
from hptui.core.studies.store import Store
from hptui.core.views.live import LiveFeed

STUDY = "mrpc-tpe"


def test_light_reads_agree_with_the_full_read(tmp_path: Path) -> None:
    url = console_data.build(tmp_path / "runs.db")
    reader = StudyReader(url)
    full = reader.trials(STUDY)
    first = first_trials(reader, STUDY, 3)
    assert [r.number for r in first] == [0, 1, 2]
    assert [r.metrics for r in first] == [r.metrics for r in full[:3]]
    series = objective_series(reader, STUDY)
    assert [(p.number, p.state, p.value) for p in series] == [
        (r.number, r.state, r.value) for r in full
    ]
    _, cursor = reader.trial_changes(STUDY, TrialCursor())
    assert current_cursor(reader, STUDY) == cursor
    settings = study_settings(reader, STUDY)
    assert settings is not None and settings.space.names == reader.study(STUDY).settings.space.names  # type: ignore[union-attr]
    assert study_attrs(reader, STUDY, ["nope"]) == {}
    # 6 finished trials, started 7 minutes apart, each 5 minutes long: 6 in 40 minutes
    assert round(study_rates(reader)[reader.study_id(STUDY)], 3) == round(6 / (40 / 60), 3)


def test_live_feed_reads_a_running_trial_and_the_best_so_far(tmp_path: Path) -> None:
    url = console_data.build(tmp_path / "runs.db")
    feed = LiveFeed(Store(url), STUDY, clock=lambda: console_data.CLOCK)
    snapshot = feed.poll()
    assert [t.number for t in snapshot.running] == [6]
    running = snapshot.running[0]
    assert running.epochs_total == 3 and running.epoch == 2 and running.step == 24
    assert abs((running.progress or 0) - 2 / 3) < 1e-9 and running.eta_s is not None
    assert len(running.evals) == 2 and running.losses[-1] < running.losses[0]
    # the best F1 so far, at its change points only: 0.8791 (#0), 0.8874 (#1), 0.9012 (#3)
    assert [(n, round(v, 4)) for n, v in snapshot.best_by_number] == [
        (0, 0.8791),
        (1, 0.8874),
        (3, 0.9012),
        (5, 0.9012),
    ]
    assert snapshot.counts == {"COMPLETE": 5, "FAIL": 1, "RUNNING": 1}
    assert [r.number for r in snapshot.recent] == [5, 4, 3, 2, 1]
    again = feed.poll()  # nothing changed: the same picture, no steps counted twice
    assert again.running[0].losses == running.losses
