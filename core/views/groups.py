"""The trials tab grouped by configuration: one row per configuration, best mean first.

`grouped_view` takes the tab's flat rows (what `TrialsFeed` hands it, filtered as shown)
and returns the rows to draw: the configuration's id, n, its parameters, mean ± sd of each
metric and its trials, in the order of the objective's mean (best first), with the
sentence naming the best by mean and its interval. Headless: the console only draws it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hptui.core.studies.replicates import (
    GROUP_METRICS,
    ConfigGroup,
    GroupedTrials,
    grouped_trials,
    key_params,
)

TRIALS_LISTED = 8  # a configuration's trials shown in its row; the rest are counted


@dataclass(frozen=True)
class GroupColumn:
    key: str
    numeric: bool


@dataclass(frozen=True)
class GroupedView:
    """What the grouped table shows. Rows are keyed by the configuration's id (its lowest
    trial number), so a cursor on a row names a trial of that configuration."""

    columns: tuple[GroupColumn, ...]
    numbers: tuple[int, ...]  # configuration ids, best mean of the objective first
    rows: dict[int, dict[str, Any]]
    grouped: GroupedTrials

    @property
    def groups(self) -> dict[int, ConfigGroup]:
        return {group.config: group for group in self.grouped.groups}

    def status(self) -> str:
        """`5 configuration(s) of 11 trial(s), by mean f1; best by mean f1: #5, ...`."""
        g = self.grouped
        return (
            f"{len(g.groups)} configuration(s) of {g.trials} trial(s), by mean {g.objective}; "
            + g.best_sentence()
        )

    def replicable(self, config: int) -> int | None:
        """A COMPLETE trial of the configuration (what a replicate is queued from)."""
        group = self.groups.get(config)
        return group.complete[0] if group is not None and group.complete else None

    def export_rows(self, numbers: Sequence[int]) -> list[dict[str, Any]]:
        """The grouped table at full precision, in `numbers`' order (for the exporter)."""
        table = {row["config"]: row for row in self.grouped.table()}
        return [table[f"#{n}"] for n in numbers if f"#{n}" in table]


def grouped_view(
    study: str,
    rows: Iterable[Mapping[str, Any]],
    params: Sequence[str],
    *,
    objective: str,
    direction: str,
    exclude: Collection[int] = (),
) -> GroupedView:
    """Group the rows by configuration (statistics over COMPLETE trials not in `exclude`),
    sorted by the objective's mean in its direction, best first."""
    names = key_params(params)
    grouped = grouped_trials(
        study, list(rows), objective=objective, direction=direction, params=names,
        exclude=exclude,
    )  # fmt: skip
    columns = (
        GroupColumn("config", False),
        GroupColumn("n", True),
        *(GroupColumn(name, True) for name in names),
        *(GroupColumn(metric, True) for metric in GROUP_METRICS),
        GroupColumn("trials", False),
    )
    shown: dict[int, dict[str, Any]] = {}
    for group in grouped.groups:
        row: dict[str, Any] = {"config": group.label, "n": group.n, **group.params}
        for metric in GROUP_METRICS:
            row[metric] = group.summary(metric).mean_sd()
        listed = " ".join(str(n) for n in group.numbers[:TRIALS_LISTED])
        more = len(group.numbers) - TRIALS_LISTED
        row["trials"] = listed + (f" +{more}" if more > 0 else "")
        shown[group.config] = row
    return GroupedView(columns, tuple(g.config for g in grouped.groups), shown, grouped)
