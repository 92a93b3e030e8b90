"""The worker registry: one row per worker process in `hptui_workers`, so a front end (on this
host or another sharing the database) sees who trains what where, and can stop one.

A worker writes its row when it starts, beats it (heartbeat time, current trial, device load)
from its heartbeat thread, and writes why it exited. A stop request is a flag on the row: the
worker's heartbeat thread reads it, so it reaches a worker on any host that shares the
storage, not only one a signal can reach. Readers here never create or change anything.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hptui.core.errors import ConfigError, HptuiError
from hptui.core.studies.identity import orphaned_ids
from hptui.core.studies.storage import TABLES, engine, log_dir_for, sqlite_path

if TYPE_CHECKING:
    import sqlalchemy as sa

# A worker is "alive" while its last beat is younger than this many intervals, "stale" up to
# its grace period, then "gone". Gone workers are listed for an hour, then only on request.
ALIVE_BEATS = 2
FORGET_GONE_SECONDS = 3600
STOP_REASON = "stopped from the console"
STATUSES = ("alive", "stale", "gone", "stopping", "exited")


class WorkerError(HptuiError):
    """A worker id that does not exist, or a worker that cannot be started."""


@dataclass(frozen=True)
class WorkerInfo:
    """One worker process as its row says, with a status derived from its heartbeat."""

    worker_id: int
    study_name: str
    host: str
    pid: int
    device: str | None
    threads: int | None
    started_at: float
    heartbeat_at: float
    trial_number: int | None
    status: str  # "alive" | "stale" | "gone" | "stopping" | "exited"
    stop_requested: bool
    exit_reason: str | None
    gpu_util: float | None
    gpu_mem_bytes: int | None
    cpu_percent: float | None
    rss_bytes: int | None
    sampler_seed: int | None = None
    log_path: str | None = None
    exited_at: float | None = None

    def heartbeat_age(self, now: float | None = None) -> float:
        """Seconds since the worker's last beat (its exit, once it has exited)."""
        last = self.exited_at if self.exited_at is not None else self.heartbeat_at
        return max(0.0, (time.time() if now is None else now) - last)


@dataclass(frozen=True)
class StartedWorker:
    pid: int
    log_path: Path
    gpu: str | None = None  # "GPU 0 (NVIDIA H200) slot 2" when packed with --per-gpu


_read_engines: dict[str, sa.Engine] = {}
_read_lock = threading.Lock()


def _read_engine(storage_url: str) -> sa.Engine | None:
    """An engine that creates nothing: None if a SQLite file does not exist yet."""
    import sqlalchemy as sa

    path = sqlite_path(storage_url)
    if path is not None and not path.is_file():
        return None
    with _read_lock:
        if storage_url not in _read_engines:
            kwargs: dict[str, Any] = (
                {"connect_args": {"timeout": 30}} if path else {"pool_pre_ping": True}
            )
            _read_engines[storage_url] = sa.create_engine(storage_url, **kwargs)
        return _read_engines[storage_url]


