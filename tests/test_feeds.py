"""The headless feeds behind the console's tabs: each reads through a Store and hands its
pane frozen snapshots, tested here without Textual."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import analysis_data
import console_data
import pytest

from hptui.core.studies.marks import Marks
from hptui.core.studies.store import Store
from hptui.core.views.analysis import AnalysisFeed, AnalysisRequest
from hptui.core.views.trials import TrialsFeed


def test_trials_feed_hands_a_first_page_then_all_then_only_changes(tmp_path: Path) -> None:
    store = Store(console_data.build(tmp_path / "runs.db"))
    feed = TrialsFeed(store, "mrpc-tpe", first_page=3)
    first, full = list(feed.poll())
    assert [r.number for r in first.rows] == [0, 1, 2] and not first.complete
    assert first.param_names == ("learning_rate", "train_batch_size", "weight_decay")
    assert [r.number for r in full.rows] == list(range(7)) and full.complete
    assert full.marks == Marks() and full.finished == 6  # the running trial is not finished
    with pytest.raises(dataclasses.FrozenInstanceError):
        full.rows = ()  # type: ignore[misc]
    assert list(feed.poll()) == []  # nothing changed: nothing to merge
    store.set_baseline("mrpc-tpe", 3)  # another process marking: seen on the next poll
    (update,) = feed.poll()
    assert update.rows == () and update.marks.baseline == 3 and update.param_names is None
    assert list(feed.poll()) == []


def test_trials_feed_sees_a_new_trial(tmp_path: Path) -> None:
    url = analysis_data.build(tmp_path / "runs.db", points=3)
    feed = TrialsFeed(Store(url), "quad")
    before = list(feed.poll())[-1]
    analysis_data.add_trial(url, "quad", 3e-5, 0.1)
    (update,) = feed.poll()
    assert [r.number for r in update.rows] == [len(before.rows)]
    assert update.finished == 1


def test_analysis_feed_refits_only_when_something_changed(tmp_path: Path) -> None:
    url = analysis_data.build(tmp_path / "runs.db")
    store = Store(url)
    feed = AnalysisFeed(store, "quad")
    request = AnalysisRequest()
    first = feed.poll(request)
    assert first is not None and first.view is not None and first.metric == "f1"
    assert feed.poll(request) is None  # nothing new: no refit
    toggled = dataclasses.replace(request, raw=True)
    assert feed.poll(toggled) is not None  # the toggles changed
    assert feed.poll(toggled) is None
    store.set_excluded("quad", [0])
    marked = feed.poll(toggled)
    assert marked is not None and marked.marks.excluded == frozenset({0})
    assert marked.view is not None and 0 in marked.view.analysis.excluded
    analysis_data.add_trial(url, "quad", 3e-5, 0.1)
    refit = feed.poll(toggled)
    assert refit is not None and refit.view is not None
    assert len(refit.view.analysis.table) == len(marked.view.analysis.table) + 1


def test_analysis_feed_relative_without_a_baseline_says_so(tmp_path: Path) -> None:
    store = Store(analysis_data.build(tmp_path / "runs.db"))
    snapshot = AnalysisFeed(store, "quad").poll(AnalysisRequest(relative=True))
    assert snapshot is not None and snapshot.view is None and snapshot.marks.baseline is None


def test_feeds_import_no_ui_library() -> None:
    import subprocess

    code = (
        "import sys, hptui.core.views.trials, hptui.core.views.analysis, hptui.core.views.live\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
