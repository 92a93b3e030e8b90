"""Riding out a storage outage: a restarted PostgreSQL server, a dropped connection, a
SQLite file locked for long, all retried with a bounded back-off instead of killing workers.

A worker trains for minutes between writes it cannot lose (steps, evaluations, the final
`tell`), so an outage of a few seconds must pause it, not end it. Three pieces, one policy:

- `retry_connects(engine)`: a new connection of an engine that has reached its database is
  retried (a server stopped and started again). The first connection is not: a wrong host
  or a bad password fails at once, with one line, instead of hanging for minutes.
- `call(fn, ...)` / `@retrying`: an operation whose connection broke mid-way is run again.
- `retrying_storage(storage)`: Optuna's storage object with every method run through `call`
  (installed where a study is loaded), so Optuna's own writes ride out the outage too.

Waits double from `FIRST_DELAY` up to `MAX_DELAY`, for at most `$HPTUI_STORAGE_RETRY_SECONDS`
(default `DEFAULT_RETRY_SECONDS`, 0 turns retrying off); each wait is one line in the log
("storage unreachable: retrying in N s (attempt k)"), the recovery another ("storage back
after N s"). An outage longer than that is a `StorageUnreachable` one-liner, never "a bug".
"""

from __future__ import annotations

import abc
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from hptui.core.errors import ConfigError, first_line

from .storage import StorageError, redact

if TYPE_CHECKING:
    import sqlalchemy as sa

log = logging.getLogger("hptui.storage")

RETRY_ENV = "HPTUI_STORAGE_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 180.0
FIRST_DELAY = 0.5
MAX_DELAY = 8.0
# What drivers say when the server is away or the connection broke (psycopg2, SQLite).
CONNECTION_ERRORS = (
    "connection refused",
    "could not connect",
    "failed: no such file or directory",
    "server closed the connection",
    "terminating connection",
    "database system is shutting down",
    "database system is starting up",
    "database system is in recovery",
    "database system is not yet accepting",
    "connection already closed",
    "connection has been closed",
    "connection not open",
    "no connection to the server",
    "could not receive data from server",
    "could not send data to server",
    "ssl syscall error",
    "connection reset",
    "connection timed out",
    "timeout expired",
    "broken pipe",
    "database is locked",
    "database table is locked",
)

T = TypeVar("T")
P = ParamSpec("P")
_local = threading.local()
# Set when an outage outlasted the budget, cleared by the next success: until then every
# operation fails at once, so a worker gives up after one budget, not one per write.
_gave_up: StorageUnreachable | None = None


class StorageUnreachable(StorageError):
    """The storage stayed unreachable for the whole retry budget."""


def retry_seconds() -> float:
    """How long to keep retrying: `$HPTUI_STORAGE_RETRY_SECONDS`, else the default."""
    text = os.environ.get(RETRY_ENV, "").strip()
    if not text:
        return DEFAULT_RETRY_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86_400:
        raise ConfigError(
            f"${RETRY_ENV}", f"must be a number of seconds from 0 to 86400 (got {text[:40]!r})"
        )
    return seconds


