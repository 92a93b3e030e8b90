"""Where studies live: Optuna's own RDB storage, plus hptui's tables beside it.

Optuna's tables hold studies, trials, params, values and attributes, so `optuna-dashboard
sqlite:///runs.db` shows the same study and PostgreSQL shares it across hosts. hptui adds
tables Optuna has no place for, in the same database, through SQLAlchemy (so SQLite and
PostgreSQL both work): per-step curves, per-evaluation metrics, a trial event log that
readers follow with a cursor, and the slots that make "N trials in total" exact across
workers.

Two ways in. Writers (`study create`, workers, imports) open a storage normally: hptui's
tables are created with the study, race-safely, so workers started at the same instant on a
fresh study never trip over each other. Readers pass `read_only=True`: SQLite is opened with
`mode=ro` (so a file the user may only read works), PostgreSQL sessions are read-only
transactions, nothing is created or upgraded, and a missing, foreign or damaged database is a
one-line `StorageError` naming the file and the fix.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hptui.core.errors import HptuiError, first_line

if TYPE_CHECKING:
    import sqlalchemy as sa
    from optuna.storages import RDBStorage

DEFAULT_STORAGE = "sqlite:///runs.db"
# Seconds a writer waits for a SQLite lock before giving up: generous, so a reader holding
# a long transaction or another worker committing never fails a trial.
SQLITE_BUSY_TIMEOUT = 120
HEARTBEAT_INTERVAL = 10
HEARTBEAT_GRACE = 60
# Tables every Optuna RDB storage has; a database without them is not Optuna's.
OPTUNA_TABLES = ("studies", "trials", "version_info", "alembic_version")
# The schema revision of the installed Optuna's RDB storage (`RDBStorage.get_head_version()`;
# a test keeps this in step), checked by plain-SQL readers.
OPTUNA_SCHEMA = "v3.2.0.a"
# Tries at creating tables when another process creates them at the same moment.
CREATE_TRIES = 8
# Seconds a checkpoint at exit waits for other processes' transactions before leaving the
# write-ahead log as it is (it holds the write lock meanwhile, so keep it short).
CHECKPOINT_TIMEOUT = 2
# redact()'s pieces: single-character classes and one `+`, nothing nested, so a scan of a
# long text is linear (the one-regex version backtracked: 80,000 letters took 11 s).
_WHITESPACE_RUNS = re.compile(r"(\s+)")
_USER_END = re.compile(r"[:/@]")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")


class StorageError(HptuiError):
    """The storage URL is malformed or the database cannot be reached."""


def redact(text: str) -> str:
    """`text` with the password of every database URL in it replaced by ***, for anything
    printed or logged (`postgresql://me:secret@host/db` -> `postgresql://me:***@host/db`)."""
    if "://" not in text:
        return text
    return "".join(_redact_word(word) for word in _WHITESPACE_RUNS.split(text))


def _redact_word(word: str) -> str:
    """One whitespace-free piece: each `SCHEME://USER:SECRET@` in it with SECRET (up to the
    next `@`) replaced. Each character is looked at a bounded number of times: the scheme
    walk stops at the `:/` before it, the user scan at the next `:/@`, the secret scan at
    the next `@`, and a secret with no `@` after it ends the piece."""
    parts: list[str] = []
    done = search = 0
    while (sep := word.find("://", search)) >= 0:
        search = sep + 1
        start = sep
        while start > done and word[start - 1] in _SCHEME_CHARS:
            start -= 1
        if not any("a" <= ch.lower() <= "z" for ch in word[start:sep]):
            continue  # a scheme starts with a letter
        found = _USER_END.search(word, sep + 3)
        if found is None or found.group() != ":":
            continue
        at = word.find("@", found.start())
        if at < 0:
            break  # no `@` anywhere after: no secret further on either
        parts += [word[done : found.start()], ":***@"]
        done = search = at + 1
    return "".join(parts) + word[done:]


def sqlite_path(url: str) -> Path | None:
    """The file behind a sqlite:/// URL, or None for other databases."""
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///")).expanduser()


def check_url(url: str) -> None:
    """Refuse a storage URL hptui cannot use, naming it and the fix (cheap: no imports)."""
    fix = "use sqlite:///FILE.db or postgresql://USER@HOST/DB"
    if not url or any(ord(ch) < 32 for ch in url):
        raise StorageError(f"--storage {url!r}: empty or has control characters; {fix}")
    if url.startswith("sqlite:") and not url.startswith("sqlite:///"):
        raise StorageError(f"--storage {url!r}: an in-memory or malformed SQLite URL; {fix}")
    path = sqlite_path(url)
    if path is not None and (not str(path).strip() or str(path) in (".", "/")):
        raise StorageError(f"--storage {url!r}: no file name; e.g. sqlite:///runs.db")
    if path is None and "://" not in url:
        raise StorageError(f"--storage {redact(url)!r}: not a database URL; {fix}")


