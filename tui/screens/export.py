"""Export the visible trials: a path prompt that names the file and asks before replacing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

from hptui.core.errors import HptuiError

from ..messages import ReportsWorkerErrors


class ExportScreen(ReportsWorkerErrors, ModalScreen[str]):
    """Writes CSV (or JSON for a .json name) through the core exporter."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, study: str, rows: list[dict[str, Any]]) -> None:
        super().__init__()
        self.study = study
        self.rows = rows

    def compose(self) -> ComposeResult:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in self.study)
        with Vertical(classes="dialog"):
            yield Static(f"Export {len(self.rows)} visible trial(s)", markup=False)
            yield Input(f"{safe or 'study'}-trials.csv", id="export-path")
            yield Static("", id="export-target", markup=False)
            yield Static("", id="export-error", classes="error", markup=False)
            yield Static("enter: write   escape: cancel   (.json for JSON)", classes="dialog-hint")
        yield Footer()

    def on_mount(self) -> None:
        self._show_target(self.query_one("#export-path", Input).value)

    @on(Input.Changed, "#export-path")
    def _changed(self, event: Input.Changed) -> None:
        self._show_target(event.value)

    def _show_target(self, text: str) -> None:
        target = self.query_one("#export-target", Static)
        if not text.strip():
            target.update("type a file name")
            return
        path = Path(text.strip()).expanduser().absolute()
        kind = "JSON" if path.suffix.lower() == ".json" else "CSV"
        exists = "  (exists: you will be asked before it is replaced)" if path.exists() else ""
        target.update(f"will write {kind} to {path}{exists}")

    @on(Input.Submitted, "#export-path")
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self.query_one("#export-error", Static).update("type a file name")
            return
        path = Path(text).expanduser().absolute()
        if path.exists():
            from .confirm import ConfirmScreen

            def answered(yes: bool | None) -> None:
                if yes:
                    self._write(path, True)

            self.app.push_screen(ConfirmScreen(f"{path} exists. Replace it?"), answered)
            return
        self._write(path, False)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _write(self, path: Path, overwrite: bool) -> None:
        from hptui.core.studies.export import to_csv, to_json, write_file

        text = to_json(self.rows) if path.suffix.lower() == ".json" else to_csv(self.rows)
        try:
            written = write_file(path, text, overwrite=overwrite)
        except HptuiError as exc:
            self.app.call_from_thread(self.query_one("#export-error", Static).update, str(exc))
            return
        self.app.call_from_thread(
            self.app.notify, f"wrote {len(self.rows)} trial(s) to {written}", markup=False
        )
        self.app.call_from_thread(self.dismiss, str(written))

    def action_cancel(self) -> None:
        self.dismiss("")
