"""One row of the space form: a training setting left at its default, fixed, or searched."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, Input, Label, Select, Static

from hptui.core.views.space_form import ROW_KINDS, RowFields

from .inputs import FormInput


class ParamRow(Vertical):
    """The fields a row's kind needs (low/high/step/log, choices, or a value), and the
    validator's message for the row under it. Holds text as typed; the form checks it."""

    DEFAULT_CSS = """
    ParamRow { height: auto; }
    ParamRow > Horizontal { height: 1; }
    ParamRow .row-name { width: 18; }
    ParamRow Select { width: 14; }
    ParamRow .bound { width: 11; margin-right: 1; }
    ParamRow .wide { width: 1fr; }
    ParamRow Checkbox { width: 9; }
    ParamRow .row-error { color: $error; padding-left: 18; }
    """

    def __init__(self, name: str) -> None:
        super().__init__(id=f"row-{name}", classes="param-row")
        self.setting = name

    def compose(self) -> ComposeResult:
        name = self.setting
        with Horizontal():
            yield Label(name, classes="row-name")
            yield Select(
                [(k, k) for k in ROW_KINDS],
                value="default",
                allow_blank=False,
                compact=True,
                id=f"kind-{name}",
            )
            yield FormInput(placeholder="low", compact=True, classes="bound", id=f"low-{name}")
            yield FormInput(placeholder="high", compact=True, classes="bound", id=f"high-{name}")
            yield FormInput(placeholder="step", compact=True, classes="bound", id=f"step-{name}")
            yield Checkbox("log", compact=True, id=f"log-{name}")
            yield FormInput(
                placeholder="choices: 16, 32", compact=True, classes="wide", id=f"choices-{name}"
            )
            yield FormInput(placeholder="value", compact=True, classes="wide", id=f"value-{name}")
        yield Static("", classes="row-error", markup=False)

    def on_mount(self) -> None:
        self.show_kind("default")
        self.show_error(None)

    def fields(self) -> RowFields:
        """The row as typed."""
        name = self.setting
        return RowFields(
            kind=str(self.query_one(f"#kind-{name}", Select).value),
            low=self.query_one(f"#low-{name}", Input).value,
            high=self.query_one(f"#high-{name}", Input).value,
            step=self.query_one(f"#step-{name}", Input).value,
            log=self.query_one(f"#log-{name}", Checkbox).value,
            choices=self.query_one(f"#choices-{name}", Input).value,
            value=self.query_one(f"#value-{name}", Input).value,
        )

    def load(self, row: RowFields) -> None:
        """Fill the row (a preset, a file, the study's space)."""
        name = self.setting
        self.query_one(f"#kind-{name}", Select).value = row.kind
        for key in ("low", "high", "step", "choices", "value"):
            self.query_one(f"#{key}-{name}", Input).value = getattr(row, key)
        self.query_one(f"#log-{name}", Checkbox).value = row.log
        self.show_kind(row.kind)

    def show_kind(self, kind: str) -> None:
        """Only the fields of this kind take part (and take the tab key)."""
        name = self.setting
        ranged = kind in ("float", "int")
        for key in ("low", "high", "step", "log"):
            self.query_one(f"#{key}-{name}").display = ranged
        self.query_one(f"#choices-{name}").display = kind == "categorical"
        self.query_one(f"#value-{name}").display = kind == "fixed"
        self.set_class(kind == "default", "-default")

    def show_error(self, message: str | None) -> None:
        error = self.query_one(".row-error", Static)
        error.update(message or "")
        error.display = bool(message)
        self.set_class(bool(message), "-wrong")
