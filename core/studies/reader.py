"""The read API for front ends: studies, trials as flat rows, live curves, and what changed
since a cursor. Storage details stay here; callers get plain dataclasses.

Reads are plain SQL over Optuna's schema and hptui's tables (a handful of queries whatever
the number of trials), because `optuna.Study.get_trials` builds a full object per trial and
takes seconds at 10,000 trials. Incremental reads fetch only trials that are new or changed
since the caller's cursor, so a screen refreshing twice a second stays cheap.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import attrs
from .identity import IDENTITY_TABLE, study_is_orphaned, trial_is_orphaned
from .settings import SETTINGS_ATTR, StudyError, StudySettings
from .storage import TABLES, check_schema, engine, table_names
from .worker_rows import lost_reason, stale_running_counts, stale_running_trials

if TYPE_CHECKING:
    import sqlalchemy as sa

METRICS = ("accuracy", "f1", "loss", "precision", "recall")
STATES = ("RUNNING", "WAITING", "COMPLETE", "PRUNED", "FAIL")
FINISHED = ("COMPLETE", "PRUNED", "FAIL")
MAX_BOUND_IDS = 900


@dataclass(frozen=True)
class StudyInfo:
    name: str
    study_id: int
    settings: StudySettings | None
    counts: dict[str, int]
    best_value: float | None
    best_number: int | None
    # The study's own directions, from Optuna (`study_directions`), one per objective: what
    # "best" means for a study another tool made (hptui's settings say the same for ours).
    directions: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def direction(self) -> str:
        """The single objective's direction ("maximize" or "minimize"); "multi" for a
        multi-objective study, which has no single best trial."""
        if len(self.directions) > 1:
            return "multi"
        if self.directions and self.directions[0] in ("maximize", "minimize"):
            return self.directions[0]
        return self.settings.direction if self.settings else "maximize"

    @property
    def value_names(self) -> list[str]:
        """The objective-value columns of its flat rows (see `value_columns`)."""
        return value_columns(self.settings is not None, len(self.directions))


@dataclass(frozen=True)
class TrialRow:
    """One trial, flat: parameters and final metrics by name, and why it ended."""

    trial_id: int
    number: int
    state: str
    params: dict[str, Any]
    metrics: dict[str, Any]  # floats; a value no one can read is "unreadable: ..." text
    value: float | None
    started: datetime | None
    completed: datetime | None
    reason: str | None
    user_attrs: dict[str, Any] = field(default_factory=dict)
    # RUNNING in the database, but its worker stopped beating past the grace period: shown
    # as FAIL with the reason the next worker will write ("worker lost: ...").
    lost: bool = False
    # Every objective's value, by objective index (`value` is the first).
    values: tuple[float | None, ...] = ()

    @property
    def duration_s(self) -> float | None:
        if self.started is None:
            return None
        end = self.completed or datetime.now()
        return round((end - self.started).total_seconds(), 3)

    def flat(
        self,
        param_names: Iterable[str] = (),
        metric_names: Iterable[str] = METRICS,
        value_names: Sequence[str] = (),
    ) -> dict[str, Any]:
        """number, state, reason, duration_s, the objective values named (`value`, or
        `value_0`, `value_1`...: see `value_columns`), the parameters, then the metrics."""
        warning = self.user_attrs.get(attrs.WARNING)  # e.g. predicts one class only
        row: dict[str, Any] = {
            "number": self.number,
            "state": self.state,
            "reason": f"{self.reason} ({warning})" if warning and self.reason else self.reason,
            "duration_s": self.duration_s,
        }
        values = self.values or (self.value,)
        for index, name in enumerate(value_names):
            row[name] = values[index] if index < len(values) else None
        for name in param_names or sorted(self.params):
            row[name] = self.params.get(name)
        for name in metric_names:
            row[name] = self.metrics.get(name)
        return row


@dataclass(frozen=True)
class Curve:
    """Steps and evaluations of one trial after the given row ids (0: from the start)."""

    steps: list[dict[str, Any]]
    evals: list[dict[str, Any]]
    step_cursor: int
    eval_cursor: int


@dataclass(frozen=True)
class TrialCursor:
    """Where an incremental reader got to: the newest trial and trial event it has seen."""

    trial_id: int = 0
    event_id: int = 0


class StudyReader:
    """Reads one storage. Cheap to create; safe to use from a worker thread."""

    def __init__(self, storage_url: str, *, read_only: bool = True) -> None:
        # Reading needs read access only: nothing is created or upgraded, and a missing or
        # foreign database is a StorageError naming it. Writers pass read_only=False. Plain
        # SQL: neither Optuna nor its schema checks are loaded for a read.
        self.url = storage_url
        self.engine = engine(storage_url, read_only=read_only)
        check_schema(self.engine, storage_url)
        self._tables = table_names(self.engine)
        self._distributions: dict[str, Callable[[float], Any]] = {}
        self._finished: dict[int, dict[int, TrialRow]] = {}

    def studies(self) -> list[StudyInfo]:
        import sqlalchemy as sa

        with self.engine.connect() as c:
            studies = c.execute(sa.text("SELECT study_id, study_name FROM studies")).all()
            settings_json: dict[int, str] = dict(
                c.execute(
                    sa.text(
                        "SELECT study_id, value_json FROM study_user_attributes WHERE key = :k"
                    ),
                    {"k": SETTINGS_ATTR},
                ).all()
            )
            counts: dict[int, dict[str, int]] = {}
            for study_id, state, count in c.execute(
                sa.text("SELECT study_id, state, COUNT(*) FROM trials GROUP BY study_id, state")
            ):
                counts.setdefault(study_id, {})[_state_name(state)] = count
            best = self._best_values(c)
            directions: dict[int, dict[int, str]] = {}
            for study_id, objective, direction in c.execute(
                sa.text("SELECT study_id, objective, direction FROM study_directions")
            ):
                directions.setdefault(study_id, {})[int(objective)] = _state_name(direction).lower()
        for study_id, lost in stale_running_counts(self.engine).items():  # shown as failed
            by_state = counts.setdefault(study_id, {})
            lost = min(lost, by_state.get("RUNNING", 0))
            by_state["RUNNING"] = by_state.get("RUNNING", 0) - lost
            by_state["FAIL"] = by_state.get("FAIL", 0) + lost
        result = []
        for study_id, name in studies:
            settings = _settings(settings_json.get(study_id))
            by_objective = directions.get(study_id, {})
            own = tuple(by_objective[k] for k in sorted(by_objective))
            info = StudyInfo(name, study_id, settings, counts.get(study_id, {}), None, None, own)
            # Best by the study's own direction; a multi-objective study has no single best.
            value, number = best.get((study_id, info.direction), (None, None))
            result.append(dataclasses.replace(info, best_value=value, best_number=number))
        return sorted(result, key=lambda s: s.name)

    def study(self, name: str) -> StudyInfo:
        for info in self.studies():
            if info.name == name:
                return info
        raise StudyError(
            f"no study {name!r} in {self.url}; `hptui study list` shows the studies there"
        )

    def study_id(self, name: str) -> int:
        """The study's id, in one indexed lookup (what the hot paths need)."""
        import sqlalchemy as sa

        with self.engine.connect() as c:
            found = c.execute(
                sa.text("SELECT study_id FROM studies WHERE study_name = :n"), {"n": name}
            ).scalar()
        if found is None:
            raise StudyError(
                f"no study {name!r} in {self.url}; `hptui study list` shows the studies there"
            )
        return int(found)

    def trials(self, study_name: str) -> list[TrialRow]:
        """Every trial of the study, ordered by number.

        Finished trials never change, so they are read once per reader and kept; later
        calls read only the trials that are new or still running or waiting.
        """
        import sqlalchemy as sa

        study_id = self.study_id(study_name)
        cache = self._finished.setdefault(study_id, {})
        with self.engine.connect() as c:
            ids = (
                c.execute(
                    sa.text("SELECT trial_id FROM trials WHERE study_id = :s"), {"s": study_id}
                )
                .scalars()
                .all()
            )
        missing = {trial_id for trial_id in ids if trial_id not in cache}
        fresh = self._rows(study_id, missing) if missing else []
        for row in fresh:
            if row.state in FINISHED and not row.lost:
                cache[row.trial_id] = row
        rows = {row.trial_id: row for row in fresh}
        rows.update({trial_id: cache[trial_id] for trial_id in ids if trial_id in cache})
        return sorted(rows.values(), key=lambda row: row.number)

    def trial_changes(
        self, study_name: str, cursor: TrialCursor
    ) -> tuple[list[TrialRow], TrialCursor]:
        """Trials created or changed since `cursor`, and the cursor to pass next time."""
        import sqlalchemy as sa

        study_id = self.study_id(study_name)
        events = TABLES.events
        with self.engine.connect() as c:
            new_trials = (
                c.execute(
                    sa.text("SELECT trial_id FROM trials WHERE study_id = :s AND trial_id > :t"),
                    {"s": study_id, "t": cursor.trial_id},
                )
                .scalars()
                .all()
            )
            followed = self._has_table(events.name) and not self._orphaned(c, study_id)
            changed = c.execute(
                sa.select(events.c.id, events.c.trial_id).where(
                    events.c.study_id == study_id, events.c.id > cursor.event_id
                )
            ).all() if followed else []  # fmt: skip
        ids = set(new_trials) | {row.trial_id for row in changed}
        ids |= set(stale_running_trials(self.engine, study_id))  # lost without an event
        next_cursor = TrialCursor(
            max([cursor.trial_id, *new_trials]), max([cursor.event_id, *(r.id for r in changed)])
        )
        return (self._rows(study_id, ids) if ids else []), next_cursor

    def curve(self, trial_id: int, step_cursor: int = 0, eval_cursor: int = 0) -> Curve:
        import sqlalchemy as sa

        def after(table: sa.Table, cursor: int) -> list[dict[str, Any]]:
            if not self._has_table(table.name):
                return []
            query = (
                sa.select(table)
                .where(table.c.trial_id == trial_id, table.c.id > cursor)
                .order_by(table.c.id)
            )
            return [dict(row) for row in c.execute(query).mappings()]

        with self.engine.connect() as c:
            if self._has_table(IDENTITY_TABLE) and trial_is_orphaned(
                c, trial_id, self._tables
            ):  # a deleted study's rows
                return Curve([], [], step_cursor, eval_cursor)
            step_rows = after(TABLES.steps, step_cursor)
            eval_rows = after(TABLES.evals, eval_cursor)
        return Curve(
            steps=step_rows,
            evals=eval_rows,
            step_cursor=step_rows[-1]["id"] if step_rows else step_cursor,
            eval_cursor=eval_rows[-1]["id"] if eval_rows else eval_cursor,
        )

    def _best_values(self, c: sa.Connection) -> dict[tuple[int, str], tuple[float, int]]:
        import sqlalchemy as sa

        best: dict[tuple[int, str], tuple[float, int]] = {}
        for direction, order in (("maximize", "DESC"), ("minimize", "ASC")):
            query = sa.text(
                "SELECT t.study_id, v.value, t.number FROM trials t "
                "JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0 "
                f"WHERE t.state = 'COMPLETE' ORDER BY t.study_id, v.value {order}, t.number"
            )
            for study_id, value, number in c.execute(query):
                best.setdefault((study_id, direction), (value, number))
        return best

    def _rows(self, study_id: int, trial_ids: set[int] | None) -> list[TrialRow]:
        import sqlalchemy as sa

        if trial_ids is not None and len(trial_ids) > MAX_BOUND_IDS:
            # One bound parameter per id would pass SQLite's limit at 32,766 trials and is
            # slower than reading the study: read it all and keep the ones asked for.
            return [row for row in self._rows(study_id, None) if row.trial_id in trial_ids]

        where = "t.study_id = :s"
        binds: dict[str, Any] = {"s": study_id}
        expanding: list[Any] = []
        if trial_ids is not None:
            where += " AND t.trial_id IN :ids"
            binds["ids"] = sorted(trial_ids)
            expanding = [sa.bindparam("ids", expanding=True)]

        def query(sql: str) -> sa.TextClause:
            text = sa.text(sql.format(where=where))
            return text.bindparams(*expanding) if expanding else text

        with self.engine.connect() as c:
            trials = c.execute(query(
                "SELECT t.trial_id, t.number, t.state, t.datetime_start, t.datetime_complete "
                "FROM trials t WHERE {where} ORDER BY t.number"
            ).columns(
                sa.column("trial_id"), sa.column("number"), sa.column("state"),
                sa.column("datetime_start", sa.DateTime),
                sa.column("datetime_complete", sa.DateTime),
            ), binds).all()  # fmt: skip
            # Each parameter's distribution, once: a study's rows repeat the same JSON, and
            # moving it to Python row by row is most of a 10,000-trial read.
            kinds = c.execute(query(
                "SELECT DISTINCT p.param_name, p.distribution_json "
                "FROM trial_params p JOIN trials t ON t.trial_id = p.trial_id WHERE {where}"
            ), binds).all()  # fmt: skip
            single = len({name for name, _ in kinds}) == len(kinds)
            if single:
                by_name = {name: self._distribution(text) for name, text in kinds}
                params = [
                    (trial_id, name, internal, by_name[name])
                    for trial_id, name, internal in c.execute(query(
                        "SELECT p.trial_id, p.param_name, p.param_value FROM trial_params p "
                        "JOIN trials t ON t.trial_id = p.trial_id WHERE {where}"
                    ), binds).all()
                ]  # fmt: skip
            else:  # a parameter whose distribution changed between trials: row by row
                params = [
                    (trial_id, name, internal, self._distribution(text))
                    for trial_id, name, internal, text in c.execute(query(
                        "SELECT p.trial_id, p.param_name, p.param_value, p.distribution_json "
                        "FROM trial_params p JOIN trials t ON t.trial_id = p.trial_id "
                        "WHERE {where}"
                    ), binds).all()
                ]  # fmt: skip
            values: dict[int, dict[int, float | None]] = {}
            for trial_id, objective, value, kind in c.execute(query(
                "SELECT v.trial_id, v.objective, v.value, v.value_type FROM trial_values v "
                "JOIN trials t ON t.trial_id = v.trial_id WHERE {where}"
            ), binds):  # fmt: skip
                values.setdefault(trial_id, {})[int(objective)] = _value(value, kind)
            attr_rows = c.execute(query(
                "SELECT a.trial_id, a.key, a.value_json FROM trial_user_attributes a "
                "JOIN trials t ON t.trial_id = a.trial_id WHERE {where}"
            ), binds).all()  # fmt: skip
            queued = c.execute(query(
                "SELECT a.trial_id, a.value_json FROM trial_system_attributes a "
                "JOIN trials t ON t.trial_id = a.trial_id "
                "WHERE {where} AND t.state = 'WAITING' AND a.key = 'fixed_params'"
            ), binds).all()  # fmt: skip
            reasons = self._latest_reasons(c, study_id, trial_ids)
        lost = stale_running_trials(self.engine, study_id)
        by_trial_params: dict[int, dict[str, Any]] = {}
        for trial_id, name, internal, external in params:
            by_trial_params.setdefault(trial_id, {})[name] = external(internal)
        for trial_id, value_json in queued:  # a waiting trial's params are queued, not set
            by_trial_params.setdefault(trial_id, {}).update(json.loads(value_json))
        by_trial_attrs: dict[int, dict[str, Any]] = {}
        for trial_id, key, value_json in attr_rows:
            by_trial_attrs.setdefault(trial_id, {})[key] = json.loads(value_json)
        rows = []
        for trial_id, number, state, started, completed in trials:
            user = by_trial_attrs.get(trial_id, {})
            metrics = _metrics(user)
            reason = reasons.get(trial_id) or _stored_reason(state, user)
            is_lost = trial_id in lost and _state_name(state) == "RUNNING"
            if is_lost:
                state, reason = "FAIL", lost_reason(lost[trial_id])
            rows.append(
                TrialRow(
                    trial_id=trial_id,
                    number=number,
                    state=_state_name(state),
                    params=by_trial_params.get(trial_id, {}),
                    metrics=metrics,
                    value=values.get(trial_id, {}).get(0),
                    started=started,
                    completed=completed,
                    reason=reason,
                    user_attrs=user,
                    lost=is_lost,
                    values=_by_index(values.get(trial_id, {})),
                )
            )
        return rows

    def _latest_reasons(
        self, c: sa.Connection, study_id: int, trial_ids: set[int] | None
    ) -> dict[int, str]:
        import sqlalchemy as sa

        events = TABLES.events
        if not self._has_table(events.name):
            return {}  # a plain Optuna database: no hptui tables, no reasons
        if self._orphaned(c, study_id):
            return {}  # the events of a deleted study that had this id
        query = (
            sa.select(events.c.trial_id, events.c.reason)
            .where(events.c.study_id == study_id, events.c.reason.is_not(None))
            .order_by(events.c.id)
        )
        if trial_ids is not None:
            query = query.where(events.c.trial_id.in_(sorted(trial_ids)))
        return {row.trial_id: row.reason for row in c.execute(query)}

    def _orphaned(self, c: sa.Connection, study_id: int) -> bool:
        """Whether hptui's rows under this study id are a deleted study's (core/studies/
        identity.py): then they are not shown as this study's."""
        return self._has_table(IDENTITY_TABLE) and study_is_orphaned(c, study_id, self._tables)

    def _has_table(self, name: str) -> bool:
        """hptui's tables may be missing from a database plain Optuna wrote (a worker
        may add them later: look again before saying no)."""
        if name not in self._tables:
            self._tables = table_names(self.engine)
        return name in self._tables

    def _distribution(self, distribution_json: str) -> Callable[[float], Any]:
        """How a stored parameter value reads back (`to_external_repr`), cached per
        distribution: a choice's index becomes the choice, an int distribution's float an
        int. Optuna is imported only for a distribution this does not know."""
        if distribution_json not in self._distributions:
            self._distributions[distribution_json] = _external_repr(distribution_json)
        return self._distributions[distribution_json]