def log_dir_for(url: str) -> Path:
    """Worker logs go next to the SQLite file, or under ./hptui-logs for a server."""
    path = sqlite_path(url)
    base = path.resolve().parent if path else Path.cwd()
    return base / "hptui-logs"


def require_database(url: str) -> None:
    """A command that needs an existing study refuses a missing SQLite file before anything
    creates it (a mistyped --storage must not leave an empty database behind), and an empty
    file or another program's database before Optuna's and hptui's tables are added to it."""
    check_url(url)
    path = sqlite_path(url)
    if path is not None:
        sqlite_tables(path)  # read only: missing, foreign, empty or damaged is one line


def check_existing_file(url: str) -> None:
    """If the SQLite file is there, it must be a SQLite database (any command, before it
    does anything else); a missing file is left to the command to create or refuse."""
    path = sqlite_path(url)
    if path is None or not path.exists():
        return
    _readable_file(path)
    try:
        connection = _connect_read_only(path)
        connection.close()
    except sqlite3.Error as exc:
        raise _describe_sqlite_error(path, exc) from None


def _readable_file(path: Path) -> None:
    if path.is_dir():
        raise StorageError(
            f"{path}: is a folder, not a database file; pass --storage sqlite:///FILE"
        )
    if not path.exists():
        raise StorageError(
            f"{path}: no such database; create a study there with `hptui study create NAME "
            f"--space FILE.toml --storage sqlite:///{path}`, or pass --storage (or set "
            "$HPTUI_STORAGE) to point at an existing one"
        )


def _describe_sqlite_error(path: Path, exc: BaseException) -> StorageError:
    """One line for what SQLite said about a file."""
    text = str(exc) or type(exc).__name__
    if "not a database" in text or "malformed" in text or "encrypted" in text:
        return StorageError(f"{path}: not a SQLite database ({text})")
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return StorageError(
            f"{path}: cannot be written ({text}); check the permissions of the file and its "
            "folder, or pass --storage to use another file"
        )
    return StorageError(f"{path}: {text}")


