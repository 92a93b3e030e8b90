"""The live tab: one card per running trial, the last finished trials, best so far."""

from __future__ import annotations

import threading
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static
from textual_plot import HiResMode, PlotWidget

from hptui.core.errors import HptuiError
from hptui.core.studies import attrs
from hptui.core.studies.reader import TrialRow
from hptui.core.views.live import LiveFeed, LiveSnapshot

from ...format import cell, duration, error_line, number
from ...messages import ReportsWorkerErrors
from ...services import services
from ..polling import Poller
from .card import TrialCard

MAX_DOTS = 2000


class LivePane(ReportsWorkerErrors, Vertical):
    """Polls the storage a few times a second from a thread; never blocks a key."""

    BINDINGS = [Binding("t", "toggle_axis", "Best vs time/number")]

    def __init__(self, study: str) -> None:
        super().__init__()
        self.study = study
        self.snapshot: LiveSnapshot | None = None
        self.by_time = False
        self._feed: LiveFeed | None = None
        self._polling = threading.Lock()
        self._plotted: tuple[Any, ...] | None = None
        self.poller: Poller | None = None

    def compose(self) -> ComposeResult:
        yield Static("reading...", id="live-summary", markup=False)
        yield VerticalScroll(id="live-cards")
        yield Static("", id="live-recent", markup=False)
        yield PlotWidget(id="live-best")

    def on_mount(self) -> None:
        self.query_one("#live-best", PlotWidget).set_xlabel("trial")
        self.poller = Poller(self, self.poll, services(self).refresh_seconds)
        self.poller.start()  # the live tab is the one shown first

    def on_show(self) -> None:
        if self.poller is not None:
            self.poller.resume()  # hidden meanwhile: what changed shows at once

    def on_hide(self) -> None:
        if self.poller is not None:
            self.poller.pause()  # a hidden tab reads nothing

    @work(thread=True, group="live", exit_on_error=False, name="read the live view")
    def poll(self) -> None:
        if not self._polling.acquire(blocking=False):
            return  # the last poll is still reading: skip this tick
        try:
            if self._feed is None:
                given = services(self)
                self._feed = LiveFeed(given.store, self.study, clock=given.clock)
            snapshot = self._feed.poll()
        except HptuiError as exc:
            self.app.call_from_thread(self._show_error, str(exc))
            return
        except Exception as exc:  # the database went away, a lock timed out...
            self.app.call_from_thread(self._show_error, error_line(exc))
            return
        finally:
            self._polling.release()
        self.app.call_from_thread(self._show, snapshot)

    def _show_error(self, text: str) -> None:
        self.query_one("#live-summary", Static).update(f"cannot read the study: {text}")

    def _show(self, snapshot: LiveSnapshot) -> None:
        if self.poller is not None:
            self.poller.found(snapshot.changed)
        if not snapshot.changed and self.snapshot is not None and not snapshot.running:
            return  # nothing new and no clock ticking on a card: nothing to draw
        self.snapshot = snapshot
        counts = "  ".join(
            f"{k.lower()} {v}" for k, v in sorted(snapshot.counts.items()) if k != "RUNNING"
        )
        summary = f"{len(snapshot.running)} running   {counts or 'no trials yet'}"
        if not snapshot.running:
            summary += "   (w: start workers)"
        self.query_one("#live-summary", Static).update(summary)
        self._update_cards(snapshot)
        recent = [
            f"#{row.number} {row.state.lower()}  f1 {number(row.metrics.get('f1'))}  "
            f"acc {number(row.metrics.get('accuracy'))}  loss {number(row.metrics.get('loss'))}"
            f"  {duration(row.duration_s)}  {cell(_reason(row))}"
            for row in snapshot.recent
        ]
        self.query_one("#live-recent", Static).update(
            "Last finished:\n" + "\n".join(recent) if recent else "No trial has finished yet."
        )
        self._plot_best(snapshot)

    def _update_cards(self, snapshot: LiveSnapshot) -> None:
        box = self.query_one("#live-cards", VerticalScroll)
        cards = {card.name: card for card in box.query(TrialCard)}
        wanted = {f"trial-{t.trial_id}": t for t in snapshot.running}
        for name, card in cards.items():
            if name not in wanted:
                card.remove()
        for name, trial in wanted.items():
            if name in cards:
                cards[name].trial = trial
            else:
                card = TrialCard(name=name, classes="trial-card")
                box.mount(card)
                card.call_after_refresh(setattr, card, "trial", trial)

    def _plot_best(self, snapshot: LiveSnapshot) -> None:
        """Every complete trial as a dot (by number), the best so far as a step line."""
        points = snapshot.best_by_time if self.by_time else snapshot.best_by_number
        key = (self.by_time, points, snapshot.values)
        if key == self._plotted:
            return
        self._plotted = key
        plot = self.query_one("#live-best", PlotWidget)
        plot.clear()
        plot.set_xlabel("hours since the first start" if self.by_time else "trial number")
        plot.set_ylabel(f"best {snapshot.objective}")
        if not self.by_time and snapshot.values:
            values = snapshot.values[-MAX_DOTS:]  # the latest trials: drawing is per point
            plot.scatter(
                [float(n) for n, _ in values],
                [v for _, v in values],
                marker="·",
                marker_style="dim",
            )
        if points:
            xs: list[float] = []
            ys: list[float] = []
            for x, y in points:
                if ys:  # hold the previous best until this point: a step, not a slope
                    xs.append(float(x))
                    ys.append(ys[-1])
                xs.append(float(x))
                ys.append(y)
            if len(xs) == 1:
                xs, ys = [xs[0], xs[0] + 1], [ys[0], ys[0]]
            plot.plot(xs, ys, line_style="bold", hires_mode=HiResMode.BRAILLE)

    def action_toggle_axis(self) -> None:
        self.by_time = not self.by_time
        if self.snapshot is not None:
            self._plot_best(self.snapshot)


def _reason(row: TrialRow) -> str:
    """The reason, and the worker's warning when it has one (a model that predicts one
    class only learned nothing, and says so)."""
    warning = row.user_attrs.get(attrs.WARNING)
    reason = row.reason or ""
    return f"{reason} ({warning})" if isinstance(warning, str) and warning else reason
