"""The Store: one object per storage URL, owning every read and write hptui makes there.

Front ends (the CLI, the console, a notebook) are handed a `Store` and never carry a URL
string into the core. Reads are plain SQL over a read-only connection (no Optuna import, no
schema upgrade: `StudyReader` and the quick reads); the writer, Optuna's own RDB storage
plus hptui's tables, is opened only when something is written. Optuna stays the
distributed engine: a write here is an Optuna call on the same database the workers use.

A Store is safe to share between threads: the console's thread workers all read through
the one the app was given.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .storage import check_url, log_dir_for, redact, require_database, sqlite_path

if TYPE_CHECKING:
    from hptui.core.cards.importer import ImportReport
    from hptui.core.cards.parse import CardRecord
    from hptui.core.workers.registry import StartedWorker, WorkerInfo

    from .final_tests import FinalSummary, FinalTest
    from .manage import StudySize
    from .marks import Marks
    from .quick_reads import SeriesPoint
    from .reader import Curve, StudyInfo, StudyReader, TrialCursor, TrialRow
    from .replicates import GroupedTrials, ReplicatePlan
    from .settings import StudySettings
    from .space import SearchSpace
    from .space_change import SpaceChange


class Store:
    """Reads and writes of one storage (SQLite file or PostgreSQL database)."""

    def __init__(self, url: str) -> None:
        check_url(url)
        self.url = url
        self._reader: StudyReader | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_file(cls, path: str | Path) -> Store:
        """The store of a SQLite file (`--db FILE`)."""
        return cls(f"sqlite:///{Path(path).expanduser()}")

    def __repr__(self) -> str:
        return f"Store({self.label!r})"

    @property
    def label(self) -> str:
        """The storage as shown to a person: a password never is."""
        return redact(self.url)

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None for a database server."""
        return sqlite_path(self.url)

    @property
    def log_dir(self) -> Path:
        """Where detached workers of this storage write their logs."""
        return log_dir_for(self.url)

    def require_database(self) -> None:
        """Refuse a missing SQLite file before anything creates it."""
        require_database(self.url)

    # -- reads -------------------------------------------------------------------------

    @property
    def reader(self) -> StudyReader:
        """The read side, opened on first use (from a worker thread in the console): a
        missing, foreign or damaged database is a StorageError naming it."""
        with self._lock:
            if self._reader is None:
                from .reader import StudyReader

                self._reader = StudyReader(self.url)
            return self._reader

    def studies(self) -> list[StudyInfo]:
        return self.reader.studies()

    def study(self, name: str) -> StudyInfo:
        return self.reader.study(name)

    def study_names(self) -> set[str]:
        return {info.name for info in self.reader.studies()}

    def trials(self, study: str) -> list[TrialRow]:
        """Every trial of the study, ordered by number (finished ones cached)."""
        return self.reader.trials(study)

    def trial_changes(self, study: str, cursor: TrialCursor) -> tuple[list[TrialRow], TrialCursor]:
        return self.reader.trial_changes(study, cursor)

    def curve(self, trial_id: int, step_cursor: int = 0, eval_cursor: int = 0) -> Curve:
        return self.reader.curve(trial_id, step_cursor, eval_cursor)

    def first_trials(self, study: str, limit: int) -> list[TrialRow]:
        from .quick_reads import first_trials

        return first_trials(self.reader, study, limit)

    def trial_rows(self, study: str, trial_ids: Iterable[int]) -> list[TrialRow]:
        from .quick_reads import trial_rows

        return trial_rows(self.reader, study, trial_ids)

    def current_cursor(self, study: str) -> TrialCursor:
        from .quick_reads import current_cursor

        return current_cursor(self.reader, study)

    def objective_series(self, study: str) -> list[SeriesPoint]:
        from .quick_reads import objective_series

        return objective_series(self.reader, study)

    def study_rates(self) -> dict[int, float]:
        from .quick_reads import study_rates

        return study_rates(self.reader)

    def study_attrs(self, study: str, keys: Iterable[str]) -> dict[str, Any]:
        from .quick_reads import study_attrs

        return study_attrs(self.reader, study, keys)

    def settings(self, study: str) -> StudySettings | None:
        """The study's hptui settings (None for a study another tool made)."""
        from .quick_reads import study_settings

        return study_settings(self.reader, study)

    def require_settings(self, study: str) -> StudySettings:
        """The study's settings, or a StudyError saying it is not hptui's."""
        from .settings import StudyError

        settings = self.settings(study)
        if settings is None:
            self.reader.study_id(study)  # a missing study says so first
            raise StudyError(
                f"study {study!r} was not created by hptui (no search space stored); "
                "create one with `hptui study create`"
            )
        return settings

    def marks(self, study: str) -> Marks:
        """The baseline and excluded trials, in one query."""
        from .marks import load_marks

        return load_marks(self.url, study, self.reader)

    def workers(
        self, study: str | None = None, *, include_exited: bool = False
    ) -> list[WorkerInfo]:
        """The worker processes of one study (or all), oldest first."""
        from hptui.core.workers.registry import list_workers

        return list_workers(self.url, study, include_exited=include_exited)

    def flat_rows(self, study: str) -> list[dict[str, Any]]:
        """The study's trials as flat rows (what `hptui trials` and exports show)."""
        from .export import flat_rows

        return flat_rows(self.reader, study)

    def study_size(self, study: str) -> StudySize:
        from .manage import study_size

        return study_size(self.url, study)

    # -- writes: each opens Optuna's storage (the writer) on first use ------------------

    def create_study(
        self,
        name: str,
        settings: StudySettings,
        *,
        on_queued: Callable[[int], None] | None = None,
    ) -> bool:
        """Create a study (a grid queues its points); returns False when one with the same
        settings exists already, and refuses one with other settings."""
        from .settings import create_study

        _study, created = create_study(name, settings, self.url, on_queued=on_queued)
        return created

    def enqueue(self, study: str, params: dict[str, Any]) -> None:
        """Queue a manual trial; its values must lie in the study's space."""
        from .settings import enqueue

        enqueue(study, self.url, params)

    def set_baseline(self, study: str, number: int | None) -> Marks:
        """Mark trial `number` as the baseline (None clears it); returns the new marks."""
        from .marks import set_baseline

        return set_baseline(self.url, study, number)

    def set_excluded(self, study: str, numbers: Iterable[int], excluded: bool = True) -> Marks:
        """Leave trials out of analysis (or take them back in, `excluded=False`)."""
        from .marks import set_excluded

        return set_excluded(self.url, study, numbers, excluded)

    def notes(self, study: str) -> dict[int, str]:
        """The study's trial notes: trial number -> one line (read only)."""
        from .notes import load_notes

        return load_notes(self.reader, study)

    def set_note(self, study: str, number: int, text: str) -> str | None:
        """Trial `number`'s one-line note (empty text clears it); returns the stored note."""
        from .notes import set_note

        return set_note(self.url, study, number, text)

    def change_space(self, study: str, new_name: str, settings: StudySettings) -> SpaceChange:
        """A new study over an edited space, seeded with the old one's comparable trials."""
        from .identity import claim_name
        from .space_change import create_changed_study

        change = create_changed_study(study, new_name, settings, self.url)
        claim_name(self.url, new_name)  # rows a deleted study left on its id: not its own
        return change

    def suggest_name(self, base: str) -> str:
        """`base`, or `base-2`, `base-3`... when that name is taken."""
        taken = self.study_names()
        name, count = base, 2
        while name in taken:
            name = f"{base}-{count}"
            count += 1
        return name

    def narrow_settings(self, study: str, space: SearchSpace) -> StudySettings:
        """The study's settings over a narrower `space` (a grid's narrowed ranges have no
        steps, so they are sampled with TPE): what a narrowed study is created with."""
        import dataclasses

        settings = self.require_settings(study)
        sampler = "tpe" if settings.sampler == "grid" else settings.sampler
        return dataclasses.replace(settings, space=space, sampler=sampler)

    def create_narrow_study(self, study: str, name: str, space: SearchSpace) -> str:
        """A new study `name` over `space` with the analysed study's other settings.
        Refuses an existing name: nothing existing is rewritten. Returns the name."""
        from .settings import StudyError

        if name in self.study_names():
            raise StudyError(f"a study {name!r} already exists; nothing was changed")
        self.create_study(name, self.narrow_settings(study, space))
        return name

    def import_cards(
        self,
        records: list[CardRecord],
        study: str,
        *,
        objective: str,
        filters: Mapping[str, str | None],
    ) -> ImportReport:
        """Model cards as the trials of a new study (one trial per usable card)."""
        from hptui.core.cards.importer import import_cards

        from .export import update_flat_table
        from .identity import claim_name

        report = import_cards(records, study, self.url, objective=objective, filters=filters)
        claim_name(self.url, study)  # rows a deleted study left on its id: not its own
        update_flat_table(self.url, study)  # what the claim cleared of a deleted namesake
        return report

    def request_stop(self, worker_id: int) -> None:
        """Ask a worker to stop (through the database, so it reaches other hosts)."""
        from hptui.core.workers.registry import request_stop

        request_stop(self.url, worker_id)

    def start_workers(
        self, study: str, count: int, trials: int, **options: Any
    ) -> list[StartedWorker]:
        """Start `count` detached workers that share `trials` in total."""
        from hptui.core.workers.registry import start_workers

        return start_workers(self.url, study, count, trials, **options)

    # -- the held-out test (`hptui final`): results kept apart from the trials ----------

    def final_tests(self, study: str, trial_number: int | None = None) -> list[FinalTest]:
        """The study's held-out test results (of one trial, or all), oldest first; never
        part of `trials()`, so no sampler, best value or analysis sees them."""
        from .final_tests import read_final_tests

        return read_final_tests(self.reader, study, trial_number)

    def final_summary(self, study: str, trial_number: int) -> FinalSummary | None:
        """The trial's test figures (mean ± sd) beside its validation figure; None when the
        trial has no test results."""
        from .final_tests import read_final_tests, summarize_trial

        rows = read_final_tests(self.reader, study)
        if not any(row.trial_number == trial_number for row in rows):
            return None
        trial = self.trial_by_number(study, trial_number)
        return summarize_trial(study, trial_number, rows, trial)

    def trial_by_number(self, study: str, number: int) -> TrialRow | None:
        """One trial's full row by its number (None when the study has no such trial)."""
        import sqlalchemy as sa

        reader = self.reader
        with reader.engine.connect() as c:
            trial_id = c.execute(
                sa.text("SELECT trial_id FROM trials WHERE study_id = :s AND number = :n"),
                {"s": reader.study_id(study), "n": number},
            ).scalar()
        rows = self.trial_rows(study, [int(trial_id)]) if trial_id is not None else []
        return rows[0] if rows else None

    def add_final_test(
        self, study_id: int, study: str, trial: TrialRow, values: Mapping[str, Any]
    ) -> FinalTest | None:
        """Store one retrain's test result (None when that seed was stored meanwhile)."""
        from .final_tests import add_final_test
        from .identity import claim
        from .storage import engine

        claim(engine(self.url), study_id, study)  # first: a deleted study's rows go, not these
        return add_final_test(self.url, study_id, study, trial, values)

    def start_final_test(
        self, study: str, trial_number: int, seeds: int, **options: Any
    ) -> StartedWorker:
        """Check, then start `hptui final` detached: `seeds` retrains of the trial, each
        scored on the test split (errors come at once, not in the log)."""
        from hptui.core.workers.final import spawn_final

        return spawn_final(self, study, trial_number, seeds, **options)

    def delete_study(self, study: str) -> int:
        """Delete a study with its trials and hptui's rows; returns the trials deleted."""
        from .manage import delete_study

        deleted = delete_study(self.url, study)
        self._forget()
        return deleted

    def rename_study(self, study: str, new_name: str) -> None:
        from .manage import rename_study

        rename_study(self.url, study, new_name)
        self._forget()

    # -- seed replicates (core/studies/replicates.py) -----------------------------------

    def config_groups(self, study: str) -> GroupedTrials:
        """The study's trials grouped by configuration: n, mean, sd and 95% interval per
        metric over each group's COMPLETE trials (the excluded left out), sorted by the
        objective's mean, and the best by mean."""
        from .replicates import grouped_trials, searched_params

        settings = self.require_settings(study)
        rows = self.flat_rows(study)
        return grouped_trials(
            study, rows, objective=settings.objective, direction=settings.direction,
            params=searched_params(settings), exclude=self.marks(study).excluded,
        )  # fmt: skip

    def best_trials(self, study: str, count: int) -> list[int]:
        """The `count` best COMPLETE trials by the objective, one per configuration."""
        from .replicates import searched_params, top_numbers

        settings = self.require_settings(study)
        rows = self.flat_rows(study)
        return top_numbers(
            rows, count, settings.objective, settings.direction, searched_params(settings)
        )

    def replicate(self, study: str, numbers: Iterable[int], seeds: int) -> list[ReplicatePlan]:
        """Queue `seeds` replicates of each trial in `numbers`: its parameters with seeds
        unused in its configuration's group. Refuses, naming it, a trial that does not
        exist or did not finish COMPLETE, and `seeds` outside 1-100; nothing is queued then.
        Returns what was queued."""
        from .replicates import plan_replicates, queue_replicates

        settings = self.require_settings(study)
        plans = plan_replicates(study, settings, self.flat_rows(study), numbers, seeds)
        queue_replicates(study, self.url, plans)
        return plans

    def _forget(self) -> None:
        """Drop what the reader cached of studies that may have changed identity."""
        with self._lock:
            self._reader = None
