"""What a live view of a study shows, read incrementally from the storage.

`LiveFeed.poll()` is called a few times a second from a front end's worker thread. The first
call reads the whole study once; later calls fetch only trials that changed since the last
(`StudyReader.trial_changes`) and, for each running trial, only the steps and evaluations
after its cursors, so the cost of a refresh depends on what changed, not on the study's size.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hptui.core.studies import attrs
from hptui.core.studies.quick_reads import SeriesPoint
from hptui.core.studies.reader import TrialCursor, TrialRow
from hptui.core.studies.store import Store

from .best import BestSoFar

LOSS_POINTS = 240


@dataclass(frozen=True)
class DeviceLoad:
    """What the trial's worker last recorded about its device (any host)."""

    device: str | None = None
    gpu_util: float | None = None
    gpu_mem_bytes: int | None = None
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    host: str | None = None
    pid: int | None = None
    worker_status: str | None = None


@dataclass(frozen=True)
class LiveTrial:
    """One running (or just finished) trial, ready to draw."""

    trial_id: int
    number: int
    state: str
    params: dict[str, Any]
    reason: str | None
    progress: float | None  # 0..1 of all epochs
    epoch: int | None
    epochs_total: int | None
    step: int | None
    eta_s: float | None
    losses: tuple[float, ...]
    evals: tuple[dict[str, Any], ...]
    learning_rate: float | None
    examples_per_s: float | None
    elapsed_s: float | None
    load: DeviceLoad = field(default_factory=DeviceLoad)
    lost: bool = False


@dataclass(frozen=True)
class LiveSnapshot:
    """Running trials, the last finished ones, and the best-so-far curve."""

    running: tuple[LiveTrial, ...]
    recent: tuple[TrialRow, ...]
    best_by_number: tuple[tuple[int, float], ...]
    best_by_time: tuple[tuple[float, float], ...]
    values: tuple[tuple[int, float], ...]  # every complete trial's objective, by number
    counts: dict[str, int]
    direction: str
    objective: str
    read_seconds: float
    changed: bool = True  # anything new since the last poll (a front end backs off if not)


@dataclass
class _TrialBuffer:
    step_cursor: int = 0
    eval_cursor: int = 0
    losses: deque[float] = field(default_factory=lambda: deque(maxlen=LOSS_POINTS))
    evals: list[dict[str, Any]] = field(default_factory=list)
    last_step: dict[str, Any] | None = None
    grew: bool = False  # the last poll brought steps or evaluations


