"""The worker's side of the registry: its row in `hptui_workers`, the device load it reports,
and the heartbeat thread that beats its trial and its row and hears stop requests.

The heartbeat runs on its own thread with its own connections, so a main thread that waits on
a database lock, or trains for minutes between two writes, never makes its trial look lost.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hptui.core.errors import first_line
from hptui.core.studies.retry import retrying
from hptui.core.studies.storage import TABLES

if TYPE_CHECKING:
    import sqlalchemy as sa

log = logging.getLogger("hptui.worker")

# How often the heartbeat thread looks for a stop request or a trial taken from it (the
# heartbeat itself is written every heartbeat interval).
POLL_SECONDS = 1.0


class WorkerRow:
    """This process's row: written at start, beaten, and closed with an exit reason."""

    def __init__(self, engine: sa.Engine, row_id: int) -> None:
        self.engine, self.id = engine, row_id

    @classmethod
    @retrying
    def register(
        cls,
        engine: sa.Engine,
        study_id: int,
        *,
        device: str | None,
        heartbeat_interval: float,
        grace_period: float,
    ) -> WorkerRow:
        now = time.time()
        with engine.begin() as c:
            result = c.execute(
                TABLES.workers.insert().values(
                    study_id=study_id, host=platform.node(), pid=os.getpid(), device=device,
                    heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                    started_at=now, heartbeat_at=now, stop_requested=False,
                    log_path=_own_log_path(),
                )
            )  # fmt: skip
            (row_id,) = result.inserted_primary_key or (None,)
        assert row_id is not None
        return cls(engine, int(row_id))

    @retrying
    def update(self, **values: Any) -> None:
        workers = TABLES.workers
        with self.engine.begin() as c:
            c.execute(workers.update().where(workers.c.id == self.id).values(**values))

    @retrying
    def stop_request(self) -> str | None:
        """The stop reason if a stop was requested for this worker, else None."""
        import sqlalchemy as sa

        workers = TABLES.workers
        with self.engine.connect() as c:
            row = c.execute(
                sa.select(workers.c.stop_requested, workers.c.stop_reason).where(
                    workers.c.id == self.id
                )
            ).first()
        if row is None or not row.stop_requested:
            return None
        return str(row.stop_reason or "stopped from the console")

    @retrying
    def live_on_host(self) -> int:
        """Workers on this host sharing its cores (self too): not exited, their pid alive,
        and beating on time (within two intervals plus the poll, as the registry's "alive").
        A worker killed a moment ago, or paused, is not counted: its row still looks recent
        for the whole grace period, but it uses no core."""
        import sqlalchemy as sa

        from .registry import ALIVE_BEATS, pid_alive

        workers = TABLES.workers
        now = time.time()
        with self.engine.connect() as c:
            rows = c.execute(
                sa.select(
                    workers.c.id, workers.c.pid, workers.c.heartbeat_at,
                    workers.c.heartbeat_interval,
                ).where(workers.c.host == platform.node(), workers.c.exited_at.is_(None))
            ).all()  # fmt: skip
        live = [
            r
            for r in rows
            if r.id == self.id
            or (
                now - r.heartbeat_at < ALIVE_BEATS * r.heartbeat_interval + POLL_SECONDS
                and pid_alive(r.pid)
            )
        ]
        return max(1, len(live))

    def exit(self, reason: str) -> None:
        try:
            self.update(exited_at=time.time(), exit_reason=reason[:500], trial_id=None)
        except Exception as exc:  # a full disk or read-only database: say so, don't mask
            log.warning("could not record this worker's exit: %s", first_line(exc))


def _own_log_path() -> str | None:
    """The file our stdout goes to, when it is one (a detached worker's log)."""
    try:
        target = os.readlink("/proc/self/fd/1")
    except OSError:
        return None
    return target if target.startswith("/") and target.endswith(".log") else None