def _prepare_sqlite(path: Path) -> None:
    """WAL lets readers and the writer work at once; the setting persists in the file."""
    if path.is_dir():
        raise StorageError(
            f"{path}: is a folder, not a database file; pass --storage sqlite:///FILE"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise _describe_sqlite_error(path, exc) from None
    except OSError as exc:
        raise StorageError(f"{path}: cannot create its folder ({exc.strerror})") from None


class _ReadConnection(sqlite3.Connection):
    """A read-only SQLite connection; `snapshot` is set when it was opened `immutable`
    (see `_connect_read_only`), so a pool checkout can tell it has gone stale."""

    snapshot: tuple[int, int, int] | None = None
    path: Path | None = None


# What SQLite says when `mode=ro` cannot work in the folder (no -shm can be made there).
_CANNOT_SHARE = {"SQLITE_CANTOPEN", "SQLITE_READONLY_DIRECTORY", "SQLITE_READONLY_CANTINIT"}


def _side_files(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _is_wal_file(path: Path) -> bool:
    """Whether the file's header says WAL mode (bytes 18-19 are 2; 1 is a rollback
    journal, where `mode=ro` never makes side files)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(20)
    except OSError:
        return False
    return len(header) == 20 and header[18:20] == b"\x02\x02"


def _quiet_snapshot(path: Path) -> tuple[int, int, int] | None:
    """The file's identity while no connection anywhere has it open: a WAL database with
    neither side file (every connection keeps the -wal while open, and the last one to
    close removes both). None when a connection may be open."""
    wal, shm = _side_files(path)
    if wal.exists() or shm.exists() or not _is_wal_file(path):
        return None
    stat = path.stat()
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _open_read_only(uri: str, path: Path, snapshot: tuple[int, int, int] | None) -> _ReadConnection:
    connection = sqlite3.connect(
        uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT, check_same_thread=False,
        factory=_ReadConnection,
    )  # fmt: skip
    try:
        connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except BaseException:
        connection.close()
        raise
    connection.snapshot, connection.path = snapshot, path
    return connection


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """Open a SQLite file for reading only, leaving nothing beside it.

    - A WAL database no connection has open (no -wal, no -shm) is read as `immutable`:
      `mode=ro` would leave an empty -wal and a -shm beside a file that had none. The
      connection keeps the file's identity, and `_drop_stale` replaces it on the next
      checkout once a writer has appeared (a -wal) or the file changed.
    - Otherwise `mode=ro`. It needs the folder writable for the -shm; where it is not (a
      read-only or immutable folder) no writer works there either, so the file is read as
      immutable, unless its -wal holds changes: immutable would skip them and show an
      older database (0 of 3 trials), so that is one line naming the fix instead."""
    uri = "file:" + quote(str(path.resolve()))
    snapshot = _quiet_snapshot(path)
    if snapshot is not None:
        return _open_read_only(uri + "?mode=ro&immutable=1", path, snapshot)
    try:
        return _open_read_only(uri + "?mode=ro", path, None)
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorname", "") not in _CANNOT_SHARE:
            raise
    wal, shm = _side_files(path)
    if wal.is_file() and wal.stat().st_size > 0:
        raise StorageError(
            f"{path}: its latest changes are in {wal.name}, which SQLite can read only with "
            f"{shm.name} beside it, and this folder cannot hold one; copy {path.name} and "
            f"{wal.name} to a writable folder and read the copy there (or, where it was "
            f"written, run `sqlite3 {path.name} 'PRAGMA wal_checkpoint(TRUNCATE)'` first)"
        )
    return _open_read_only(uri + "?mode=ro&immutable=1", path, None)


def _drop_stale(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """SQLAlchemy checkout hook of read-only engines: an `immutable` connection whose file
    is no longer quiet (a writer has opened it) is discarded and a `mode=ro` one opened."""
    snapshot = getattr(dbapi_connection, "snapshot", None)
    path = getattr(dbapi_connection, "path", None)
    if snapshot is None or path is None:
        return
    try:
        current = _quiet_snapshot(path)
    except OSError:
        current = None
    if current != snapshot:
        import sqlalchemy as sa

        raise sa.exc.DisconnectionError("the database changed since it was opened immutable")


def _watch_staleness(created: sa.Engine) -> None:
    import sqlalchemy as sa

    sa.event.listen(created, "checkout", _drop_stale)


def sqlite_tables(path: Path) -> set[str]:
    """The tables of a SQLite file, read without writing; a missing, foreign or damaged
    file is a StorageError naming it."""
    _readable_file(path)
    try:
        connection = _connect_read_only(path)
        try:
            names = {
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        finally:
            connection.close()
    except sqlite3.Error as exc:
        error = _describe_sqlite_error(path, exc)
        if "cannot be written" in str(error):
            error = StorageError(f"{path}: cannot be read ({exc}); check its permissions")
        raise error from None
    _require_optuna_tables(str(path), names)
    return names


def _require_optuna_tables(where: str, names: set[str]) -> None:
    if not any(name in names for name in OPTUNA_TABLES) and not any(
        name.startswith("hptui_") for name in names
    ):
        raise StorageError(
            f"{where}: no hptui or Optuna tables in it; pass --storage to point at a study "
            "database, or create one with `hptui study create`"
        )
    missing = [name for name in OPTUNA_TABLES if name not in names]
    if missing:
        raise StorageError(
            f"{where}: incomplete Optuna schema (no {', '.join(missing)} table); "
            "is it a copy of a database being created?"
        )


def _engine_kwargs(url: str, *, read_only: bool = False) -> dict[str, Any]:
    path = sqlite_path(url)
    if path is not None:
        if read_only:
            return {"creator": lambda: _connect_read_only(path)}
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}}
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if read_only and url.startswith(("postgresql", "postgres")):
        kwargs["connect_args"] = {"options": "-c default_transaction_read_only=on"}
    return kwargs


_lock = threading.Lock()
_optuna_storages: dict[tuple[str, tuple[int, int] | None, bool], RDBStorage] = {}
_engines: dict[tuple[str, bool], sa.Engine] = {}


def optuna_storage(
    url: str, *, heartbeat: tuple[int, int] | None = None, read_only: bool = False
) -> RDBStorage:
    """Optuna's RDB storage for `url` (one per process and mode). Workers pass
    `heartbeat=(interval, grace)` seconds: a trial whose worker stops beating for `grace`
    seconds is failed by the next worker or reader that looks, and retried once.

    Writers (the default) create the database, Optuna's tables and hptui's. With
    `read_only=True` nothing is created, stamped or upgraded: the database must already
    hold Optuna's tables, at the schema the installed Optuna expects."""
    key = (url, heartbeat, read_only)
    with _lock:
        if key in _optuna_storages:
            return _optuna_storages[key]
    check_url(url)
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Heartbeats and stale-trial retries are marked experimental; hptui relies on them.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    path = sqlite_path(url)
    if read_only:
        engine(url, read_only=True)  # refuses a missing, foreign or damaged database
    elif path is not None:
        _prepare_sqlite(path)
    kwargs: dict[str, Any] = {}
    if heartbeat:
        kwargs = {
            "heartbeat_interval": heartbeat[0],
            "grace_period": heartbeat[1],
            "heartbeat_stale_trial_callback": retry_once(),
        }
    storage = _open_rdb(url, read_only, kwargs)
    if read_only and path is not None:
        _watch_staleness(storage.engine)
    if not read_only:
        from .retry import retry_connects

        retry_connects(storage.engine)  # a server restarted later is waited for
        engine(url)  # hptui's tables, created with the study's database (and checkpoint_at_exit)
    with _lock:
        return _optuna_storages.setdefault(key, storage)


def _open_rdb(url: str, read_only: bool, kwargs: dict[str, Any]) -> RDBStorage:
    import optuna

    for attempt in range(CREATE_TRIES):
        try:
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=_engine_kwargs(url, read_only=read_only),
                skip_table_creation=read_only,
                **kwargs,
            )
        except Exception as exc:  # sqlalchemy raises many types for bad URLs and dead servers
            if read_only or not _already_exists(exc) or attempt == CREATE_TRIES - 1:
                raise _storage_error(url, exc) from None
            time.sleep(0.05 * (attempt + 1))  # another process is creating the schema
    raise AssertionError("unreachable")


def retry_once() -> Any:
    """Optuna's callback that queues a failed trial again, with the same parameters, once."""
    import optuna

    return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)