class LiveFeed:
    """Incremental reads of one study for a live view. Not thread-safe: one poller.

    The first poll reads every trial's state and value (one query, no attributes) plus the
    full rows of the running and the last finished trials; later polls read only what
    changed since the cursor, and the new steps of each running trial.
    """

    def __init__(
        self,
        store: Store,
        study_name: str,
        recent: int = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.clock = clock
        self.study_name = study_name
        self.recent = recent
        self._cursor: TrialCursor | None = None
        self._rows: dict[int, TrialRow] = {}
        self._buffers: dict[int, _TrialBuffer] = {}
        settings = store.settings(study_name)
        if settings is not None:
            self.direction, self.objective = settings.direction, settings.objective
        else:  # a study another tool made: its own direction (the first, if several)
            directions = store.study(study_name).directions or ("maximize",)
            self.direction = directions[0] if directions[0] == "minimize" else "maximize"
            self.objective = "value" if len(directions) == 1 else "value_0"
        # Every trial's point, the counts by state and the best-so-far curves, kept up to
        # date from the changed trials alone (a poll with nothing new costs no pass over
        # the study).
        self._best = BestSoFar(self.direction)
        self.polls = 0  # polls made (tests count them)

    def poll(self) -> LiveSnapshot:
        started = time.perf_counter()
        self.polls += 1
        if self._cursor is None:
            self._cursor = self.store.current_cursor(self.study_name)
            points = self.store.objective_series(self.study_name)
            self._best.extend(points)
            finished = sorted(
                (p for p in points if p.completed is not None),
                key=lambda p: p.completed or datetime.min,
            )
            wanted = {p.trial_id for p in points if p.state == "RUNNING"}
            wanted |= {p.trial_id for p in finished[-self.recent :]}
            changed = self.store.trial_rows(self.study_name, wanted)
            fresh = True
        else:
            changed, self._cursor = self.store.trial_changes(self.study_name, self._cursor)
            fresh = bool(changed)
        for row in changed:
            self._rows[row.trial_id] = row
            self._best.update(
                SeriesPoint(
                    row.trial_id, row.number, row.state, row.value, row.started, row.completed
                )
            )
        running_rows = sorted(
            (r for r in self._rows.values() if r.state == "RUNNING"), key=lambda r: r.number
        )
        loads = self._loads() if running_rows else {}
        now = datetime.fromtimestamp(self.clock())
        running = tuple(self._live(row, loads.get(row.number), now) for row in running_rows)
        fresh = fresh or any(self._buffers[t.trial_id].grew for t in running)
        live_ids = {row.trial_id for row in running_rows}
        for trial_id in list(self._buffers):
            if trial_id not in live_ids:
                del self._buffers[trial_id]
        finished_rows = sorted(
            (r for r in self._rows.values() if r.completed is not None),
            key=lambda r: r.completed or datetime.min,
        )[-self.recent :]
        keep = live_ids | {r.trial_id for r in finished_rows}
        self._rows = {k: v for k, v in self._rows.items() if k in keep}
        by_number, by_time = self._best.curves()
        return LiveSnapshot(
            running=running,
            recent=tuple(reversed(finished_rows)),
            best_by_number=by_number,
            best_by_time=by_time,
            values=self._best.values(),
            counts={k: v for k, v in self._best.counts.items() if v},
            direction=self.direction,
            objective=self.objective,
            read_seconds=time.perf_counter() - started,
            changed=fresh,
        )

    def _loads(self) -> dict[int, DeviceLoad]:
        """Each running trial's worker and the load it recorded, by trial number."""
        loads = {}
        for worker in self.store.workers(self.study_name):
            if worker.trial_number is None:
                continue
            loads[worker.trial_number] = DeviceLoad(
                device=worker.device,
                gpu_util=worker.gpu_util,
                gpu_mem_bytes=worker.gpu_mem_bytes,
                cpu_percent=worker.cpu_percent,
                rss_bytes=worker.rss_bytes,
                host=worker.host,
                pid=worker.pid,
                worker_status=worker.status,
            )
        return loads

    def _live(self, row: TrialRow, load: DeviceLoad | None, now: datetime) -> LiveTrial:
        buffer = self._buffers.setdefault(row.trial_id, _TrialBuffer())
        curve = self.store.curve(row.trial_id, buffer.step_cursor, buffer.eval_cursor)
        buffer.grew = bool(curve.steps or curve.evals)
        buffer.step_cursor, buffer.eval_cursor = curve.step_cursor, curve.eval_cursor
        for step in curve.steps:
            if step.get("loss") is not None:
                buffer.losses.append(float(step["loss"]))
        if curve.steps:
            buffer.last_step = curve.steps[-1]
        buffer.evals.extend(
            {k: e.get(k) for k in ("epoch", "step", "loss", "accuracy", "f1", "end_of_epoch")}
            for e in curve.evals
        )
        config = row.user_attrs.get(attrs.CONFIG)
        epochs_total = _int(config.get("num_epochs")) if isinstance(config, dict) else None
        last = buffer.last_step or {}
        done = _float(last.get("epoch_progress"))
        progress = None
        if done is not None and epochs_total:
            progress = min(max(done / epochs_total, 0.0), 1.0)
        elapsed = None
        if row.started is not None:
            elapsed = max((now - row.started).total_seconds(), 0.0)
        eta = None
        if progress and elapsed is not None and 0 < progress < 1:
            eta = elapsed * (1 - progress) / progress
        return LiveTrial(
            trial_id=row.trial_id,
            number=row.number,
            state=row.state,
            params=row.params,
            reason=row.reason,
            progress=progress,
            epoch=_int(last.get("epoch")),
            epochs_total=epochs_total,
            step=_int(last.get("step")),
            eta_s=eta,
            losses=tuple(buffer.losses),
            evals=tuple(buffer.evals),
            learning_rate=_float(last.get("learning_rate")),
            examples_per_s=_float(last.get("examples_per_s")),
            elapsed_s=elapsed,
            load=load or DeviceLoad(),
            lost=bool(getattr(row, "lost", False)),
        )


def best_so_far(
    rows: Sequence[TrialRow | SeriesPoint], direction: str
) -> tuple[tuple[tuple[int, float], ...], tuple[tuple[float, float], ...]]:
    """The best objective value so far, by trial number and by hours since the first start."""
    complete = [r for r in rows if r.state == "COMPLETE" and _finite(r.value)]
    better = max if direction == "maximize" else min
    by_number: list[tuple[int, float]] = []
    best: float | None = None
    for row in sorted(complete, key=lambda r: r.number):
        assert row.value is not None
        best = row.value if best is None else better(best, row.value)
        by_number.append((row.number, best))
    starts = [r.started for r in rows if r.started is not None]
    by_time: list[tuple[float, float]] = []
    if starts:
        origin = min(starts)
        best = None
        for row in sorted(
            (r for r in complete if r.completed is not None),
            key=lambda r: r.completed or datetime.min,
        ):
            assert row.value is not None and row.completed is not None
            best = row.value if best is None else better(best, row.value)
            by_time.append(((row.completed - origin).total_seconds() / 3600, best))
    return _changes(by_number), _changes(by_time)


def _changes(points: list[tuple[Any, float]]) -> tuple[tuple[Any, float], ...]:
    """Only the points where the best changes, and the last one: the same step curve from
    a handful of points instead of one per trial."""
    kept = [p for i, p in enumerate(points) if i == 0 or p[1] != points[i - 1][1]]
    if points and (not kept or kept[-1] is not points[-1]):
        kept.append(points[-1])
    return tuple(kept)


def reproduce_command(row: TrialRow) -> str | None:
    """The `hptui train` command that re-runs this trial's configuration (seed included)."""
    config = row.user_attrs.get(attrs.CONFIG)
    if not isinstance(config, dict):
        return None
    import shlex

    parts = ["hptui", "train"]
    for key in sorted(config):
        value = config[key]
        if value is None:
            continue
        parts += ["--set", shlex.quote(f"{key}={value}")]
    return " ".join(parts)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
