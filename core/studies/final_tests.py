"""Held-out test results: a chosen trial retrained with several seeds and scored on the test
split, stored apart from the study's trials.

Rows live in `hptui_final_tests`, never in Optuna's tables: no sampler, pruner, `best`
value, analysis or export sees them, so the test split cannot feed a selection. This module
reads and writes those rows and sums them up (mean ± sd of the test figures beside the
trial's validation figure: the winner's curse made visible); the retraining itself is
`hptui.core.workers.final`.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import attrs
from .storage import TABLES, engine

if TYPE_CHECKING:
    from .reader import StudyReader, TrialRow

# The columns a caller fills (the rest are the study's and trial's ids, set here).
RESULT_COLUMNS = (
    "seed", "status", "warning", "test_f1", "test_accuracy", "test_loss", "test_precision",
    "test_recall", "test_examples", "val_f1", "val_accuracy", "val_loss", "val_examples",
    "again", "device", "host", "seconds",
)  # fmt: skip


@dataclass(frozen=True)
class FinalTest:
    """One retrain of a trial's configuration with one seed, scored on the test split.
    `status` is the trainer's ('completed', or why it ended); `warning` flags a model that
    predicts one class (such a row is kept, but never counted as a result)."""

    study: str
    trial_number: int
    seed: int
    status: str
    warning: str | None
    test_f1: float | None
    test_accuracy: float | None
    test_loss: float | None
    test_precision: float | None
    test_recall: float | None
    test_examples: int | None
    val_f1: float | None
    val_accuracy: float | None
    val_loss: float | None
    val_examples: int | None
    again: bool
    device: str | None
    host: str | None
    seconds: float | None
    created_at: float

    @property
    def is_result(self) -> bool:
        """Completed, with test figures, and not a one-class model."""
        return self.status == "completed" and self.warning is None and self.test_f1 is not None


@dataclass(frozen=True)
class MeanSd:
    """Mean and sample standard deviation (None for one value) of `n` values."""

    mean: float
    sd: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> MeanSd | None:
        finite = [v for v in values if v is not None and math.isfinite(v)]
        if not finite:
            return None
        sd = statistics.stdev(finite) if len(finite) > 1 else None
        return cls(statistics.fmean(finite), sd, len(finite))

    def text(self) -> str:
        return f"{self.mean:.4f} ± {self.sd:.4f}" if self.sd is not None else f"{self.mean:.4f}"


@dataclass(frozen=True)
class FinalSummary:
    """A trial's held-out test: its retrains, the test figures' mean ± sd, the trial's own
    validation figure (as selected by the study), the retrains' mean validation figure, and
    the drop from the trial's validation figure to the test mean."""

    study: str
    trial_number: int
    rows: tuple[FinalTest, ...]
    results: int  # rows that count: completed, not one-class
    flagged: int  # completed but predicting one class: shown, never averaged
    failed: int  # ended otherwise (non-finite loss...)
    test_f1: MeanSd | None
    test_accuracy: MeanSd | None
    val_f1: MeanSd | None  # of the retrains
    val_accuracy: MeanSd | None
    trial_f1: float | None  # the trial's own validation figures
    trial_accuracy: float | None
    other_trials: tuple[int, ...]  # other trials of the study that saw the test split
    trial_warning: str | None = None  # the trial itself predicted one class

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(row.seed for row in self.rows)

    @property
    def test_examples(self) -> int | None:
        counts = {row.test_examples for row in self.rows if row.test_examples}
        return max(counts) if counts else None

    @property
    def first_at(self) -> float:
        return min(row.created_at for row in self.rows)

    @property
    def drop_f1(self) -> float | None:
        """The trial's validation F1 minus the test mean (positive: the test is lower)."""
        return _minus(self.trial_f1, self.test_f1)

    @property
    def drop_accuracy(self) -> float | None:
        return _minus(self.trial_accuracy, self.test_accuracy)


def _minus(value: float | None, spread: MeanSd | None) -> float | None:
    return value - spread.mean if value is not None and spread is not None else None


def read_final_tests(
    reader: StudyReader, study: str, trial_number: int | None = None
) -> list[FinalTest]:
    """The study's stored test results (of one trial, or all), oldest first. Read only: a
    database without the table (made before it existed, or by plain Optuna) has none."""
    import sqlalchemy as sa

    study_id = reader.study_id(study)  # a missing study says so
    table = TABLES.final_tests
    if not reader._has_table(table.name):
        return []
    query = sa.select(table).where(table.c.study_id == study_id)
    if trial_number is not None:
        query = query.where(table.c.trial_number == trial_number)
    with reader.engine.connect() as c:
        rows = c.execute(query.order_by(table.c.id)).mappings().all()
    return [_final_test(study, row) for row in rows]


def _final_test(study: str, row: Any) -> FinalTest:
    return FinalTest(
        study=study, trial_number=int(row["trial_number"]), seed=int(row["seed"]),
        status=str(row["status"]), warning=row["warning"], test_f1=row["test_f1"],
        test_accuracy=row["test_accuracy"], test_loss=row["test_loss"],
        test_precision=row["test_precision"], test_recall=row["test_recall"],
        test_examples=row["test_examples"], val_f1=row["val_f1"],
        val_accuracy=row["val_accuracy"], val_loss=row["val_loss"],
        val_examples=row["val_examples"], again=bool(row["again"]), device=row["device"],
        host=row["host"], seconds=row["seconds"], created_at=float(row["created_at"]),
    )  # fmt: skip


