"""The analysis tab: the study's regression, advice and plots, and two actions on them.

Everything shown comes from `hptui.core.analysis.analyze.analyze` and `hptui.core.views.analysis`
(fits, findings, plot data, refusals); this widget only lays it out. Fits run in a thread
worker when the tab is first shown, when a toggle changes, and when a poll of the study's
trial changes (cheap, incremental) sees a trial finish or the marks change.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static
from textual_plot import HiResMode, PlotWidget
from textual_plot.axis_formatter import CategoricalAxisFormatter

from hptui.core.errors import HptuiError
from hptui.core.studies.marks import Marks
from hptui.core.views.analysis import (
    METRIC_CHOICES,
    ActionPlan,
    AnalysisFeed,
    AnalysisRequest,
    AnalysisSnapshot,
    AnalysisView,
)

from ...format import error_line, number, short
from ...messages import ReportsWorkerErrors
from ...services import services
from . import render

POLL_SECONDS = 2.0
MAX_LINES = 400  # parallel coordinates: beyond this many trials, the best and a sample


class AnalysisPane(ReportsWorkerErrors, Vertical):
    """Toggles on m/r/f, the curve's parameter on p, actions on o and n."""

    BINDINGS = [
        Binding("m", "cycle_metric", "Metric"),
        Binding("r", "toggle_relative", "Absolute/relative"),
        Binding("f", "toggle_raw", "Scaled/raw"),
        Binding("p", "cycle_param", "Curve parameter"),
        Binding("o", "enqueue_optimum", "Queue optimum"),
        Binding("n", "narrow", "Narrow space"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "analysis--significant", "analysis--warning", "analysis--note", "analysis--heat-none",
        "analysis--heat-pos", "analysis--heat-pos-strong", "analysis--heat-neg",
        "analysis--heat-neg-strong",
    }  # fmt: skip
    DEFAULT_CSS = """
    AnalysisPane { height: 1fr; }
    AnalysisPane > .analysis--significant { color: $success; text-style: bold; }
    AnalysisPane > .analysis--warning { color: $warning; }
    AnalysisPane > .analysis--note { color: $text-muted; }
    AnalysisPane > .analysis--heat-none { }
    AnalysisPane > .analysis--heat-pos { background: $success 25%; }
    AnalysisPane > .analysis--heat-pos-strong { background: $success 60%; text-style: bold; }
    AnalysisPane > .analysis--heat-neg { background: $error 25%; }
    AnalysisPane > .analysis--heat-neg-strong { background: $error 60%; text-style: bold; }
    #analysis-status { height: 1; padding: 0 1; background: $boost; }
    #analysis-body { height: 1fr; overflow-x: auto; }
    #analysis-body > Static { width: auto; padding: 0 1; }
    #analysis-body > .section-title { margin-top: 1; }
    #analysis-message { color: $warning; text-style: bold; }
    #analysis-curve, #analysis-parallel { height: 14; width: 1fr; }
    """

    def __init__(self, study: str) -> None:
        super().__init__()
        self.study = study
        self.metric = "f1"
        self.metric_chosen = False
        self.relative = False
        self.raw = False
        self.param_index = 0
        self.view: AnalysisView | None = None
        self.marks: Marks | None = None
        self.objective: str | None = None
        self.message = ""
        self.fits = 0  # analyses shown so far (tests wait on it)
        self._generation = 0
        self._started = False
        self._feed: AnalysisFeed | None = None
        self._fitting = threading.Lock()

    def compose(self) -> ComposeResult:
        yield Static("", id="analysis-status", markup=False)
        with VerticalScroll(id="analysis-body"):
            yield Static("", id="analysis-message", markup=False)
            yield Static("", id="analysis-fit")
            yield Static("Advice and trade-offs", classes="section-title")
            yield Static("", id="analysis-advice")
            yield Static("", id="analysis-trade")
            yield Static("", id="analysis-importance")
            yield Static("", id="analysis-curve-title", classes="section-title", markup=False)
            yield PlotWidget(id="analysis-curve")
            yield Static("Correlations", classes="section-title")
            yield Static("", id="analysis-heatmap")
            yield Static("", id="analysis-parallel-title", classes="section-title", markup=False)
            yield PlotWidget(id="analysis-parallel")

    def on_mount(self) -> None:
        self.query_one("#analysis-message").display = False
        self._status()
        seconds = max(POLL_SECONDS, services(self).refresh_seconds)
        self._poll_timer = self.set_interval(seconds, self.poll, pause=True)

    def on_show(self) -> None:
        """The first time the tab is shown: fit (a study never looked at costs nothing);
        shown again, look for changes at once. Only a shown tab polls."""
        if not self._started:
            self._started = True
            self.refit()
        else:
            self.poll()
        self._poll_timer.resume()

    def on_hide(self) -> None:
        self._poll_timer.pause()

    def focus_body(self) -> None:
        self.query_one("#analysis-body").focus()

    # -- fitting (thread workers) --------------------------------------------------------
    def _request(self) -> AnalysisRequest:
        return AnalysisRequest(self.metric, self.relative, self.raw, self.metric_chosen)

    def refit(self) -> None:
        """Fit again with the current toggles; a newer request supersedes a running one."""
        self._generation += 1
        self._status("fitting...")
        self._fit(self._generation, self._request(), True)

    @work(thread=True, group="analysis-fit", exit_on_error=False, name="fit the analysis")
    def _fit(self, generation: int, request: AnalysisRequest, force: bool) -> None:
        with self._fitting:  # one fit at a time; superseded requests return at once
            if generation != self._generation:
                return
            if self._feed is None:
                self._feed = AnalysisFeed(services(self).store, self.study)
            try:
                snapshot = self._feed.poll(request, force=force)
            except HptuiError as exc:
                self.app.call_from_thread(self._show_error, generation, str(exc))
                return
            except Exception as exc:  # the database went away, a lock timed out...
                self.app.call_from_thread(self._show_error, generation, error_line(exc))
                return
            if snapshot is not None:
                self.app.call_from_thread(self._show, generation, snapshot)
            elif force:
                self.app.call_from_thread(self._status)

    def poll(self) -> None:
        """Refit when a trial finished or the marks changed since the last look (the feed
        decides, in a thread; a poll never supersedes a fit the user asked for)."""
        if self._started and not self._fitting.locked():
            self._fit(self._generation, self._request(), False)

    # -- showing (event loop) ------------------------------------------------------------
    def _show_error(self, generation: int, text: str) -> None:
        if generation != self._generation:
            return
        self.view = None
        self.fits += 1
        self._say(f"cannot analyse the study: {text}")
        self._status()

    def _show(self, generation: int, snapshot: AnalysisSnapshot) -> None:
        if generation != self._generation:
            return
        view = snapshot.view
        self.marks, self.objective = snapshot.marks, snapshot.objective
        if not self.metric_chosen:
            self.metric = snapshot.metric
        self.view = view
        self.fits += 1
        if view is None:
            self._say(
                "relative to the baseline: no baseline is marked in this study. Mark one in "
                "the trials tab (2, then b on a trial), or press r for absolute values."
            )
            self._clear()
        else:
            self._say("")
            self._draw(view)
        self._status()

    def _style(self, name: str) -> Any:
        return self.get_component_rich_style(f"analysis--{name}")

    def _draw(self, view: AnalysisView) -> None:
        analysis = view.analysis
        self.query_one("#analysis-fit", Static).update(render.fit_section(analysis, self._style))
        self.query_one("#analysis-advice", Static).update(
            render.advice_section(analysis, self._style)
        )
        trade = self.query_one("#analysis-trade", Static)
        if len(analysis.results) > 1:
            trade.update(render.trade_off_table(analysis, self._style))
        else:
            trade.update("(m: all three metrics for the cross-metric trade-off table)")
        self.query_one("#analysis-importance", Static).update(
            render.importance_section(analysis, self._style)
        )
        self.query_one("#analysis-heatmap", Static).update(
            render.heat_table(view.heatmap, self._style)
        )
        self._draw_curve(view)
        self._draw_parallel(view)

    def _clear(self) -> None:
        for name in (
            "fit", "advice", "trade", "importance", "heatmap", "curve-title", "parallel-title",
        ):  # fmt: skip
            self.query_one(f"#analysis-{name}", Static).update("")
        for name in ("curve", "parallel"):
            self.query_one(f"#analysis-{name}", PlotWidget).clear()

    def _draw_curve(self, view: AnalysisView) -> None:
        plot = self.query_one("#analysis-curve", PlotWidget)
        title = self.query_one("#analysis-curve-title", Static)
        plot.clear()
        if not view.panels:
            title.update(f"{view.metric}: no fitted curve (the fit did not succeed)")
            return
        panel = view.panels[self.param_index % len(view.panels)]
        name = short(panel["param"]) + (" (log10)" if panel["log"] else "")
        title.update(
            f"{panel['y_label']} vs {name}: trials, the fitted curve and its 95% band, "
            f"the others at their centre (p: next parameter, {len(view.panels)} fitted)"
        )
        points = [(x, y) for x, y in zip(panel["x"], panel["y"], strict=True)
                  if x is not None and y is not None]  # fmt: skip
        if points:
            plot.scatter([x for x, _ in points], [y for _, y in points], marker="•")
        curve = panel["curve"]
        if curve is not None:
            for key, style in (("low", "dim"), ("high", "dim"), ("y", "bold")):
                pairs = [(x, y) for x, y in zip(curve["x"], curve[key], strict=True)
                         if x is not None and y is not None]  # fmt: skip
                if pairs:
                    plot.plot([x for x, _ in pairs], [y for _, y in pairs], line_style=style,
                              hires_mode=HiResMode.BRAILLE)  # fmt: skip
        plot.set_xlabel(name)
        plot.set_ylabel(panel["y_label"])

    def _draw_parallel(self, view: AnalysisView) -> None:
        plot = self.query_one("#analysis-parallel", PlotWidget)
        title = self.query_one("#analysis-parallel-title", Static)
        plot.clear()
        axes, lines = view.parallel["axes"], view.parallel["lines"]
        best = ", ".join(f"#{n}" for n in view.parallel["best"])
        title.update(
            f"Parallel coordinates: {len(lines)} trial(s), each axis from its lowest (0) to "
            f"highest (1) value; bold: the best by {view.metric} ({best or 'none'})"
        )
        if not lines:
            return
        xs = [float(i + 1) for i in range(len(axes))]
        ordinary = [line for line in lines if not line["best"]]
        step = max(1, len(ordinary) // MAX_LINES)
        for line in ordinary[::step]:
            plot.plot(xs, line["values"], line_style="dim", hires_mode=HiResMode.BRAILLE)
        for line in lines:
            if line["best"]:
                plot.plot(xs, line["values"], line_style="bold", hires_mode=HiResMode.BRAILLE)
        labels = [short(a["name"]) + ("·log" if a["log"] else "") for a in axes]
        plot.set_x_formatter(CategoricalAxisFormatter(labels))
        plot.set_xlimits(0.8, len(axes) + 0.2)
        plot.set_ylimits(-0.05, 1.05)
        plot.set_xlabel("")
        plot.set_ylabel("")

    def _status(self, text: str | None = None) -> None:
        parts = [
            "all metrics" if self.metric == "all" else self.metric,
            self._relative_label(),
            "raw features" if self.raw else "scaled features",
        ]
        if text is not None:
            parts.append(text)
        elif self.view is not None:
            excluded = len(self.view.analysis.excluded)
            parts.append(
                f"{excluded} excluded in the trials tab, left out" if excluded else "none excluded"
            )
        self.query_one("#analysis-status", Static).update("   ".join(parts))

    def _relative_label(self) -> str:
        if not self.relative:
            return "absolute"
        if self.marks is not None and self.marks.baseline is None:
            return "relative: NO BASELINE MARKED"
        if self.marks is not None:
            return f"relative to baseline #{self.marks.baseline}"
        return "relative to the baseline"

    def _say(self, text: str) -> None:
        self.message = text
        line = self.query_one("#analysis-message", Static)
        line.update(text)
        line.display = bool(text)

    # -- toggles -------------------------------------------------------------------------
    def action_cycle_metric(self) -> None:
        index = METRIC_CHOICES.index(self.metric) if self.metric in METRIC_CHOICES else -1
        self.metric = METRIC_CHOICES[(index + 1) % len(METRIC_CHOICES)]
        self.metric_chosen = True
        self.refit()

    def action_toggle_relative(self) -> None:
        self.relative = not self.relative
        self.refit()

    def action_toggle_raw(self) -> None:
        self.raw = not self.raw
        self.refit()

    def action_cycle_param(self) -> None:
        self.param_index += 1
        if self.view is not None:
            self._draw_curve(self.view)

    # -- actions -------------------------------------------------------------------------
    def _plan(self, kind: str) -> ActionPlan | None:
        """The action's plan, or None after saying why it cannot be taken at all."""
        if self.view is None:
            self._refuse("no analysis to act on yet")
            return None
        plan = self.view.enqueue if kind == "enqueue" else self.view.narrow
        if plan.refusal is not None and not plan.forceable:
            self._refuse(plan.refusal)
            return None
        return plan

    def _refuse(self, reason: str) -> None:
        self._say(f"refused: {reason}")
        self.notify(f"refused: {reason}", severity="error", markup=False)

    def action_enqueue_optimum(self) -> None:
        plan = self._plan("enqueue")
        if plan is None or plan.params is None:
            return
        from ...screens.confirm import ConfirmScreen

        values = ", ".join(f"{k} = {number(v)}" for k, v in plan.params.items())
        values += "".join(f"\n{note}" for note in plan.notes)  # what was snapped, and where
        question = f"Queue the fitted {plan.metric} optimum as a trial of {self.study}?\n{values}"
        if plan.refusal is not None:
            self._say(f"refused unless confirmed: {plan.refusal}")
            question = (
                f"{plan.refusal}.\n\nQueue it anyway (what --force does in `hptui analyze`)?"
                f"\n{values}"
            )
        params = dict(plan.params)

        def answered(yes: bool | None) -> None:
            if yes:
                self._enqueue(params)

        self.app.push_screen(ConfirmScreen(question), answered)

    @work(thread=True, group="analysis-action", exit_on_error=False, name="queue the optimum")
    def _enqueue(self, params: dict[str, Any]) -> None:
        try:
            services(self).store.enqueue(self.study, params)
        except Exception as exc:
            text = str(exc) if isinstance(exc, HptuiError) else error_line(exc)
            self.app.call_from_thread(self._refuse, f"not queued: {text}")
            return
        values = ", ".join(f"{k} = {number(v)}" for k, v in params.items())
        self.app.call_from_thread(self._done, f"queued a trial at the fitted optimum: {values}")

    def action_narrow(self) -> None:
        plan = self._plan("narrow")
        if plan is None or plan.space is None:
            return
        if plan.refusal is not None:
            self._say(f"refused unless confirmed: {plan.refusal}")
        self._prepare_narrow(plan)

    @work(thread=True, group="analysis-action", exit_on_error=False, name="narrow the space")
    def _prepare_narrow(self, plan: ActionPlan) -> None:
        from hptui.core.views.analysis import NARROW_SUFFIX, narrow_settings_note

        assert plan.space is not None
        store = services(self).store
        try:
            name = store.suggest_name(self.study + NARROW_SUFFIX)
            note = narrow_settings_note(store.require_settings(self.study))
            settings = store.narrow_settings(self.study, plan.space)
        except Exception as exc:
            text = str(exc) if isinstance(exc, HptuiError) else error_line(exc)
            self.app.call_from_thread(self._refuse, text)
            return
        self.app.call_from_thread(self._confirm_narrow, plan, name, note, settings)

    def _confirm_narrow(self, plan: ActionPlan, name: str, note: str, settings: Any) -> None:
        """Show the narrower space; on yes, open it in the space form for review: the
        study is created there (ctrl+s), with the form's checks."""
        from ...screens.narrow_space import NarrowSpaceScreen
        from ...screens.new_study import NewStudyScreen

        assert plan.space is not None
        question = (
            f"Create the study {name} over this narrower space around the fitted "
            f"{plan.metric} optimum of {self.study}? It keeps {note}. The space form opens "
            "for review first."
        )
        if plan.refusal is not None:
            question = f"{plan.refusal}.\n\nCreate it anyway (what --force does)? " + question

        def created(study: str | None) -> None:
            if study:
                self._done(
                    f"created the study {study}: open it from the studies (escape) to run it"
                )

        def answered(yes: bool | None) -> None:
            if yes:
                self.app.push_screen(NewStudyScreen(name, settings), created)

        self.app.push_screen(NarrowSpaceScreen(question, plan.space.to_toml()), answered)

    def _done(self, text: str) -> None:
        self._say(text)
        self.notify(text, markup=False)
