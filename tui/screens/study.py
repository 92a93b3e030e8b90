"""One study: live training, the trials table, and tabs for the space and the analysis."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, TabbedContent, TabPane

from ..widgets.analysis.pane import AnalysisPane
from ..widgets.live.pane import LivePane
from ..widgets.space.pane import SpacePane
from ..widgets.trials.pane import TrialsPane


class StudyScreen(Screen[None]):
    """Tabs on 1-4; escape goes back to the studies."""

    BINDINGS = [
        Binding("1", "tab('live')", "Live", show=False),  # the tab bar shows the digits
        Binding("2", "tab('trials')", "Trials", show=False),
        Binding("3", "tab('space')", "Space", show=False),
        Binding("4", "tab('analysis')", "Analysis", show=False),
        Binding("w", "start_workers", "Start workers"),
        Binding("escape", "back", "Studies"),
    ]

    def __init__(self, study: str) -> None:
        super().__init__()
        self.study = study

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="live", id="study-tabs"):
            with TabPane("1 Live", id="live"):
                yield LivePane(self.study)
            with TabPane("2 Trials", id="trials"):
                yield TrialsPane(self.study)
            with TabPane("3 Space", id="space"):
                yield SpacePane(self.study)
            with TabPane("4 Analysis", id="analysis"):
                yield AnalysisPane(self.study)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.study

    async def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Whichever way a tab was shown (its key, a click, the tab bar), focus moves into
        it: a pane's keys work at once, and focus never stays behind in a hidden tab (from
        where Textual would switch back to it)."""
        tab = event.pane.id
        if tab == "space":
            await self.query_one(SpacePane).activate()  # built on first view
        self.call_after_refresh(self._focus_tab, tab)

    def _focus_tab(self, tab: str | None) -> None:
        targets = {
            "live": "#live-cards",
            "trials": "#trials-grid",
            "space": "#space-rows",  # the form, not a field: digits still switch tabs
            "analysis": "#analysis-body",
        }
        found = self.query(targets.get(tab or "", "#live-cards"))
        if found:
            found.first().focus()

    def action_tab(self, tab: str) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.active == tab:
            self._focus_tab(tab)  # already shown: still bring focus back to it
            return
        # Let go of the focus first: left on a widget of the tab being hidden, Textual would
        # move it to another focusable widget, and the tabs follow focus back.
        self.set_focus(None)
        tabs.active = tab

    def action_back(self) -> None:
        """Back to the studies; with an edited space (focus anywhere), ask first."""
        space = self.query_one(SpacePane)
        if space.edited:
            space.action_leave()
            return
        self.app.pop_screen()

    def action_start_workers(self) -> None:
        from .start_workers import StartWorkersScreen

        self.app.push_screen(StartWorkersScreen(self.study))
