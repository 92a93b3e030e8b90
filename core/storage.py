"""Where studies live: Optuna's own RDB storage, plus hptui's tables beside it.

Optuna's tables hold studies, trials, params, values and attributes, so `optuna-dashboard
sqlite:///runs.db` shows the same study and PostgreSQL shares it across hosts. hptui adds
tables Optuna has no place for, in the same database, through SQLAlchemy (so SQLite and
PostgreSQL both work): per-step curves, per-evaluation metrics, a trial event log that
readers follow with a cursor, and the slots that make "N trials in total" exact across
workers.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import HptuiError

if TYPE_CHECKING:
    import sqlalchemy as sa
    from optuna.storages import RDBStorage

DEFAULT_STORAGE = "sqlite:///runs.db"
# Seconds a writer waits for a SQLite lock before giving up: generous, so a reader holding
# a long transaction or another worker committing never fails a trial.
SQLITE_BUSY_TIMEOUT = 120
HEARTBEAT_INTERVAL = 10
HEARTBEAT_GRACE = 60


class StorageError(HptuiError):
    """The storage URL is malformed or the database cannot be reached."""


def sqlite_path(url: str) -> Path | None:
    """The file behind a sqlite:/// URL, or None for other databases."""
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///")).expanduser()


def log_dir_for(url: str) -> Path:
    """Worker logs go next to the SQLite file, or under ./hptui-logs for a server."""
    path = sqlite_path(url)
    base = path.resolve().parent if path else Path.cwd()
    return base / "hptui-logs"


def _prepare_sqlite(path: Path) -> None:
    """WAL lets readers and the writer work at once; the setting persists in the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


def _engine_kwargs(url: str) -> dict[str, Any]:
    if sqlite_path(url) is not None:
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}}
    return {"pool_pre_ping": True}


_lock = threading.Lock()
_optuna_storages: dict[tuple[str, tuple[int, int] | None], RDBStorage] = {}
_engines: dict[str, sa.Engine] = {}


def optuna_storage(url: str, *, heartbeat: tuple[int, int] | None = None) -> RDBStorage:
    """Optuna's RDB storage for `url` (one per process and mode). Workers pass
    `heartbeat=(interval, grace)` seconds: a trial whose worker stops beating for `grace`
    seconds is failed by the next worker or reader that looks, and retried once."""
    key = (url, heartbeat)
    with _lock:
        if key in _optuna_storages:
            return _optuna_storages[key]
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Heartbeats and stale-trial retries are marked experimental; hptui relies on them.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    path = sqlite_path(url)
    if path is not None:
        _prepare_sqlite(path)
    kwargs: dict[str, Any] = {}
    if heartbeat:
        kwargs = {
            "heartbeat_interval": heartbeat[0],
            "grace_period": heartbeat[1],
            "heartbeat_stale_trial_callback": retry_once(),
        }
    try:
        storage = optuna.storages.RDBStorage(url, engine_kwargs=_engine_kwargs(url), **kwargs)
    except Exception as exc:  # sqlalchemy raises many types for bad URLs and dead servers
        raise StorageError(f"cannot open storage {url!r}: {exc}") from exc
    with _lock:
        return _optuna_storages.setdefault(key, storage)


def retry_once() -> Any:
    """Optuna's callback that queues a failed trial again, with the same parameters, once."""
    import optuna

    return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)


def engine(url: str) -> sa.Engine:
    """A SQLAlchemy engine for hptui's own tables (created on first use)."""
    with _lock:
        if url in _engines:
            return _engines[url]
    import sqlalchemy as sa

    path = sqlite_path(url)
    if path is not None:
        _prepare_sqlite(path)
    created = sa.create_engine(url, **_engine_kwargs(url))
    TABLES.metadata.create_all(created)
    with _lock:
        return _engines.setdefault(url, created)


class _Tables:
    """hptui's tables, built lazily so importing this module does not import SQLAlchemy."""

    _built: dict[str, Any] | None = None

    def _build(self) -> dict[str, Any]:
        import sqlalchemy as sa

        metadata = sa.MetaData()
        steps = sa.Table(
            "hptui_steps", metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("trial_id", sa.Integer, nullable=False, index=True),
            sa.Column("step", sa.Integer, nullable=False),
            sa.Column("epoch", sa.Integer, nullable=False),
            sa.Column("epoch_progress", sa.Float),
            sa.Column("loss", sa.Float),
            sa.Column("learning_rate", sa.Float),
            sa.Column("grad_norm", sa.Float),
            sa.Column("examples_per_s", sa.Float),
        )  # fmt: skip
        evals = sa.Table(
            "hptui_evals", metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("trial_id", sa.Integer, nullable=False, index=True),
            sa.Column("step", sa.Integer, nullable=False),
            sa.Column("epoch", sa.Integer, nullable=False),
            sa.Column("end_of_epoch", sa.Boolean, nullable=False),
            sa.Column("loss", sa.Float),
            sa.Column("accuracy", sa.Float),
            sa.Column("f1", sa.Float),
            sa.Column("precision", sa.Float),
            sa.Column("recall", sa.Float),
            sa.Column("seconds", sa.Float),
        )  # fmt: skip
        events = sa.Table(
            "hptui_trial_events", metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("study_id", sa.Integer, nullable=False, index=True),
            sa.Column("trial_id", sa.Integer, nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("reason", sa.Text),
            sa.Column("at", sa.Float, nullable=False),
        )  # fmt: skip
        slots = sa.Table(
            "hptui_slots", metadata,
            sa.Column("study_id", sa.Integer, primary_key=True),
            sa.Column("slot", sa.Integer, primary_key=True),
            sa.Column("trial_id", sa.Integer, nullable=True),
            sa.Column("claimed_at", sa.Float, nullable=False),
        )  # fmt: skip
        # One row per worker process (see core/workers.py): who runs what where, its
        # heartbeat and device load, and the stop request that reaches it through the database.
        workers = sa.Table(
            "hptui_workers", metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("study_id", sa.Integer, nullable=False, index=True),
            sa.Column("host", sa.String(255), nullable=False),
            sa.Column("pid", sa.Integer, nullable=False),
            sa.Column("device", sa.String(64)),
            sa.Column("threads", sa.Integer),
            sa.Column("sampler_seed", sa.Integer),
            sa.Column("heartbeat_interval", sa.Float, nullable=False),
            sa.Column("grace_period", sa.Float, nullable=False),
            sa.Column("started_at", sa.Float, nullable=False),
            sa.Column("heartbeat_at", sa.Float, nullable=False),
            sa.Column("trial_id", sa.Integer, nullable=True),
            sa.Column("stop_requested", sa.Boolean, nullable=False, default=False),
            sa.Column("stop_reason", sa.Text),
            sa.Column("exited_at", sa.Float),
            sa.Column("exit_reason", sa.Text),
            sa.Column("gpu_util", sa.Float),
            sa.Column("gpu_mem_bytes", sa.BigInteger),
            sa.Column("cpu_percent", sa.Float),
            sa.Column("rss_bytes", sa.BigInteger),
            sa.Column("log_path", sa.Text),
        )  # fmt: skip
        return {
            "metadata": metadata, "steps": steps, "evals": evals,
            "events": events, "slots": slots, "workers": workers,
        }  # fmt: skip

    def __getattr__(self, name: str) -> Any:
        if _Tables._built is None:
            _Tables._built = self._build()
        try:
            return _Tables._built[name]
        except KeyError:
            raise AttributeError(name) from None


TABLES = _Tables()