def list_workers(
    storage_url: str, study_name: str | None = None, *, include_exited: bool = False
) -> list[WorkerInfo]:
    """The worker processes of one study (or all), oldest first. Only reads: a database
    without the workers table (or no database at all) gives []. Exited workers, and workers
    gone for over an hour, are left out unless `include_exited`."""
    import sqlalchemy as sa

    read = _read_engine(storage_url)
    if read is None:
        return []
    workers = TABLES.workers
    with read.connect() as c:
        inspector = sa.inspect(c)
        if not (inspector.has_table("hptui_workers") and inspector.has_table("studies")):
            return []
        names: dict[int, str] = {
            r[0]: r[1] for r in c.execute(sa.text("SELECT study_id, study_name FROM studies"))
        }
        query = sa.select(workers).order_by(workers.c.id)
        if study_name is not None:
            ids = [study_id for study_id, name in names.items() if name == study_name]
            if not ids:
                return []
            query = query.where(workers.c.study_id == ids[0])
        if not include_exited:
            query = query.where(workers.c.exited_at.is_(None))
        orphans = orphaned_ids(c)  # rows of a deleted study whose id was reused
        if orphans:
            query = query.where(workers.c.study_id.not_in(sorted(orphans)))
        rows = c.execute(query).mappings().all()
        trial_ids = sorted({r["trial_id"] for r in rows if r["trial_id"] is not None})
        numbers: dict[int, int] = {}
        if trial_ids:
            by_id = sa.text("SELECT trial_id, number FROM trials WHERE trial_id IN :ids")
            by_id = by_id.bindparams(sa.bindparam("ids", expanding=True))
            numbers = {r[0]: r[1] for r in c.execute(by_id, {"ids": trial_ids})}
    now, here = time.time(), platform.node()
    result = []
    for row in rows:
        status = worker_status(row, now, here)
        forgotten = status == "gone" and now - row["heartbeat_at"] > FORGET_GONE_SECONDS
        if forgotten and not include_exited:
            continue
        result.append(
            WorkerInfo(
                worker_id=row["id"],
                study_name=names.get(row["study_id"], f"#{row['study_id']}"),
                host=row["host"],
                pid=row["pid"],
                device=row["device"],
                threads=row["threads"],
                started_at=row["started_at"],
                heartbeat_at=row["heartbeat_at"],
                trial_number=numbers.get(row["trial_id"]) if row["trial_id"] else None,
                status=status,
                stop_requested=bool(row["stop_requested"]),
                exit_reason=row["exit_reason"],
                gpu_util=row["gpu_util"],
                gpu_mem_bytes=row["gpu_mem_bytes"],
                cpu_percent=row["cpu_percent"],
                rss_bytes=row["rss_bytes"],
                sampler_seed=row["sampler_seed"],
                log_path=row["log_path"],
                exited_at=row["exited_at"],
            )
        )
    return result


def worker_status(row: Any, now: float, this_host: str) -> str:
    """exited > gone (no beat within its grace, or its pid is dead on this host) > stopping >
    alive (beat within two intervals) > stale."""
    if row["exited_at"] is not None:
        return "exited"
    age = now - row["heartbeat_at"]
    if age > row["grace_period"] or (row["host"] == this_host and not pid_alive(row["pid"])):
        return "gone"
    if row["stop_requested"]:
        return "stopping"
    return "alive" if age < ALIVE_BEATS * row["heartbeat_interval"] else "stale"


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a live (not zombie) hptui process on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    try:
        if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
        return b"hptui" in (proc / "cmdline").read_bytes()  # a reused pid is not our worker
    except (OSError, IndexError):
        return True  # no /proc (macOS): the signal test is all there is


def request_stop(storage_url: str, worker_id: int, reason: str = STOP_REASON) -> None:
    """Ask a worker to stop: its current trial ends as FAIL with `reason` (and is retried
    once: the parameters were not at fault), then it exits. Travels through the database,
    so it reaches workers on other hosts; the worker sees it within about a second."""
    with engine(storage_url).begin() as c:
        workers = TABLES.workers
        updated = c.execute(
            workers.update()
            .where(workers.c.id == worker_id, workers.c.exited_at.is_(None))
            .values(stop_requested=True, stop_reason=reason)
        )
    if updated.rowcount != 1:
        raise WorkerError(f"no running worker {worker_id} in {storage_url}")


def start_workers(
    storage_url: str,
    study_name: str,
    count: int,
    trials: int,
    *,
    device: str | None = None,
    data_dir: str | None = None,
    threads: int | None = None,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    per_gpu: int | None = None,
) -> list[StartedWorker]:
    """Start `count` detached workers for the study (each in a session of its own, logging
    under hptui-logs next to the database) and return at once. Each worker records itself in
    the registry when it starts, so `list_workers` shows it a moment later. With `per_gpu`,
    `count` is ignored: `per_gpu` workers on every visible GPU (see `start_packed`)."""
    from hptui.core.studies.settings import load_settings

    if per_gpu is not None:
        return start_packed(
            storage_url, study_name, per_gpu, trials, device=device, data_dir=data_dir,
            threads=threads, heartbeat_interval=heartbeat_interval, grace_period=grace_period,
        ).started  # fmt: skip
    if count < 1:
        raise ConfigError("count", "start at least 1 worker")
    if trials < 1:
        raise ConfigError("trials", "the study's trial total must be at least 1")
    if threads is not None and threads < 1:
        raise ConfigError("threads", "must be at least 1")
    load_settings(study_name, storage_url)  # fail here, not in N detached logs
    return [
        spawn_worker(
            storage_url, study_name, trials, device=device, data_dir=data_dir, threads=threads,
            heartbeat_interval=heartbeat_interval, grace_period=grace_period,
        )
        for _ in range(count)
    ]  # fmt: skip


