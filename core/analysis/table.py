"""A table of trials, one row each, as the statistics modules read it.

Rows come from a pandas DataFrame, a list of dict rows, or a CSV (`read_trials_csv`). Columns:
`number` (trial number; the row index when absent), `state` (COMPLETE, PRUNED, FAIL, RUNNING...;
all COMPLETE when absent), then any hyperparameter and metric columns by name. Analyses use only
complete trials and say how many rows they left out and why (`select_trials`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hptui.core.errors import HptuiError

if TYPE_CHECKING:
    import pandas as pd

COMPLETE = "COMPLETE"
EXCLUDED = "excluded"
MISSING = "missing value"
_CHECKED = "hptui.trials_table"  # attrs flag: the frame is already normalised


class TrialsTableError(HptuiError, ValueError):
    """The trials table lacks a column, holds a non-number where a number belongs, and so on."""

    def __init__(self, message: str, column: str | None = None) -> None:
        self.column = column
        super().__init__(message)


def _source(frame: pd.DataFrame) -> str:
    source = frame.attrs.get("source")
    return f"{source}: " if source else ""


def as_trials_frame(trials: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A copy with `number` and upper-case `state` columns filled in, numbers unique."""
    import pandas as pd

    if isinstance(trials, pd.DataFrame) and trials.attrs.get(_CHECKED):
        return trials  # already normalised by this function (a copy the caller made here)
    if isinstance(trials, pd.DataFrame):
        frame = trials.copy()
        frame.attrs = dict(trials.attrs)
    else:
        frame = pd.DataFrame(list(trials))
    repeated_columns = frame.columns[frame.columns.duplicated()].tolist()
    if repeated_columns:
        raise TrialsTableError(
            f"{_source(frame)}column {str(repeated_columns[0])!r} appears more than once; "
            "a column must name one thing: rename or drop the copies",
            str(repeated_columns[0]),
        )
    if "number" not in frame.columns:
        frame.insert(0, "number", range(len(frame)))
    numbers = pd.to_numeric(frame["number"], errors="coerce")
    if numbers.isna().any() or (numbers % 1 != 0).any():
        raise TrialsTableError(f"{_source(frame)}column 'number' must hold integers", "number")
    frame["number"] = numbers.astype(int)
    repeated = frame["number"][frame["number"].duplicated()].tolist()
    if repeated:
        raise TrialsTableError(
            f"{_source(frame)}trial numbers must be unique; repeated: {repeated[:5]}", "number"
        )
    if "state" not in frame.columns:
        frame["state"] = COMPLETE
    # Optuna's str(TrialState.COMPLETE) is "TrialState.COMPLETE".
    states = {s: str(s).rsplit(".", 1)[-1].strip().upper() for s in frame["state"].unique()}
    if any(k != v for k, v in states.items()):
        frame["state"] = frame["state"].map(states)
    frame.attrs[_CHECKED] = True
    return frame


def require_columns(frame: pd.DataFrame, columns: Iterable[str], role: str = "") -> None:
    """Raise naming the first missing column (as a `role` column) and listing those there are."""
    for name in columns:
        if name not in frame.columns:
            available = ", ".join(str(c) for c in frame.columns)
            what = f"{role} column" if role else "column"
            raise TrialsTableError(
                f"{_source(frame)}no {what} {name!r}; available columns: {available}",
                name,
            )


def numeric_columns(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """The frame with `columns` as floats; a text value or an infinity is an error naming the
    column and the trial (an empty cell is a missing value, left out and counted)."""
    import numpy as np
    import pandas as pd

    frame = frame.copy()
    for name in columns:
        raw = frame[name]
        if raw.dtype == bool:
            raw = raw.astype(float)
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna() & raw.notna()
        if bad.any():  # blank text is a missing value too; only look at the failures
            bad[bad] = raw[bad].astype(str).str.strip() != ""
        if bad.any():
            row = frame.loc[bad].iloc[0]
            raise TrialsTableError(
                f"{_source(frame)}column {name!r} must be numeric; trial {row['number']} "
                f"has {row[name]!r}",
                name,
            )
        values = values.astype(float)
        infinite = np.isinf(values.to_numpy())
        if infinite.any():
            row = frame.loc[infinite].iloc[0]
            raise TrialsTableError(
                f"{_source(frame)}column {name!r}: trial {row['number']} has {row[name]!r}, "
                f"which is not a finite number; correct it, leave the cell empty (the trial is "
                f"then left out of fits on {name!r}), or leave the trial out with "
                f"--exclude {row['number']}",
                name,
            )
        frame[name] = values
    return frame


def read_trials_csv(
    path: str | Path, params: Sequence[str] = (), metrics: Sequence[str] = ()
) -> pd.DataFrame:
    """Read a CSV with one row per trial, checking the named parameter and metric columns.

    hptui's export has number, state, reason, duration_s, then parameters, then metrics;
    other sources may lack number/state (see `as_trials_frame`). Errors name the file.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise TrialsTableError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise TrialsTableError(f"{path}: the file is empty; expected a header row") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise TrialsTableError(f"{path}: not a readable CSV ({exc})") from None
    _refuse_repeated_header(path)
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.attrs["source"] = str(path)
    if frame.empty:
        raise TrialsTableError(f"{path}: no trial rows under the header")
    frame = as_trials_frame(frame)
    require_columns(frame, params, "parameter")
    require_columns(frame, metrics, "metric")
    return numeric_columns(frame, [*params, *metrics])


def _refuse_repeated_header(path: Path) -> None:
    """pandas renames a repeated header (`lr`, `lr.1`) and carries on; two columns with one
    name would then be fitted as two parameters, or one silently: refuse, naming it."""
    import csv

    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        header = next(csv.reader(handle), [])
    seen: dict[str, int] = {}
    for position, raw in enumerate(header, start=1):
        name = raw.strip()
        if name in seen:
            raise TrialsTableError(
                f"{path}: column {name!r} appears twice in the header (columns {seen[name]} "
                f"and {position}); rename or drop one",
                name,
            )
        seen[name] = position


@dataclass(frozen=True, eq=False)
class TrialSelection:
    """The complete trials an analysis uses, and a count of the rows it left out, by reason."""

    frame: pd.DataFrame
    total: int
    left_out: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return len(self.frame)


def select_trials(
    trials: pd.DataFrame | Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    exclude: Collection[int] = (),
    keep: Collection[int] = (),
) -> TrialSelection:
    """Complete trials not in `exclude` with a value in every one of `columns`.

    Left-out rows are counted under their state (PRUNED, FAIL...), `excluded` (by the user)
    or `missing value`. Trials in `keep` (a baseline) are kept even if the user excluded them.
    """
    table = as_trials_frame(trials)
    require_columns(table, columns)
    frame = numeric_columns(table, columns)
    left_out: dict[str, int] = {}
    for state, count in frame.loc[frame["state"] != COMPLETE, "state"].value_counts().items():
        left_out[str(state)] = int(count)
    frame = frame[frame["state"] == COMPLETE]
    excluded = frame["number"].isin(set(exclude)) & ~frame["number"].isin(set(keep))
    if excluded.any():
        left_out[EXCLUDED] = int(excluded.sum())
    unknown = sorted(set(exclude) - set(table["number"]))
    notes = (f"excluded trials not in the table: {unknown}",) if unknown else ()
    frame = frame[~excluded]
    missing = frame[list(columns)].isna().any(axis=1)
    if missing.any():
        left_out[MISSING] = int(missing.sum())
    frame = frame[~missing].reset_index(drop=True)
    return TrialSelection(frame=frame, total=len(table), left_out=left_out, notes=notes)
