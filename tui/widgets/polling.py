"""How a tab's pane polls the storage: quickly while things change, slower while nothing
does, not at all while the tab is hidden.

An idle console must not burn a core on a shared GPU box: a pane that read the same
nothing three times a second, on a tab nobody looks at, did. `Poller` is a one-shot timer
re-armed after each tick: the delay doubles (up to `longest`) each time the pane reports
that a poll found nothing new, and drops back to `base` when one did. While the pane is
hidden no tick runs; shown again, it polls at once (what changed meanwhile shows at once).
"""

from __future__ import annotations

from collections.abc import Callable

from textual.timer import Timer
from textual.widget import Widget

LONGEST_SECONDS = 5.0


class Poller:
    """Calls `poll` every `base` seconds, backing off to `longest` while nothing changes."""

    def __init__(
        self,
        owner: Widget,
        poll: Callable[[], object],
        base: float,
        longest: float = LONGEST_SECONDS,
    ) -> None:
        self.owner = owner
        self.poll = poll
        self.base = base
        self.longest = max(longest, base)
        self.delay = base
        self.paused = False
        self.ticks = 0  # polls started by the timer (tests read it)
        self._timer: Timer | None = None

    def start(self) -> None:
        """Poll now, then on the timer."""
        self.paused = False
        self._arm()
        self.poll()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.owner.set_timer(self.delay, self._tick, name="poll")

    def _tick(self) -> None:
        self._timer = None
        if self.paused:
            return
        self.ticks += 1
        self._arm()
        self.poll()

    def found(self, changed: bool) -> None:
        """What the last poll found: something new polls again soon, nothing backs off."""
        self.delay = self.base if changed else min(self.delay * 2, self.longest)

    def pause(self) -> None:
        """The pane is hidden: no more ticks until `resume`."""
        self.paused = True
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def resume(self) -> None:
        """The pane is shown again: poll at once and tick from the base delay."""
        if not self.paused:
            return
        self.delay = self.base
        self.start()