@dataclass(frozen=True)
class PackedStart:
    """What `start_packed` did: the workers, where they went, and whether MPS is in use."""

    started: list[StartedWorker]
    mps_line: str


def start_packed(
    storage_url: str,
    study_name: str,
    per_gpu: int,
    trials: int,
    *,
    device: str | None = None,
    gpus: list[Any] | None = None,
    **options: Any,
) -> PackedStart:
    """`per_gpu` detached workers on every visible GPU, each seeing only its own card
    (CUDA_VISIBLE_DEVICES) and training on it as `cuda`. Checked before anything starts:
    the study exists, the host has a GPU, and N x the study's measured per-trial peak fits
    in each card's free memory (core/workers/placement.py); a refusal is a ConfigError."""
    from hptui.core.studies.settings import load_settings

    from .placement import mps_status, plan_placements, study_peak_bytes, visible_gpus

    if device not in (None, "", "auto", "cuda"):
        raise ConfigError(
            "--device",
            f"{device} with --per-gpu: packed workers each get one GPU as `cuda`; "
            "leave --device out",
        )
    if trials < 1:
        raise ConfigError("trials", "the study's trial total must be at least 1")
    load_settings(study_name, storage_url)  # fail here, not in N detached logs
    found = visible_gpus() if gpus is None else gpus
    placements = plan_placements(
        found, per_gpu, study_peak_bytes(storage_url, study_name), study=study_name
    )
    mps = mps_status()
    started = []
    for placement in placements:
        worker = spawn_worker(
            storage_url, study_name, trials, device="cuda", env=placement.env, **options
        )
        started.append(StartedWorker(worker.pid, worker.log_path, placement.describe()))
    return PackedStart(started, mps.line())


_spawned = 0


def spawn_worker(
    storage_url: str,
    study_name: str,
    trials: int,
    *,
    device: str | None = None,
    data_dir: str | None = None,
    threads: int | None = None,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    env: dict[str, str] | None = None,
) -> StartedWorker:
    """Start one `hptui worker` in a new session (a closed terminal or dropped SSH does not
    stop it), output to `hptui-logs/STUDY-TIME-PID.log`, PID being the worker's own. The
    storage URL goes through the environment, so a password never shows in `ps`; `env`
    adds variables (a packed worker's CUDA_VISIBLE_DEVICES)."""
    arguments = ["worker", study_name, "--trials", str(trials)]
    options = (
        ("--data-dir", data_dir), ("--device", device), ("--threads", threads),
        ("--heartbeat", heartbeat_interval), ("--grace", grace_period),
    )  # fmt: skip
    for flag, value in options:
        if value is not None and value != "":
            arguments += [flag, str(value)]
    return spawn_hptui(storage_url, study_name, arguments, env=env)


def spawn_hptui(
    storage_url: str,
    study_name: str,
    arguments: list[str],
    kind: str = "",
    env: dict[str, str] | None = None,
) -> StartedWorker:
    """Start `hptui ARGUMENTS` detached, as `spawn_worker` does (a session of its own, the
    storage URL in its environment plus `env`, output to
    `hptui-logs/STUDY[-KIND]-TIME-PID.log`)."""
    global _spawned
    log_dir = log_dir_for(storage_url)
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", study_name)[:80] or "study"
    if kind:
        safe_name = f"{safe_name}-{kind}"
    _spawned += 1
    pending = log_dir / f"{safe_name}-{stamp}-starting-{os.getpid()}-{_spawned}.log"
    command = [sys.executable, "-m", "hptui", *arguments]
    child_env = dict(os.environ, **(env or {}), HPTUI_STORAGE=storage_url)
    with open(pending, "ab") as log_file, open(os.devnull, "rb") as devnull:
        process = subprocess.Popen(
            command, stdin=devnull, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, cwd=Path.cwd(), env=child_env,
        )  # fmt: skip
    log_path = log_dir / f"{safe_name}-{stamp}-{process.pid}.log"
    os.replace(pending, log_path)  # the child keeps writing to the same open file
    # Reap it when it exits, so a long-lived parent (the console) holds no zombies.
    threading.Thread(target=process.wait, name="hptui-reaper", daemon=True).start()
    return StartedWorker(process.pid, log_path)
