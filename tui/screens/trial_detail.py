"""One trial in full: its config, seed, host, device, versions, curves, reason, and the
command that re-runs it."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual_plot import HiResMode, PlotWidget

from hptui.core.studies import attrs

from ..format import cell, duration, number, size
from ..messages import ReportsWorkerErrors
from ..services import services


class TrialDetailScreen(ReportsWorkerErrors, Screen[None]):
    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, study: str, row: dict[str, Any]) -> None:
        super().__init__()
        self.study = study
        self.row = row
        self.note: str | None = None  # read from the study when the screen opens

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="detail"):
            yield Static(self._summary(), id="detail-summary")
            final = Static("", id="detail-final", markup=False)
            final.display = False  # shown when the trial has held-out test results
            yield final
            with Horizontal(id="detail-plots"):
                yield PlotWidget(id="detail-loss")
                yield PlotWidget(id="detail-evals")
            yield Static("", id="detail-config")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.study} trial {self.row['number']}"
        self.query_one("#detail-config", Static).update(self._config())
        self.query_one("#detail-loss", PlotWidget).set_xlabel("epoch (training loss)")
        self.query_one("#detail-evals", PlotWidget).set_xlabel("epoch (validation)")
        self._load_curve()
        self._load_final_tests()
        self._load_note()

    @work(thread=True, exit_on_error=False, name="read the note")
    def _load_note(self) -> None:
        note = services(self).store.notes(self.study).get(int(self.row["number"]))
        if note is not None:
            self.app.call_from_thread(self._show_note, note)

    def _show_note(self, note: str) -> None:
        self.note = note
        self.query_one("#detail-summary", Static).update(self._summary())

    def _summary(self) -> Table:
        row, user = self.row, self.row.get("_user_attrs", {})
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        lines = [
            ("trial", f"{row['number']}  {row.get('state')}"),
            ("reason", cell(row.get("reason") or "–")),
            ("note", cell(self.note or "–")),
            ("accuracy / f1 / loss", _numbers(row, ("accuracy", "f1", "loss"))),
            ("precision / recall", _numbers(row, ("precision", "recall"))),
            ("duration", duration(row.get("duration_s"))),
            ("seed", number(user.get(attrs.SEED))),
            ("host / device", f"{cell(user.get(attrs.HOST, '–'))} / "
                              f"{cell(user.get(attrs.DEVICE, '–'))}"),
            ("examples/s", number(user.get(attrs.EXAMPLES_PER_S))),
            ("peak memory", size(user.get(attrs.PEAK_MEMORY_BYTES))),
            ("versions", cell(_versions(user.get(attrs.VERSIONS)))),
        ]  # fmt: skip
        for key, value in lines:
            table.add_row(key, Text(str(value)))
        return table

    def _config(self) -> Text:
        from hptui.core.studies.reader import TrialRow
        from hptui.core.views.live import reproduce_command

        user = self.row.get("_user_attrs", {})
        config = user.get(attrs.CONFIG)
        text = Text()
        text.append("config\n", style="bold")
        if isinstance(config, dict):
            for key in sorted(config):
                text.append(f"  {key} = {cell(config[key])}\n")
        else:
            text.append("  (not recorded: the trial has not started)\n")
        probe = TrialRow(
            trial_id=0, number=self.row["number"], state="", params={}, metrics={},
            value=None, started=None, completed=None, reason=None, user_attrs=user,
        )  # fmt: skip
        command = reproduce_command(probe)
        if command:
            text.append("\nre-run it\n", style="bold")
            text.append(f"  {command}\n")
        return text

    @work(thread=True, exit_on_error=False, name="read the curve")
    def _load_curve(self) -> None:
        curve = services(self).store.curve(int(self.row["_trial_id"]))
        self.app.call_from_thread(self._plot, curve.steps, curve.evals)

    def _plot(self, steps: list[dict[str, Any]], evals: list[dict[str, Any]]) -> None:
        loss = self.query_one("#detail-loss", PlotWidget)
        xs = [s["epoch_progress"] for s in steps if s.get("loss") is not None]
        ys = [s["loss"] for s in steps if s.get("loss") is not None]
        if len(xs) >= 2:
            loss.plot(xs, ys, hires_mode=HiResMode.BRAILLE, label="train loss")
        plot = self.query_one("#detail-evals", PlotWidget)
        epoch_evals = [e for e in evals if e.get("end_of_epoch")] or evals
        ex = [float(e["epoch"]) for e in epoch_evals]
        for metric, style in (("f1", "green"), ("accuracy", "blue"), ("loss", "red")):
            ys = [e.get(metric) for e in epoch_evals]
            if ex and all(y is not None for y in ys):
                if len(ex) == 1:  # one epoch: a short flat segment, so it shows
                    ex, ys = [ex[0] - 0.05, ex[0] + 0.05], ys * 2
                plot.plot(ex, ys, line_style=style, hires_mode=HiResMode.BRAILLE, label=metric)
        plot.show_legend()

    @work(thread=True, exit_on_error=False, name="read the final tests")
    def _load_final_tests(self) -> None:
        from hptui.core.studies.final_tests import row_line, summary_lines

        summary = services(self).store.final_summary(self.study, int(self.row["number"]))
        if summary is None:
            return
        lines = ["held-out test (hptui final)"]
        lines += [f"  {row_line(row)}" for row in summary.rows]
        lines += summary_lines(summary)
        self.app.call_from_thread(self._show_final, "\n".join(lines))

    def _show_final(self, text: str) -> None:
        final = self.query_one("#detail-final", Static)
        final.update(text)
        final.display = True

    def action_back(self) -> None:
        self.app.pop_screen()


def _numbers(row: dict[str, Any], keys: tuple[str, ...]) -> str:
    return " / ".join(number(row.get(k)) for k in keys)


def _versions(versions: Any) -> str:
    """`python 3.11.7, torch 2.5.1`; a version the worker could not read (an older hptui
    wrote "unknown" when run from a source checkout) says so rather than posing as one."""
    if isinstance(versions, dict):
        return ", ".join(
            f"{k} {v}" if v not in ("unknown", None, "") else f"{k} (version not recorded)"
            for k, v in versions.items()
        )
    return json.dumps(versions) if versions is not None else "–"
