"""A study's marks: the baseline trial and the trials left out of analysis.

Marks live in the study's own user attributes (`hptui.baseline`, `hptui.excluded`), so the
console, `hptui analyze` and optuna-dashboard all see the same ones, on SQLite and
PostgreSQL alike. Marking never deletes or changes a trial: an excluded trial stays in the
table, the exports and the database, and is only left out (and counted) by the fits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import attrs
from .settings import StudyError

if TYPE_CHECKING:
    from .reader import StudyReader

BASELINE_ATTR = attrs.BASELINE
EXCLUDED_ATTR = attrs.EXCLUDED


@dataclass(frozen=True)
class Marks:
    """The baseline trial number (or None) and the excluded trial numbers."""

    baseline: int | None = None
    excluded: frozenset[int] = field(default_factory=frozenset)


def marks_from_attrs(user_attrs: dict[str, Any]) -> Marks:
    """Marks from a study's user attributes; values another tool wrote badly are ignored."""
    baseline = user_attrs.get(BASELINE_ATTR)
    if not isinstance(baseline, int) or isinstance(baseline, bool):
        baseline = None
    excluded = user_attrs.get(EXCLUDED_ATTR)
    numbers: Iterable[Any] = excluded if isinstance(excluded, list) else ()
    return Marks(
        baseline=baseline,
        excluded=frozenset(n for n in numbers if isinstance(n, int) and not isinstance(n, bool)),
    )


def load_marks(storage_url: str, study_name: str, reader: StudyReader | None = None) -> Marks:
    """The study's marks, read without writing anything (through `reader` when given: one
    query instead of opening Optuna's storage)."""
    if reader is not None:
        from .quick_reads import study_attrs

        return marks_from_attrs(study_attrs(reader, study_name, [BASELINE_ATTR, EXCLUDED_ATTR]))
    return marks_from_attrs(_summary(storage_url, study_name, read_only=True).user_attrs)


def set_baseline(storage_url: str, study_name: str, number: int | None) -> Marks:
    """Mark trial `number` as the study's baseline (None clears it); returns the new marks."""
    study = _study(storage_url, study_name)
    if number is not None:
        _check_number(study, number)
    study.set_user_attr(BASELINE_ATTR, number)
    return marks_from_attrs(study.user_attrs)


def set_excluded(
    storage_url: str, study_name: str, numbers: Iterable[int], excluded: bool = True
) -> Marks:
    """Exclude trials from analysis (or include them again, `excluded=False`)."""
    study = _study(storage_url, study_name)
    wanted = set(numbers)
    for number in wanted:
        _check_number(study, number)
    current = set(marks_from_attrs(study.user_attrs).excluded)
    current = current | wanted if excluded else current - wanted
    study.set_user_attr(EXCLUDED_ATTR, sorted(current))
    return marks_from_attrs(study.user_attrs)


def _summary(storage_url: str, study_name: str, *, read_only: bool = False) -> Any:
    from .storage import optuna_storage

    storage = optuna_storage(storage_url, read_only=read_only)
    for summary in storage.get_all_studies():
        if summary.study_name == study_name:
            return summary
    raise StudyError(f"no study {study_name!r} in {storage_url}")


def _study(storage_url: str, study_name: str) -> Any:
    import optuna

    from .storage import optuna_storage

    _summary(storage_url, study_name)
    return optuna.load_study(study_name=study_name, storage=optuna_storage(storage_url))


def _check_number(study: Any, number: int) -> None:
    try:  # one indexed lookup, not a load of every trial
        study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    except KeyError:
        raise StudyError(f"study {study.study_name!r} has no trial {number}") from None