class LoadSampler:
    """GPU utilisation and memory through NVML when on CUDA, else CPU percent and RSS of this
    process through psutil. Either library may be missing: its figures stay None."""

    def __init__(self, device: str | None) -> None:
        self._process: Any = None
        self._nvml: Any = None
        self._handle: Any = None
        try:
            import psutil

            self._process = psutil.Process()
            self._process.cpu_percent(None)  # the first call only starts the interval
        except Exception:
            self._process = None
        if device and device.startswith("cuda"):
            self._open_nvml(device)

    def _open_nvml(self, device: str) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
            index = int(device.split(":", 1)[1]) if ":" in device else 0
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
            ids = [part.strip() for part in visible.split(",") if part.strip()]
            if ids and all(i.isdigit() for i in ids) and index < len(ids):
                index = int(ids[index])  # CUDA's index -> NVML's
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self._nvml = pynvml
        except Exception:
            self._nvml = self._handle = None

    def sample(self) -> dict[str, Any]:
        load: dict[str, Any] = {}
        if self._process is not None:
            try:
                load["cpu_percent"] = float(self._process.cpu_percent(None))
                load["rss_bytes"] = int(self._process.memory_info().rss)
            except Exception:
                pass
        if self._nvml is not None:
            try:
                load["gpu_util"] = float(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)
                load["gpu_mem_bytes"] = int(self._gpu_memory())
            except Exception:
                pass
        return load

    def _gpu_memory(self) -> int:
        pid = os.getpid()
        for process in self._nvml.nvmlDeviceGetComputeRunningProcesses(self._handle):
            if process.pid == pid and process.usedGpuMemory:
                return int(process.usedGpuMemory)
        return int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)


class Heartbeat:
    """One daemon thread per worker: every `interval` it beats the current trial (Optuna's
    heartbeat) and the worker row (time, trial, load); every second it checks for a stop
    request (`on_stop(reason)`) and whether the current trial was failed by someone else
    (`on_taken(trial_id)`)."""

    def __init__(
        self,
        storage: Any,
        row: WorkerRow,
        interval: float,
        *,
        on_stop: Callable[[str], None],
        on_taken: Callable[[int], None],
        load: LoadSampler | None = None,
    ) -> None:
        self.storage, self.row, self.interval = storage, row, interval
        self.on_stop, self.on_taken, self.load = on_stop, on_taken, load
        self.trial_id: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hptui-heartbeat", daemon=True)
        self._stop_heard = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def begin_trial(self, trial_id: int) -> None:
        """Beat the trial now (before training starts), then every interval."""
        self.storage.record_heartbeat(trial_id)
        self.row.update(trial_id=trial_id, heartbeat_at=time.time())
        self.trial_id = trial_id

    def end_trial(self) -> None:
        self.trial_id = None

    def _run(self) -> None:
        next_beat = time.monotonic()
        while not self._stop.wait(min(POLL_SECONDS, self.interval)):
            trial_id = self.trial_id
            try:
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.interval
                    self._beat(trial_id)
                self._poll(trial_id)
            except Exception as exc:  # a missed beat is retried; only a long silence fails it
                log.warning("heartbeat failed (retrying): %s", first_line(exc))

    def _beat(self, trial_id: int | None) -> None:
        if trial_id is not None:
            self.storage.record_heartbeat(trial_id)
        values: dict[str, Any] = {"heartbeat_at": time.time(), "trial_id": trial_id}
        if self.load is not None:
            values.update(self.load.sample())
        self.row.update(**values)

    def _poll(self, trial_id: int | None) -> None:
        if not self._stop_heard:
            reason = self.row.stop_request()
            if reason is not None:
                self._stop_heard = True
                self.on_stop(reason)
        if (
            trial_id is not None
            and trial_id == self.trial_id
            and not _is_running(self.row.engine, trial_id)
        ):
            self.on_taken(trial_id)


@retrying
def _is_running(engine: sa.Engine, trial_id: int) -> bool:
    import sqlalchemy as sa

    with engine.connect() as c:
        state = c.execute(
            sa.text("SELECT state FROM trials WHERE trial_id = :t"), {"t": trial_id}
        ).scalar()
    return str(getattr(state, "name", state)) == "RUNNING"