def is_transient(exc: BaseException) -> bool:
    """True when `exc` (or what caused it: Optuna wraps SQLAlchemy's errors) says the
    connection broke or the database was busy, not that the request itself was wrong."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StorageUnreachable):
            return False  # already retried for the whole budget
        if getattr(current, "connection_invalidated", False):
            return True
        if _is_driver_error(current) and _says_connection(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_driver_error(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.OperationalError):
        return True
    kind = type(exc)
    names = {cls.__name__ for cls in kind.__mro__}
    # SQLAlchemy's OperationalError/InterfaceError/DBAPIError and the DBAPI drivers' own.
    return bool(names & {"OperationalError", "InterfaceError", "DBAPIError"}) or (
        kind.__module__.startswith(("psycopg", "pg8000", "asyncpg"))
    )


def _says_connection(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(marker in text for marker in CONNECTION_ERRORS)


class _Outage:
    """One outage as a thread lives it: its start, its attempts, its back-off."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.attempts = 0
        self.budget = retry_seconds()

    def pause(self, exc: BaseException) -> None:
        """Wait before the next attempt, saying so; raise when the budget is spent."""
        elapsed = time.monotonic() - self.started
        delay = min(MAX_DELAY, FIRST_DELAY * 2**self.attempts)
        if elapsed + delay > self.budget:
            raise StorageUnreachable(
                f"storage unreachable for {elapsed:.0f} s ({redact(first_line(exc))}); "
                f"check the database server, or set ${RETRY_ENV} to wait longer"
            ) from exc
        self.attempts += 1
        log.warning(
            "storage unreachable: retrying in %g s (attempt %d): %s",
            delay, self.attempts, redact(first_line(exc, 160)),
        )  # fmt: skip
        time.sleep(delay)

    def end(self) -> None:
        log.info("storage back after %.1f s", time.monotonic() - self.started)


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)`, run again while it fails for a transient reason. Nested calls
    (a retried operation whose reconnect is retried too) share one outage and one log."""
    outage: _Outage | None = None
    owner = False
    while True:
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            if not is_transient(exc):
                _finish(outage, owner, failed=True)
                raise
            if _gave_up is not None:
                _finish(outage, owner, failed=True)
                raise StorageUnreachable(str(_gave_up)) from exc
            if outage is None:
                outage = getattr(_local, "outage", None)
                if outage is None:
                    outage = _local.outage = _Outage()
                    owner = True
            try:
                outage.pause(exc)
            except StorageUnreachable as unreachable:
                _give_up(unreachable)
                _finish(outage, owner, failed=True)
                raise
            continue
        _give_up(None)
        _finish(outage, owner, failed=False)
        return result


def _give_up(unreachable: StorageUnreachable | None) -> None:
    global _gave_up
    _gave_up = unreachable


def _finish(outage: _Outage | None, owner: bool, *, failed: bool) -> None:
    if outage is None or not owner:
        return
    _local.outage = None
    if not failed:
        outage.end()


def retrying(fn: Callable[P, T]) -> Callable[P, T]:
    """Decorator: run `fn` through `call` (for hptui's own writes through an engine; each
    such function is one transaction, so running it again is safe)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return call(fn, *args, **kwargs)

    return wrapper


def retry_connects(engine: sa.Engine) -> sa.Engine:
    """Retry new connections of `engine`, which has just reached its database (so a wrong
    host or password has already failed at once, with one line). With `pool_pre_ping` a
    connection the server dropped is replaced on checkout: that is where an outage shows.
    Does nothing for SQLite: a file has no server to wait for."""
    if engine.dialect.name == "sqlite" or getattr(engine, "_hptui_retrying", False):
        return engine
    from sqlalchemy import event

    def connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        return call(dialect.connect, *cargs, **cparams)

    event.listen(engine, "do_connect", connect)
    engine._hptui_retrying = True  # type: ignore[attr-defined]
    return engine


_storage_class: type | None = None


def retrying_storage(storage: Any) -> Any:
    """Optuna's `storage` with every method retried through `call`: the same object to
    Optuna (a `BaseStorage` and, for heartbeats, a `BaseHeartbeat`). An RDB storage is
    wrapped in Optuna's own cache first, as `optuna.load_study` would."""
    import optuna

    if isinstance(storage, optuna.storages.RDBStorage):
        storage = optuna.storages._CachedStorage(storage)
    if _storage_class is None:
        _build_storage_class()
    assert _storage_class is not None
    if isinstance(storage, _storage_class):
        return storage
    return _storage_class(storage)


def _build_storage_class() -> None:
    """Build `RetryingStorage` on first use (importing Optuna is slow; `--help` never needs
    it): every method of Optuna's storage interfaces, delegated with retries."""
    global _storage_class
    from optuna.storages import BaseStorage
    from optuna.storages._heartbeat import BaseHeartbeat

    class RetryingStorage(BaseStorage, BaseHeartbeat):
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            # Whatever the interfaces do not list (private helpers such as
            # `_get_stale_trial_ids`, attributes such as `engine`) reaches the inner storage.
            value = getattr(self._inner, name)
            if callable(value) and not name.startswith("__"):
                return functools.partial(call, value)
            return value

        def set_trial_state_values(self, trial_id: int, state: Any, values: Any = None) -> bool:
            """Retried like the rest; a retry that finds the trial already in `state` (the
            first attempt was committed before the connection broke) is a success."""
            import optuna

            tries = {"n": 0}

            def attempt() -> bool:
                tries["n"] += 1
                try:
                    return bool(self._inner.set_trial_state_values(trial_id, state, values))
                except optuna.exceptions.UpdateFinishedTrialError:
                    if tries["n"] > 1 and self._inner.get_trial(trial_id).state == state:
                        return True
                    raise

            return call(attempt)

    def delegate(name: str) -> Callable[..., Any]:
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            return call(getattr(self._inner, name), *args, **kwargs)

        method.__name__ = name
        return method

    names = {
        name
        for base in (BaseStorage, BaseHeartbeat)
        for name, value in vars(base).items()
        if callable(value) and not name.startswith("__")
    }
    for name in names - set(vars(RetryingStorage)):
        setattr(RetryingStorage, name, delegate(name))
    abc.update_abstractmethods(RetryingStorage)  # type: ignore[type-abstract]
    _storage_class = RetryingStorage
