"""What the console's worker pane shows: every worker of the storage with its state and, once
it has exited, why; and the tail of one worker's log, followed while it runs.

A worker that fails (its data missing, say) or finishes writes its exit reason into its
registry row and leaves; without this feed it vanished from the console with the reason only
in its log file. `WorkersFeed.poll()` keeps exited workers (the most recent ones) next to the
live ones; `LogTail.poll()` reads only the bytes a log gained since the last poll. Both are
polled from a front end's thread worker and hand back frozen objects; nothing here imports a
front end.
"""

from __future__ import annotations

import platform
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from hptui.core.studies.store import Store
from hptui.core.workers.registry import WorkerInfo

# Exited workers kept in the pane (newest first beyond this are left out): a study that ran
# for weeks has hundreds, and the last few are the ones a user asks about.
KEEP_EXITED = 50
# How much of a log the first read takes from its end, and how many lines are kept.
TAIL_BYTES = 64 * 1024
TAIL_LINES = 500


@dataclass(frozen=True)
class WorkersUpdate:
    """The storage's workers, live ones first (oldest first), then the exited, newest first."""

    workers: tuple[WorkerInfo, ...]
    exited_hidden: int  # exited workers left out (beyond KEEP_EXITED, or all when hidden)
    read_seconds: float
    # Workers that exited since the previous poll (none on the first): what a front end
    # says out loud, so a worker never stops without a word.
    newly_exited: tuple[WorkerInfo, ...] = ()

    @property
    def live(self) -> tuple[WorkerInfo, ...]:
        return tuple(w for w in self.workers if w.status != "exited")


class WorkersFeed:
    """Reads the worker registry through the store. Not thread-safe: one poller."""

    def __init__(self, store: Store, study: str | None = None) -> None:
        self.store, self.study = store, study
        self.show_exited = True
        self._exited: set[int] | None = None  # ids seen exited; None before the first poll

    def poll(self) -> WorkersUpdate:
        started = time.perf_counter()
        every = self.store.workers(self.study, include_exited=True)
        running = [w for w in every if w.status != "exited"]
        exited = sorted(
            (w for w in every if w.status == "exited"),
            key=lambda w: w.exited_at or w.heartbeat_at,
            reverse=True,
        )
        shown = exited[:KEEP_EXITED] if self.show_exited else []
        known = self._exited
        self._exited = {w.worker_id for w in exited}
        newly = () if known is None else tuple(w for w in exited if w.worker_id not in known)
        return WorkersUpdate(
            workers=tuple(running + shown),
            exited_hidden=len(exited) - len(shown),
            read_seconds=time.perf_counter() - started,
            newly_exited=newly,
        )


def finished_well(worker: WorkerInfo) -> bool:
    """An exit that is no problem: the study's trials were all taken, or a stop was asked."""
    reason = worker.exit_reason or ""
    return reason in ("done", "no trial left to run") or reason.startswith("stopped")


def state_line(worker: WorkerInfo) -> str:
    """The worker's state in words: `exited: <reason>`, `stopping`, `alive`..."""
    if worker.status == "exited":
        return f"exited: {worker.exit_reason or 'no reason recorded'}"
    if worker.status == "gone":
        return "gone: no heartbeat (killed, or its host went away)"
    return worker.status


@dataclass(frozen=True)
class LogUpdate:
    """What a log gained since the last poll. `reset`: the view starts over with `lines`
    (the first read, or the file was truncated or replaced). `note`: why there is no log to
    show here (on another host, not a detached worker, missing), else None."""

    lines: tuple[str, ...]
    reset: bool
    where: str
    note: str | None
    running: bool


class LogTail:
    """The end of one worker's log file, read incrementally (by byte offset)."""

    def __init__(self, store: Store, worker: WorkerInfo, lines: int = TAIL_LINES) -> None:
        self.store, self.worker_id = store, worker.worker_id
        self.worker = worker
        self._offset: int | None = None
        self._inode: int | None = None
        self._partial = ""
        self._kept: deque[str] = deque(maxlen=lines)
        self._path = self._find(worker)

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def lines(self) -> tuple[str, ...]:
        """Every line kept so far (the last `lines` of the log)."""
        return tuple(self._kept)

    def _find(self, worker: WorkerInfo) -> Path | None:
        """The log the worker recorded, or (a row without one, written before the path
        was recorded) the detached log named after its pid in the storage's log folder."""
        if worker.log_path:
            return Path(worker.log_path)
        if worker.host != platform.node():
            return None
        found = sorted(self.store.log_dir.glob(f"*-{worker.pid}.log")) if self._has_dir() else []
        return found[-1] if found else None

    def _has_dir(self) -> bool:
        try:
            return self.store.log_dir.is_dir()
        except OSError:
            return False

    def _refresh_worker(self) -> WorkerInfo:
        for worker in self.store.workers(self.worker.study_name, include_exited=True):
            if worker.worker_id == self.worker_id:
                self.worker = worker
                break
        return self.worker

    def poll(self) -> LogUpdate:
        worker = self._refresh_worker()
        running = worker.status != "exited"
        where = f"{self._path or 'no log file'} on {worker.host}"
        if worker.host != platform.node():
            note = (
                f"worker {worker.worker_id} runs on host {worker.host}: its log is there"
                + (f", in {self._path}" if self._path else "")
                + f" (this console runs on {platform.node()})"
            )
            return LogUpdate((), self._offset is None, where, note, running)
        if self._path is None:
            note = (
                f"worker {worker.worker_id} has no log file: it was started by hand, "
                "so it writes to the terminal it was started in"
            )
            return LogUpdate((), self._offset is None, where, note, running)
        return self._read(where, running)

    def _read(self, where: str, running: bool) -> LogUpdate:
        assert self._path is not None
        try:
            stat = self._path.stat()
        except OSError:
            note = f"the log {self._path} is gone (deleted or moved)"
            reset, self._offset = self._offset is None, 0
            return LogUpdate((), reset, where, note, running)
        reset = self._offset is None or stat.st_size < self._offset or stat.st_ino != self._inode
        if reset:
            self._kept.clear()
            self._partial = ""
            self._offset = max(0, stat.st_size - TAIL_BYTES)
            self._inode = stat.st_ino
        assert self._offset is not None
        try:
            with open(self._path, "rb") as file:
                file.seek(self._offset)
                data = file.read()
        except OSError as exc:  # unreadable (permissions): say so, keep polling
            note = f"cannot read the log {self._path}: {exc.strerror or exc}"
            return LogUpdate((), reset, where, note, running)
        start = self._offset
        self._offset += len(data)
        if reset and start > 0:  # the tail starts inside a line: drop that part
            data = data.split(b"\n", 1)[1] if b"\n" in data else b""
        text = self._partial + data.decode("utf-8", errors="replace").replace("\r\n", "\n")
        parts = text.split("\n")
        last = parts.pop()  # "" after a final newline, else a line still being written
        # A line still being written waits for its newline, unless the worker is done.
        if running:
            self._partial = last
        else:
            self._partial = ""
            if last:
                parts.append(last)
        # A progress bar redraws its line with carriage returns: keep what it shows last.
        parts = [part.rsplit("\r", 1)[-1] for part in parts]
        self._kept.extend(parts)
        return LogUpdate(tuple(parts), reset, where, None, running)
