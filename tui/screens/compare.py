"""Marked trials side by side: the parameters they differ in (a key shows the equal ones
too), metric deltas against the first, and their loss and F1 curves overlaid."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual_plot import HiResMode, PlotWidget

from hptui.core.studies.replicates import (
    GROUP_METRICS,
    ConfigGroup,
    config_key,
    group_rows,
    key_params,
)

from ..format import cell, number, short
from ..messages import ReportsWorkerErrors
from ..services import services

STYLES = ("green", "blue", "magenta", "yellow", "cyan", "red", "white")
METRICS = ("accuracy", "f1", "loss", "precision", "recall", "duration_s")


class CompareScreen(ReportsWorkerErrors, Screen[None]):
    """Parameters equal across the compared trials are hidden at first (they explain no
    difference); `a` shows them too, and again hides them."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("a", "toggle_equal", "All/differing parameters"),
    ]
    DEFAULT_CSS = """
    #compare-hidden { height: auto; padding: 0 1; color: $text-muted; }
    """

    def __init__(
        self,
        study: str,
        rows: list[dict[str, Any]],
        params: list[str],
        *,
        population: list[dict[str, Any]] | None = None,
        excluded: Collection[int] = (),
    ) -> None:
        super().__init__()
        self.study = study
        self.rows = rows
        self.params = params
        # Every trial of the study (the tab's rows): the compared trials' seed replicates
        # are found among them, for mean ± sd rows under the metrics.
        self.population = population or []
        self.excluded = excluded
        self.group_stats: list[ConfigGroup | None] = []
        self.show_equal = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="compare"):
            yield Static("", id="compare-hidden", markup=False)
            yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="compare-plots"):
                yield PlotWidget(id="compare-loss")
                yield PlotWidget(id="compare-f1")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.study}: " + ", ".join(f"#{r['number']}" for r in self.rows)
        table = self.query_one(DataTable)
        table.add_column("", key="name")
        for row in self.rows:
            table.add_column(f"#{row['number']}", key=str(row["number"]))
        self._fill()
        self.query_one("#compare-loss", PlotWidget).set_xlabel("epoch (training loss)")
        self.query_one("#compare-f1", PlotWidget).set_xlabel("epoch (validation f1)")
        self._load_curves()
        if self.population:
            self._load_groups()

    def equal_params(self) -> list[str]:
        """The parameters every compared trial has the same value of."""
        return [n for n in self.params if len({repr(r.get(n)) for r in self.rows}) == 1]

    def _fill(self) -> None:
        """The table's rows: parameters (all, or those that differ), metrics, reason, and
        mean ± sd rows once the replicates are read."""
        table = self.query_one(DataTable)
        table.clear()
        equal = self.equal_params()
        for name in self.params:
            values = [row.get(name) for row in self.rows]
            differs = name not in equal
            if not differs and not self.show_equal:
                continue
            label = Text(("≠ " if differs else "  ") + short(name), style="bold" if differs else "")
            cells = [Text(cell(v), style="bold reverse" if differs else "") for v in values]
            table.add_row(label, *cells)
        hidden = self.query_one("#compare-hidden", Static)
        if not equal:
            hidden.update("every parameter differs")
        elif self.show_equal:
            hidden.update(f"{len(equal)} equal parameter(s) shown unmarked (a: hide them)")
        else:
            names = ", ".join(short(n) for n in equal)
            hidden.update(f"hidden, equal in every trial: {names} (a: show all)")
        first = self.rows[0]
        for metric in METRICS:
            cells = []
            for index, row in enumerate(self.rows):
                value = row.get(metric)
                text = number(value)
                base = first.get(metric)
                if index and isinstance(value, (int, float)) and isinstance(base, (int, float)):
                    text += f" ({value - base:+.4g})"
                cells.append(Text(text))
            table.add_row(Text("  " + short(metric)), *cells)
        table.add_row(Text("  reason"), *(Text(cell(r.get("reason") or "–")) for r in self.rows))
        self._add_group_rows()

    def action_toggle_equal(self) -> None:
        self.show_equal = not self.show_equal
        self._fill()

    @work(thread=True, exit_on_error=False, name="group the seed replicates")
    def _load_groups(self) -> None:
        """Each compared trial's configuration group (None when it has no replicates)."""
        names = key_params(self.params)
        groups = group_rows(self.population, names, exclude=self.excluded)
        by_key = {config_key(g.params, names): g for g in groups}
        found = [by_key.get(config_key(row, names)) for row in self.rows]
        self.app.call_from_thread(self._show_groups, found)

    def _show_groups(self, found: list[ConfigGroup | None]) -> None:
        """Error bars: `0.884 ± 0.006 (n=3)` per metric for trials with 2+ seeds."""
        self.group_stats = found
        self._add_group_rows()

    def _add_group_rows(self) -> None:
        found = self.group_stats
        if not any(group is not None and group.n >= 2 for group in found):
            return
        table = self.query_one(DataTable)
        for metric in GROUP_METRICS:
            cells = [
                Text(group.summary(metric).describe() if group and group.n >= 2 else "–")
                for group in found
            ]
            table.add_row(Text(f"  {short(metric)} ± sd"), *cells)

    @work(thread=True, exit_on_error=False, name="read the curves")
    def _load_curves(self) -> None:
        store = services(self).store
        curves = [store.curve(int(row["_trial_id"])) for row in self.rows]
        self.app.call_from_thread(self._plot, curves)

    def _plot(self, curves: list[Any]) -> None:
        loss = self.query_one("#compare-loss", PlotWidget)
        f1 = self.query_one("#compare-f1", PlotWidget)
        for index, (row, curve) in enumerate(zip(self.rows, curves, strict=True)):
            style = STYLES[index % len(STYLES)]
            label = f"#{row['number']}"
            steps = [s for s in curve.steps if s.get("loss") is not None]
            if len(steps) >= 2:
                loss.plot([s["epoch_progress"] for s in steps], [s["loss"] for s in steps],
                          line_style=style, hires_mode=HiResMode.BRAILLE, label=label)  # fmt: skip
            evals = [e for e in curve.evals if e.get("end_of_epoch") and e.get("f1") is not None]
            if evals:
                xs = [float(e["epoch"]) for e in evals]
                ys = [float(e["f1"]) for e in evals]
                if len(xs) == 1:
                    xs, ys = [xs[0] - 0.05, xs[0] + 0.05], ys * 2
                f1.plot(xs, ys, line_style=style, hires_mode=HiResMode.BRAILLE, label=label)
        loss.show_legend()
        f1.show_legend()

    def action_back(self) -> None:
        self.app.pop_screen()
