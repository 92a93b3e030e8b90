"""How many trials a study needs, and how many it already has: the start-workers default.

A worker's `--trials N` is the study's total across every worker and restart, counted by
the slots trials hold (core/studies/worker_rows.py). A dialog that offers a fixed 10 skips
8 points of an 18-point grid, and on a study that already has its 10 starts workers that
quit at once with nothing said. Here: the total a study needs (a grid's points x its seeds
per configuration; otherwise what it already counts, at least 10) and one line saying what
a given total would do, including "nothing: raise the total" before anything starts.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TOTAL = 10


@dataclass(frozen=True)
class StudyTotals:
    """A study's trial counts as far as totals go."""

    grid_points: int | None  # grid studies: points (before seed replicates)
    seeds_per_config: int
    slots: tuple[int, ...]  # slot numbers held by trials (each counts toward a total)
    complete: int
    retries_waiting: int  # failed trials queued for their one retry (they run regardless)

    @property
    def needed(self) -> int | None:
        """What a grid study needs in all: every point with its seed replicates."""
        return None if self.grid_points is None else self.grid_points * self.seeds_per_config

    def default_total(self) -> int:
        if self.needed is not None:
            return self.needed
        return max(DEFAULT_TOTAL, len(self.slots))

    def counted(self, total: int) -> int:
        """Trials that count toward `total` (slots below it are taken)."""
        return sum(1 for slot in self.slots if slot < total)

    def effective(self, total: int) -> int:
        """A grid caps the total at its size (the worker does the same)."""
        return total if self.needed is None else min(total, self.needed)

    def has_work(self, total: int) -> bool:
        """Whether a worker started with `total` would train anything."""
        total = self.effective(total)
        return self.retries_waiting > 0 or self.counted(total) < total

    def note(self, total: int) -> str:
        """One line for the dialog: what `total` means for this study."""
        capped = self.effective(total)
        grid = ""
        if self.needed is not None:
            seeds = f" x {self.seeds_per_config} seeds" if self.seeds_per_config > 1 else ""
            grid = f"grid of {self.grid_points} points{seeds} = {self.needed} trials; "
        counted = self.counted(capped)
        if not self.has_work(total):
            done = (
                f"{self.complete} of {capped} COMPLETE"
                if self.complete == counted
                else f"{counted} of {capped} trials ({self.complete} COMPLETE)"
            )
            fix = (
                "every point has run" if self.needed is not None else "raise the total to run more"
            )
            return f"{grid}has {done}: {fix}"
        left = capped - counted
        retries = f" and {self.retries_waiting} retry(ies)" if self.retries_waiting else ""
        more = " (the grid caps it)" if capped < total else ""
        return f"{grid}{left} of {capped} trials left to run{retries}{more}"


def study_totals(storage_url: str, study: str) -> StudyTotals:
    """Read a study's totals; a missing study raises StudyError (load_settings)."""
    import sqlalchemy as sa

    from hptui.core.studies.settings import grid_size, load_settings
    from hptui.core.studies.storage import engine

    settings = load_settings(study, storage_url)
    points = grid_size(settings.space) if settings.sampler == "grid" else None
    with engine(storage_url, read_only=True).connect() as c:
        study_id = c.execute(
            sa.text("SELECT study_id FROM studies WHERE study_name = :n"), {"n": study}
        ).scalar_one()
        inspector = sa.inspect(c)
        slots: list[int] = []
        if inspector.has_table("hptui_slots"):
            slots = [
                int(row[0])
                for row in c.execute(
                    sa.text("SELECT slot FROM hptui_slots WHERE study_id = :s"), {"s": study_id}
                )
            ]
        complete = c.execute(
            sa.text("SELECT COUNT(*) FROM trials WHERE study_id = :s AND state = 'COMPLETE'"),
            {"s": study_id},
        ).scalar_one()
        retries = c.execute(
            sa.text(
                "SELECT COUNT(*) FROM trials t JOIN trial_system_attributes a "
                "ON a.trial_id = t.trial_id WHERE t.study_id = :s AND t.state = 'WAITING' "
                "AND a.key = 'failed_trial'"
            ),
            {"s": study_id},
        ).scalar_one()
    return StudyTotals(
        points, settings.seeds_per_config, tuple(sorted(slots)), int(complete), int(retries)
    )