_FLOAT_DISTRIBUTIONS = {
    "FloatDistribution", "UniformDistribution", "LogUniformDistribution",
    "DiscreteUniformDistribution",
}  # fmt: skip
_INT_DISTRIBUTIONS = {"IntDistribution", "IntUniformDistribution", "IntLogUniformDistribution"}


def _external_repr(distribution_json: str) -> Callable[[float], Any]:
    """Optuna's `to_external_repr` for a distribution stored as JSON, without Optuna."""
    try:
        data = json.loads(distribution_json)
        name, attributes = data["name"], data["attributes"]
    except (ValueError, KeyError, TypeError):
        name, attributes = None, {}
    if name in _FLOAT_DISTRIBUTIONS:
        return float
    if name in _INT_DISTRIBUTIONS:
        return lambda internal: int(internal)
    if name == "CategoricalDistribution" and isinstance(attributes.get("choices"), list):
        choices = tuple(attributes["choices"])
        return lambda internal: choices[int(internal)]
    from optuna.distributions import json_to_distribution  # anything else: Optuna decides

    return json_to_distribution(distribution_json).to_external_repr


def value_columns(has_settings: bool, objectives: int) -> list[str]:
    """The objective-value columns of a study's flat rows. An hptui study's objective value
    is its objective metric (f1, accuracy or loss), already a column: none added. A study
    another tool made gets `value` (one objective) or `value_0`, `value_1`... (several)."""
    if has_settings:
        return []
    if objectives > 1:
        return [f"value_{index}" for index in range(objectives)]
    return ["value"]