def engine(url: str, *, read_only: bool = False) -> sa.Engine:
    """A SQLAlchemy engine for hptui's own tables. Writers' engines create the tables
    (race-safely); read-only ones check the database is there and never write to it."""
    key = (url, read_only)
    with _lock:
        if key in _engines:
            return _engines[key]
    check_url(url)
    import sqlalchemy as sa

    path = sqlite_path(url)
    if read_only and path is not None:
        sqlite_tables(path)
    elif path is not None:
        _prepare_sqlite(path)
    try:
        created = sa.create_engine(url, **_engine_kwargs(url, read_only=read_only))
        if read_only and path is not None:
            _watch_staleness(created)
        if read_only and path is None:
            _require_optuna_tables(redact(url), table_names(created))
    except StorageError:
        raise
    except Exception as exc:
        raise _storage_error(url, exc) from None
    if not read_only:
        from .retry import retry_connects

        ensure_tables(created)
        retry_connects(created)  # it reached the database: a server restarted later is waited for
        if path is not None:
            _checkpoint_at_exit(url)
    with _lock:
        return _engines.setdefault(key, created)


def checkpoint(url: str) -> None:
    """Move a SQLite database's write-ahead log into the file itself and empty the log
    (`PRAGMA wal_checkpoint(TRUNCATE)`), so `runs.db` copied alone holds every result.
    Called when a worker, a CLI write or the console ends cleanly (`_checkpoint_at_exit`).
    This process's own pooled connections are closed first (an engine opens new ones if
    used again); a database another process holds busy past `CHECKPOINT_TIMEOUT` seconds,
    or one that cannot be written, is left as it is: the log is then still beside it and
    SQLite reads it, so nothing is lost either way."""
    path = sqlite_path(url)
    if path is None or not path.is_file() or not _side_files(path)[0].exists():
        return
    with _lock:
        engines = [e for (u, _), e in _engines.items() if u == url]
        engines += [s.engine for (u, _, _), s in _optuna_storages.items() if u == url]
    for each in engines:
        each.dispose()
    try:
        connection = sqlite3.connect(path, timeout=CHECKPOINT_TIMEOUT)
        try:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            connection.close()
    except sqlite3.Error:
        pass


_checkpointed_at_exit: set[str] = set()


def _checkpoint_at_exit(url: str) -> None:
    """Checkpoint `url` when this process exits normally (a worker's end, a CLI write, the
    console's `q`); a killed process leaves the log, which SQLite replays on the next open."""
    with _lock:
        if url in _checkpointed_at_exit:
            return
        _checkpointed_at_exit.add(url)
    import atexit

    atexit.register(checkpoint, url)


