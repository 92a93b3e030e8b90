"""What the console's trials tab is handed: the study's trials, read incrementally.

`TrialsFeed.poll()` is called every few seconds from a front end's worker thread and returns
frozen `TrialsUpdate`s to merge. The first poll hands a first page (what a screen paints at
once), then the whole study; later polls hand only the trials that are new or changed since
the last one. The study's marks are read once per poll and always travel with the update,
so a baseline or exclusion set by another process shows up on the next poll.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from hptui.core.studies.marks import Marks
from hptui.core.studies.reader import FINISHED, TrialCursor, TrialRow
from hptui.core.studies.store import Store

FIRST_PAGE = 200


@dataclass(frozen=True)
class TrialsUpdate:
    """Rows to merge into what is shown, and the study's marks as of this poll.

    `param_names` is set when the columns are (first) known; `complete` once the whole
    study has been read; `finished` counts trials in `rows` that are finished (COMPLETE,
    PRUNED, FAIL or lost), which is what makes an analysis worth refitting."""

    rows: tuple[TrialRow, ...]
    marks: Marks
    param_names: tuple[str, ...] | None = None
    complete: bool = True
    finished: int = 0
    # The objective-value columns (`value`, `value_0`...) of a study another tool made.
    value_names: tuple[str, ...] = ()


class TrialsFeed:
    """Reads one study's trials through a `Store`, a first page, then all, then changes."""

    def __init__(self, store: Store, study: str, first_page: int = FIRST_PAGE) -> None:
        self.store = store
        self.study = study
        self.first_page = first_page
        self._cursor: TrialCursor | None = None
        self._marks: Marks | None = None
        self._names: tuple[str, ...] | None = None
        self._values: tuple[str, ...] = ()

    @property
    def started(self) -> bool:
        """True once the whole study has been read."""
        return self._cursor is not None

    def poll(self) -> Iterator[TrialsUpdate]:
        """The updates since the last poll: on the first, a first page then every trial; then
        only changes (nothing at all when neither a trial nor the marks changed)."""
        if self._cursor is None:
            yield from self._first_read()
            return
        changed, self._cursor = self.store.trial_changes(self.study, self._cursor)
        marks = self.store.marks(self.study)
        if changed or marks != self._marks:
            self._marks = marks
            yield self._update(changed, marks, names=None)

    def _first_read(self) -> Iterator[TrialsUpdate]:
        settings = self.store.settings(self.study)
        known = tuple(settings.space.names) if settings else None
        marks = self.store.marks(self.study)
        first = self.store.first_trials(self.study, self.first_page)
        guess = known or _param_names(first)
        self._values = tuple(self.store.study(self.study).value_names)
        yield self._update(first, marks, names=guess, complete=False)
        cursor = self.store.current_cursor(self.study)  # before the read: nothing is missed
        rows = self.store.trials(self.study)
        self._names = known or _param_names(rows)
        self._cursor = cursor
        self._marks = marks
        yield self._update(rows, marks, names=self._names)

    def _update(
        self,
        rows: list[TrialRow],
        marks: Marks,
        *,
        names: tuple[str, ...] | None,
        complete: bool = True,
    ) -> TrialsUpdate:
        finished = sum(1 for row in rows if row.state in FINISHED or row.lost)
        return TrialsUpdate(
            rows=tuple(rows),
            marks=marks,
            param_names=names,
            complete=complete,
            finished=finished,
            value_names=self._values,
        )


def _param_names(rows: list[TrialRow]) -> tuple[str, ...]:
    return tuple(sorted({name for row in rows for name in row.params}))
