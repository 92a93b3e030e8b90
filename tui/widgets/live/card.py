"""A running trial's card: progress, loss sparkline, evaluations, device load."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.reactive import reactive
from textual.widgets import ProgressBar, Sparkline, Static

from hptui.core.views.live import LiveTrial

from ...format import cell, duration, number, short, size


class TrialCard(Vertical):
    """Attributes down: the pane assigns `trial`, the card redraws its parts."""

    trial: reactive[LiveTrial | None] = reactive(None, always_update=True)

    def compose(self) -> ComposeResult:
        yield Static("", classes="card-title", markup=False)
        with Horizontal(classes="card-progress"):
            yield ProgressBar(total=100, show_eta=False, show_percentage=True)
            yield Static("", classes="card-eta", markup=False)
        with Horizontal(classes="card-loss"):
            yield Static("loss", classes="card-label")
            yield Sparkline([], summary_function=max)
            yield Static("", classes="card-last-loss", markup=False)
        yield Static("", classes="card-evals", markup=False)
        yield Static("", classes="card-load", markup=False)

    def watch_trial(self, trial: LiveTrial | None) -> None:
        if trial is None or not self.is_mounted:
            return
        try:
            self._draw(trial)
        except NoMatches:  # removed (its trial ended) or not composed yet: nothing to draw
            return

    def _draw(self, trial: LiveTrial) -> None:
        params = "  ".join(f"{short(k)} {cell(v)}" for k, v in sorted(trial.params.items()))
        title = Text(f"#{trial.number}  ", style="bold")
        title.append(params)
        self.query_one(".card-title", Static).update(title)
        bar = self.query_one(ProgressBar)
        bar.update(progress=round((trial.progress or 0.0) * 100, 1))
        epoch = (
            f"epoch {trial.epoch}/{trial.epochs_total}"
            if trial.epoch is not None and trial.epochs_total
            else "starting"
        )
        step = f"  step {trial.step}" if trial.step is not None else ""
        eta = f"  ETA {duration(trial.eta_s)}" if trial.eta_s is not None else ""
        self.query_one(".card-eta", Static).update(f" {epoch}{step}{eta}")
        self.query_one(Sparkline).data = list(trial.losses)
        last = trial.losses[-1] if trial.losses else None
        self.query_one(".card-last-loss", Static).update(f" {number(last)}")
        evals = [e for e in trial.evals if e.get("end_of_epoch")] or list(trial.evals)
        lines = [
            f"epoch {e.get('epoch')}: loss {number(e.get('loss'))}  "
            f"acc {number(e.get('accuracy'))}  f1 {number(e.get('f1'))}"
            for e in evals[-3:]
        ]
        self.query_one(".card-evals", Static).update(
            "\n".join(lines) if lines else "no evaluation yet"
        )
        self.query_one(".card-load", Static).update(_load_line(trial))
        self.set_class(trial.load.worker_status in ("stale", "gone"), "-stale")


def _load_line(trial: LiveTrial) -> str:
    load = trial.load
    parts = [
        f"lr {number(trial.learning_rate)}",
        f"{number(round(trial.examples_per_s, 1)) if trial.examples_per_s else '–'} ex/s",
    ]
    if load.gpu_util is not None or load.gpu_mem_bytes is not None:
        parts.append(f"GPU {number(load.gpu_util)}% {size(load.gpu_mem_bytes)}")
    if load.cpu_percent is not None or load.rss_bytes is not None:
        parts.append(f"CPU {number(load.cpu_percent)}% RSS {size(load.rss_bytes)}")
    where = " ".join(
        x
        for x in (
            cell(load.device) if load.device else None,
            f"pid {load.pid}" if load.pid else None,
            f"@{cell(load.host)}" if load.host else None,
        )
        if x
    )
    if where:
        parts.append(where)
    if load.worker_status in ("stale", "gone"):
        parts.append(f"WORKER {load.worker_status.upper()}: no recent heartbeat")
    return "  ".join(parts)