def add_final_test(
    storage_url: str, study_id: int, study: str, trial: TrialRow, values: Mapping[str, Any]
) -> FinalTest | None:
    """Store one retrain's result (a writer: creates the table in an older database).
    Returns the stored row, or None when that seed of the trial was recorded meanwhile
    (another `hptui final` on the same trial): the first one stays."""
    import sqlalchemy as sa

    unknown = set(values) - set(RESULT_COLUMNS)
    if unknown:
        raise ValueError(f"not columns of hptui_final_tests: {sorted(unknown)}")
    if values.get("seed") is None or not values.get("status"):
        raise ValueError("a final test row needs its seed and status")
    row = {name: None for name in RESULT_COLUMNS} | {"again": False} | dict(values)
    row |= {
        "study_id": study_id, "study_name": study, "trial_id": trial.trial_id,
        "trial_number": trial.number, "created_at": time.time(),
    }  # fmt: skip
    try:
        with engine(storage_url).begin() as c:
            c.execute(TABLES.final_tests.insert().values(**row))
    except sa.exc.IntegrityError:
        return None
    return _final_test(study, row)


def summarize(
    study: str,
    trial_number: int,
    rows: Sequence[FinalTest],
    trial_metrics: Mapping[str, Any] | None = None,
    trial_warning: str | None = None,
) -> FinalSummary | None:
    """Sum up the trial's rows among `rows` (the study's; the others name the other trials
    that saw the test split). None when the trial has no rows. Only results count: a
    one-class model or a failed run is counted apart, never averaged in."""
    own = tuple(r for r in rows if r.trial_number == trial_number)
    if not own:
        return None
    results = [r for r in own if r.is_result]
    completed = [r for r in own if r.status == "completed"]
    metrics = trial_metrics or {}

    def figure(name: str) -> float | None:
        value = metrics.get(name)
        return float(value) if isinstance(value, int | float) else None

    return FinalSummary(
        study=study,
        trial_number=trial_number,
        rows=own,
        results=len(results),
        flagged=sum(1 for r in completed if r.warning is not None),
        failed=len(own) - len(completed),
        test_f1=MeanSd.of([r.test_f1 for r in results if r.test_f1 is not None]),
        test_accuracy=MeanSd.of([r.test_accuracy for r in results if r.test_accuracy is not None]),
        val_f1=MeanSd.of([r.val_f1 for r in results if r.val_f1 is not None]),
        val_accuracy=MeanSd.of([r.val_accuracy for r in results if r.val_accuracy is not None]),
        trial_f1=figure("f1"),
        trial_accuracy=figure("accuracy"),
        other_trials=tuple(sorted({r.trial_number for r in rows} - {trial_number})),
        trial_warning=trial_warning,
    )


def summarize_trial(
    study: str, trial_number: int, rows: Sequence[FinalTest], trial: TrialRow | None
) -> FinalSummary | None:
    """`summarize` with the trial's own validation figures and warning from its row."""
    if trial is None:
        return summarize(study, trial_number, rows)
    warning = trial.user_attrs.get(attrs.WARNING)
    return summarize(study, trial_number, rows, trial.metrics, str(warning) if warning else None)


def row_line(row: FinalTest) -> str:
    """One retrain as a line: the seed, its test and validation figures, or why not."""
    head = f"seed {row.seed}:"
    if row.status != "completed":
        return f"{head} {row.status} (no result)"
    text = (
        f"{head} test f1 {_num(row.test_f1)} accuracy {_num(row.test_accuracy)} "
        f"loss {_num(row.test_loss)}   validation f1 {_num(row.val_f1)} "
        f"accuracy {_num(row.val_accuracy)}"
    )
    if row.seconds is not None:
        text += f"   ({row.seconds:.1f} s)"
    if row.warning:
        text += f"   FLAGGED: {row.warning}; not a result"
    return text


def summary_lines(summary: FinalSummary) -> list[str]:
    """The summary as plain lines, the same for the CLI and the console."""
    seeds = ", ".join(str(s) for s in summary.seeds)
    n_test = summary.test_examples
    own = f"; the trial itself {summary.trial_warning}" if summary.trial_warning else ""
    lines = [
        f"trial {summary.trial_number}: validation f1 {_num(summary.trial_f1)}, accuracy "
        f"{_num(summary.trial_accuracy)} (the figure the study selected it by{own})",
        f"retrained {len(summary.rows)} time(s), seeds {seeds}; "
        f"{summary.results} result(s)"
        + (f", {summary.flagged} predicting one class (left out)" if summary.flagged else "")
        + (f", {summary.failed} failed" if summary.failed else ""),
    ]
    if summary.test_f1 is None or summary.test_accuracy is None:
        lines.append("no test figure: no retrain gave a result (see the seeds above)")
    else:
        where = f"test ({n_test} pairs)" if n_test else "test"
        lines.append(
            f"  {where}: f1 {summary.test_f1.text()}, accuracy {summary.test_accuracy.text()}"
        )
        if summary.val_f1 is not None and summary.val_accuracy is not None:
            lines.append(
                f"  retrains' validation: f1 {summary.val_f1.text()}, "
                f"accuracy {summary.val_accuracy.text()}"
            )
        if summary.drop_f1 is not None and summary.drop_accuracy is not None:
            lines.append(
                f"  validation -> test: f1 {-summary.drop_f1:+.4f}, accuracy "
                f"{-summary.drop_accuracy:+.4f} (the trial's validation figure to the test mean)"
            )
        if summary.test_f1.n < 2:
            lines.append("  one result: no spread; more seeds (--seeds K) give mean ± sd")
    if summary.other_trials:
        others = ", ".join(str(n) for n in summary.other_trials)
        lines.append(
            f"note: the test split was also used for trial(s) {others}: choosing among them by "
            "test score makes it a selection, and these figures optimistic"
        )
    return lines


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"