def _by_index(values: dict[int, float | None]) -> tuple[float | None, ...]:
    return tuple(values.get(index) for index in range(max(values) + 1)) if values else ()


def _value(value: float | None, kind: Any) -> float | None:
    """Optuna stores an infinite objective value as NULL with its sign in `value_type`."""
    name = _state_name(kind) if kind is not None else "FINITE"
    if name == "INF_POS":
        return math.inf
    if name == "INF_NEG":
        return -math.inf
    return value


def _settings(value_json: str | None) -> StudySettings | None:
    """A study's stored settings; ones plain Optuna (or a hand) overwrote read as none."""
    if value_json is None:
        return None
    try:
        return StudySettings.from_json(json.loads(value_json))
    except Exception:  # any malformed value: the study still lists, without settings
        return None


def _metrics(user: dict[str, Any]) -> dict[str, Any]:
    """Final metrics from the trial's attributes. Values plain Optuna may have stored there
    (`f1={...}`, `hptui.metrics="oops"`) are shown as marked text, never a crash."""
    stored = user.get(attrs.METRICS)
    source = stored if isinstance(stored, dict) and stored else user
    names = stored if isinstance(stored, dict) and stored else METRICS
    metrics: dict[str, Any] = {}
    for name in names:
        if name not in source:
            continue
        value = source[name]
        if isinstance(value, int | float) and not isinstance(value, bool):
            metrics[name] = float(value)
        elif value is not None:
            metrics[name] = "unreadable: " + json.dumps(value, default=str)[:40]
    return metrics


def _stored_reason(state: Any, user_attrs: dict[str, Any]) -> str | None:
    """A retry inherits its original's attributes: only a finished trial's reason counts."""
    if _state_name(state) in ("RUNNING", "WAITING"):
        return None
    reason = user_attrs.get(attrs.REASON)
    return str(reason) if reason is not None else None


def _state_name(state: Any) -> str:
    """Optuna stores states as enum names; some drivers hand back the enum itself."""
    return state.name if hasattr(state, "name") else str(state)