def check_schema(connectable: sa.Engine, url: str) -> None:
    """Refuse to read a database whose Optuna schema is not the one this Optuna writes
    (`OPTUNA_SCHEMA`; a test checks it against the installed Optuna), read with plain SQL:
    what Optuna's own read-only storage would check, without importing it."""
    import sqlalchemy as sa

    try:
        with connectable.connect() as c:
            version = c.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:  # no table, or a server that went away
        raise _storage_error(url, exc) from None
    if version != OPTUNA_SCHEMA:
        where = str(sqlite_path(url) or redact(url))
        raise StorageError(
            f"{where}: its Optuna schema is {version!r}, the installed Optuna's is "
            f"{OPTUNA_SCHEMA!r}; hptui never upgrades a database: back it up, then run "
            "`optuna storage upgrade --storage URL` (or install the Optuna that wrote it)"
        )


def table_names(connectable: sa.Engine) -> set[str]:
    """The tables in the database, read without writing."""
    import sqlalchemy as sa

    return set(sa.inspect(connectable).get_table_names())


def ensure_tables(connectable: sa.Engine) -> None:
    """Create hptui's tables that are missing. Safe when several processes do it at the
    same instant: PostgreSQL serialises it with an advisory lock, and on any database a
    table created by another process between the check and the create is retried."""
    import sqlalchemy as sa

    for attempt in range(CREATE_TRIES):
        try:
            with connectable.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(sa.text("SELECT pg_advisory_xact_lock(7466812)"))
                TABLES.metadata.create_all(connection, checkfirst=True)
            return
        except sa.exc.DBAPIError as exc:
            if not _already_exists(exc) or attempt == CREATE_TRIES - 1:
                raise _storage_error(str(connectable.url), exc) from None
            time.sleep(0.02 * (attempt + 1))


def _already_exists(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(
        marker in text
        for marker in ("already exists", "duplicate key", "unique constraint", "is locked")
    )


def _storage_error(url: str, exc: BaseException) -> StorageError:
    """One line for an exception raised while opening or creating a storage."""
    text = first_line(exc)
    where = str(sqlite_path(url) or redact(url))
    if "no longer compatible" in text or "table schema" in text:
        import optuna

        return StorageError(
            f"{where}: its Optuna schema does not match the installed Optuna "
            f"{optuna.__version__}; hptui never upgrades a database: back it up, then run "
            "`optuna storage upgrade --storage URL` (or install the Optuna that wrote it)"
        )
    original = getattr(exc, "orig", None)
    if sqlite_path(url) is not None and isinstance(original or exc, sqlite3.Error):
        return _describe_sqlite_error(Path(where), original or exc)
    if original is not None:
        text = first_line(original)
    return StorageError(f"cannot open storage {redact(url)}: {redact(text)}")


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
        # One row per worker process (see core/workers/registry.py): who runs what where, its
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
        # One row per retrain of `hptui final` (see core/studies/final_tests.py): a chosen
        # trial's config trained again with one seed and scored once on the held-out test
        # split. Kept apart from Optuna's trials, so no sampler and no `best` ever sees it.
        final_tests = sa.Table(
            "hptui_final_tests", metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("study_id", sa.Integer, nullable=False, index=True),
            sa.Column("study_name", sa.Text, nullable=False),
            sa.Column("trial_id", sa.Integer, nullable=False),
            sa.Column("trial_number", sa.Integer, nullable=False),
            sa.Column("seed", sa.BigInteger, nullable=False),
            sa.Column("status", sa.Text, nullable=False),
            sa.Column("warning", sa.Text),
            sa.Column("test_f1", sa.Float),
            sa.Column("test_accuracy", sa.Float),
            sa.Column("test_loss", sa.Float),
            sa.Column("test_precision", sa.Float),
            sa.Column("test_recall", sa.Float),
            sa.Column("test_examples", sa.Integer),
            sa.Column("val_f1", sa.Float),
            sa.Column("val_accuracy", sa.Float),
            sa.Column("val_loss", sa.Float),
            sa.Column("val_examples", sa.Integer),
            sa.Column("again", sa.Boolean, nullable=False, default=False),
            sa.Column("device", sa.String(255)),
            sa.Column("host", sa.String(255)),
            sa.Column("seconds", sa.Float),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.UniqueConstraint("study_id", "trial_number", "seed", name="hptui_final_tests_seed"),
        )  # fmt: skip
        from .identity import build_table  # whose study the rows above belong to

        identity = build_table(metadata)
        return {
            "metadata": metadata, "steps": steps, "evals": evals,
            "events": events, "slots": slots, "workers": workers,
            "final_tests": final_tests, "identity": identity,
        }  # fmt: skip

    def __getattr__(self, name: str) -> Any:
        if _Tables._built is None:
            _Tables._built = self._build()
        try:
            return _Tables._built[name]
        except KeyError:
            raise AttributeError(name) from None


TABLES = _Tables()
