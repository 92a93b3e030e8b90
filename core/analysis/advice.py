"""From fits to advice: which fits are established, findings in words, cross-metric trade-offs,
an optimum and a narrower space.

**An established fit** (`fit_verdicts`): the gate for every finding and for the optimum. A
metric's fit is established when all of

1. it is significant as a whole: its F-test p, after Holm's correction over every metric
   fitted in the same analysis (they are tested at once), is below alpha;
2. it is predictive: its leave-one-out predictive R² (Q² = 1 - PRESS/TSS, from the hat
   matrix) is above 0, i.e. it predicts a trial it was not fitted on better than the plain
   mean of the trials does;
3. where replicate trials (the same setting run more than once) allow the test, the
   lack-of-fit F test is not significant: the fitted shape leaves no structure larger than
   the seed noise unexplained.

Without replicates the analysis says that seed noise was not measured. The findings
(`findings`) are tested contrasts over the observed ranges, stated only under the rules in
that module's doc; the text, the trade-off table and the JSON all render those objects, so
they cannot disagree.

**The optimum** is searched only inside the observed box and only over values each parameter
can take (a study's choices and grids, whole numbers for integer columns): the continuous
best point is kept as `fitted_point`, and what was snapped is listed. A prediction outside
the metric's possible range (accuracy and F1 in [0, 1], loss >= 0) is reported as the fit
breaking down, never as a result. It is printed as a result, and may be acted on (queued,
narrowed around), only when its fit is established, at least one of its findings is
established, and the fit has at least 2 trials per term:
`Optimum.refusals` says why not otherwise; `--force` overrides every refusal but a fit that
breaks down.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .checks import MIN_TRIALS_PER_TERM, fmt, fmt_p, holm_adjusted, trials_per_term
from .findings import (
    Finding,
    FitVerdict,
    Judge,
    findings_for,
    holm,
    lower_is_better,
    metric_range,
    settle,
)
from .optimum import Optimum, find_optimum
from .regression import RegressionResult

__all__ = [
    "Advice",
    "Finding",
    "FitVerdict",
    "Optimum",
    "advise",
    "describe_terms",
    "find_optimum",
    "fit_verdicts",
    "lower_is_better",
    "metric_range",
    "optimum_lines",
    "trade_off_table",
]


@dataclass(frozen=True)
class Advice:
    """Everything `advise` found, as data for a screen and as lines for a terminal.

    `fits[metric]`: whether that fit is established and why not; `findings[metric]`: every
    tested contrast (stated or not, see `Finding.stated`); `trade_offs`: one row per table
    term, its cells built from those same findings; `cautions[metric]`: the fit's warnings
    and each finding significant on its own but not established, with the reasons.
    `directions[metric]`: how the metric's direction was decided, in words.
    """

    findings: dict[str, list[Finding]]
    trade_offs: list[dict[str, Any]]
    optima: dict[str, Optimum]
    cautions: dict[str, list[str]] = field(default_factory=dict)
    multiple_testing: str = ""
    fits: dict[str, FitVerdict] = field(default_factory=dict)
    alpha: float = 0.05
    directions: dict[str, str] = field(default_factory=dict)

    def stated(self, metric: str) -> list[Finding]:
        return [f for f in self.findings.get(metric, []) if f.stated]

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": {m: [f.to_dict() for f in fs] for m, fs in self.findings.items()},
            "trade_offs": self.trade_offs,
            "optima": {m: o.to_dict() for m, o in self.optima.items()},
            "cautions": self.cautions,
            "multiple_testing": self.multiple_testing,
            "fits": {m: v.to_dict() for m, v in self.fits.items()},
            "directions": self.directions,
        }

    def metric_lines(self, metric: str, skip: Collection[str] = ()) -> list[tuple[str, str]]:
        """One metric's advice as (kind, text) lines, kind one of heading, fit, noise,
        caution, finding, not-established, none, optimum; `skip`: cautions already shown
        (a front end that prints the warnings beside the fit)."""
        out: list[tuple[str, str]] = []
        heading = f"{metric}:"
        if metric in self.directions:
            heading = f"{metric} ({self.directions[metric]}):"
        out.append(("heading", heading))
        findings = self.findings.get(metric, [])
        verdict = self.fits.get(metric)
        if verdict is not None:
            out.append(("fit", fit_line(verdict, self.alpha)))
            if verdict.seed_noise:
                out.append(("noise", verdict.seed_noise))
        out += [("caution", f"caution: {c}") for c in self.cautions.get(metric, [])
                if c not in skip and not c.startswith(NOT_ESTABLISHED)]  # fmt: skip
        stated = [f for f in findings if f.stated]
        out += [("finding", f.text) for f in stated]
        tempting = [f for f in findings if f.significant and not f.stated]
        if not stated:
            if tempting:
                out.append((
                    "none",
                    f"no finding established: {len(tempting)} contrast(s) with p < "
                    f"{self.alpha:g} on their own, none passing the rules (listed below)",
                ))  # fmt: skip
            elif findings:
                out.append(("none", f"no finding established: no contrast has p < {self.alpha:g}"))
            else:
                out.append(("none", "no finding established: nothing was fitted"))
        out += [("not-established", c) for c in self.cautions.get(metric, [])
                if c.startswith(NOT_ESTABLISHED)]  # fmt: skip
        optimum = self.optima.get(metric)
        if optimum is not None:
            out += [("optimum", line) for line in optimum_lines(optimum)]
        return out

    def lines(self) -> list[str]:
        """The fits' verdicts, findings, cautions and optima as plain text lines (what
        `hptui analyze` prints under "advice")."""
        out: list[str] = []
        for metric in self.findings:
            for kind, text in self.metric_lines(metric):
                out.append(text if kind == "heading" else f"  {text}")
        if self.multiple_testing:
            out.append(self.multiple_testing)
        return out


NOT_ESTABLISHED = "not established: "


def fit_line(verdict: FitVerdict, alpha: float) -> str:
    """The fit's verdict in one line, with the numbers it rests on."""
    if verdict.established:
        numbers = f"F-test {_p(verdict.f_pvalue)}"
        if math.isfinite(verdict.f_pvalue_holm) and verdict.f_pvalue_holm != verdict.f_pvalue:
            numbers += f", Holm over the metrics {_p(verdict.f_pvalue_holm)}"
        numbers += f"; predictive R² (leave-one-out) {_q2(verdict.q2)}"
        if verdict.lack_of_fit_p is not None:
            numbers += f"; lack of fit {_p(verdict.lack_of_fit_p)}"
        return f"fit established ({numbers})"
    return f"fit not established: {'; '.join(verdict.reasons)}"


def _p(p: float) -> str:
    """`p = 0.041` or `p < 0.0001`; a dash when there is no p."""
    return fmt_p(p) if math.isfinite(p) else "p –"


def _q2(q2: float) -> str:
    return "−inf" if q2 == -math.inf else f"{q2:.2f}".replace("-", "−")


def optimum_lines(optimum: Optimum) -> list[str]:
    """The optimum in words. A fit that breaks down, or one not established, says so and
    prints no number as a result (`--format json` keeps them, marked not actionable)."""
    kind = "maximum" if optimum.maximize else "minimum"
    if optimum.breaks_down:
        return [
            f"no {kind} reported: the fit breaks down in the searched box "
            f"({optimum.breaks_down}); the {optimum.model} fit does not describe these "
            "trials there"
        ]
    if optimum.refusals:
        return [
            f"no {kind} established: {'; '.join(optimum.refusals)} (--force acts on the "
            "fitted point anyway)"
        ]
    where = ", ".join(f"{k} = {fmt(v)}" for k, v in optimum.values.items())
    p = optimum.prediction
    lines = [
        f"fitted {kind} in the observed box: {where} -> {optimum.metric} {fmt(p.mean)} "
        f"(95% prediction interval {fmt(p.pred_low)} to {fmt(p.pred_high)})"
    ]
    if optimum.best_observed is not None:
        number, value = optimum.best_observed
        lines.append(f"best observed trial: #{number}, {optimum.metric} {fmt(value)}")
    for name, (fitted, taken) in optimum.snapped.items():
        if name in optimum.unsupported:
            continue  # where the fit puts it is not established; the space keeps its range
        lines.append(
            f"{name}: the fitted curve's best is {fmt(fitted)}; {fmt(taken)} is the best value "
            "it can take"
        )
    lines += list(optimum.notes)
    return lines


def fit_verdicts(results: Mapping[str, RegressionResult], alpha: float) -> dict[str, FitVerdict]:
    """Whether each fit is established (the rules in the module doc), with its reasons."""
    fitted = [m for m, r in results.items() if r.fitted and math.isfinite(r.f_pvalue)]
    adjusted = dict(zip(fitted, holm_adjusted([results[m].f_pvalue for m in fitted]),
                        strict=True))  # fmt: skip
    out = {}
    for metric, result in results.items():
        noise = _noise_sentence(result)
        if not result.fitted:
            out[metric] = FitVerdict(metric, False, ("nothing was fitted",), seed_noise=noise)
            continue
        reasons = []
        p_holm = adjusted.get(metric, math.nan)
        if not p_holm < alpha:
            shown = f"F-test {_p(result.f_pvalue)}"
            if len(fitted) > 1:
                shown += f", {_p(p_holm)} after Holm over the {len(fitted)} metrics fitted"
            reasons.append(f"not significant as a whole ({shown}; needs < {alpha:g})")
        if not result.q2 > 0:
            reasons.append(
                f"not predictive (leave-one-out predictive R² {_q2(result.q2)} <= 0: it "
                "predicts a trial it was not fitted on no better than the mean of the others)"
            )
        lof = result.lack_of_fit
        if lof is not None and lof.p < alpha:
            reasons.append(
                f"missing structure larger than the seed noise (lack-of-fit F = {fmt(lof.f)} on "
                f"{lof.df_lof} and {lof.df_pe} df, {_p(lof.p)}): the {result.model} fit does "
                "not describe the replicated settings"
            )
        out[metric] = FitVerdict(
            metric, not reasons, tuple(reasons), result.f_pvalue, p_holm, result.q2,
            lof.p if lof is not None else None, noise,
        )  # fmt: skip
    return out


def _noise_sentence(result: RegressionResult) -> str:
    """What the replicate trials measured, or that seed noise was not measured."""
    noise = result.seed_noise
    if not result.fitted:
        return ""
    if noise is None:
        return (
            "seed noise not measured: no two fitted trials share a setting, so no effect is "
            "checked against re-runs and lack of fit is not tested"
        )
    if not noise.measured:
        return (
            f"seed noise not measured: the {noise.groups} replicate group(s) agree exactly "
            "(re-runs with the same seed?), so lack of fit is not tested"
        )
    text = (
        f"seed noise (pure error of {noise.groups} replicate group(s), {noise.trials} trials): "
        f"sd {fmt(noise.sd)} on {noise.df} df; a finding must be larger"
    )
    if result.lack_of_fit is None:
        text += "; lack of fit not testable (no more distinct settings than terms)"
    return text


def advise(
    results: Mapping[str, RegressionResult],
    alpha: float = 0.05,
    lower: Collection[str] | None = None,
    shrink: float = 0.5,
    resolution: float | None = None,
) -> Advice:
    """Fit verdicts, findings per metric, the trade-off table and each metric's optimum and
    narrower space.

    `lower`: the lower-is-better metrics (default: guessed from the name: loss, error, mse,
    cross_entropy, perplexity). `resolution`: the smallest step of accuracy-like metrics
    (1/n_eval), when known; changes below it, or below the seed noise, are not stated.
    """
    judge = Judge(alpha, lower, resolution)
    verdicts = fit_verdicts(results, alpha)
    findings = settle(holm({m: findings_for(r, judge) for m, r in results.items()}), verdicts,
                      alpha)  # fmt: skip
    cautions: dict[str, list[str]] = {}
    optima = {}
    for metric, result in results.items():
        cautions[metric] = list(result.warnings)
        for f in findings[metric]:
            if f.significant and not f.stated:
                cautions[metric].append(f"{NOT_ESTABLISHED}{f.text}: {'; '.join(f.notes)}")
        if result.fitted:
            stated = [f for f in findings[metric] if f.stated]
            supported = {f.parameter for f in stated} | {f.other for f in stated if f.other}
            optimum = find_optimum(
                result, not lower_is_better(metric, lower), shrink, supported=supported
            )
            optima[metric] = _with_refusals(
                optimum, result, verdicts[metric], any(f.stated for f in findings[metric])
            )
    return Advice(
        findings, trade_off_table(findings, lower), optima, cautions,
        multiple_testing_note(findings, alpha), verdicts, alpha,
    )  # fmt: skip


def multiple_testing_note(findings: Mapping[str, list[Finding]], alpha: float) -> str:
    """How many contrasts were tested at once, and how many survive Holm's correction."""
    flat = [f for fs in findings.values() for f in fs]
    if not flat:
        return ""
    raw = sum(1 for f in flat if f.p < alpha)
    adjusted = sum(1 for f in flat if f.p_holm < alpha)
    stated = sum(1 for f in flat if f.stated)
    return (
        f"multiple testing: {len(flat)} contrasts tested at once; with p < {alpha:g} on their "
        f"own: {raw} ({fmt(len(flat) * alpha)} expected by chance alone if nothing mattered); "
        f"after Holm's correction (p_holm): {adjusted}; established: {stated}"
    )


def _with_refusals(
    optimum: Optimum, result: RegressionResult, verdict: FitVerdict, any_stated: bool
) -> Optimum:
    """Why the optimum is not a result: the fit breaks down there, is not established, has
    no established finding (the optimum would rest on effects none of which passed the
    rules), or has fewer than 2 trials per term."""
    import dataclasses

    reasons = []
    if optimum.breaks_down:
        reasons.append(f"the fit breaks down ({optimum.breaks_down})")
    reasons += [f"the {result.metric} fit is {reason}" for reason in verdict.reasons]
    if verdict.established and not any_stated:
        reasons.append(
            f"no finding of the {result.metric} fit is established, so its optimum rests on "
            "effects none of which passed the rules"
        )
    per_term = trials_per_term(result.n, len(result.terms))
    if per_term < MIN_TRIALS_PER_TERM:
        reasons.append(
            f"{result.n} trials for {len(result.terms)} terms ({per_term:.1f} per term; "
            f"at least {MIN_TRIALS_PER_TERM:g} needed)"
        )
    return dataclasses.replace(optimum, refusals=tuple(reasons))


def describe_terms(
    result: RegressionResult, alpha: float = 0.05, lower: Collection[str] | None = None
) -> list[Finding]:
    """The stated findings of one fit (its fit established, Holm over its own contrasts,
    possible and large enough), strongest first: "learning_rate 2e-05 → 5e-05: f1 −0.012 ±
    0.001, worse (p = 0.004, Holm p = 0.02)"."""
    judge = Judge(alpha, lower)
    verdicts = fit_verdicts({result.metric: result}, alpha)
    settled = settle(holm({result.metric: findings_for(result, judge)}), verdicts, alpha)
    return [f for f in settled[result.metric] if f.stated]


def trade_off_table(
    findings: Mapping[str, Sequence[Finding]], lower: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """Per finding term (a parameter's change, its curvature, an interaction), each metric's
    change, p, direction and whether it is stated, and a verdict.

    A term "agrees" when every metric where it is stated moves the same way in terms of
    better/worse (a rise in accuracy and a drop in loss agree), "trade-off" when it helps
    some and hurts others; with fewer than two stated metrics: "only <metric>" or "none
    established". Built from the findings, so it always matches the text.
    """
    del lower  # the direction words already account for it
    names: list[str] = []
    for fs in findings.values():
        names += [f.term for f in fs if f.term not in names]
    rows = []
    for name in names:
        cells: dict[str, dict[str, Any]] = {}
        for metric, fs in findings.items():
            found = next((f for f in fs if f.term == name), None)
            if found is None:
                cells[metric] = {"change": None, "p": None, "p_holm": None, "sign": "",
                                 "direction": None, "significant": False}  # fmt: skip
                continue
            cells[metric] = {
                "change": found.change,
                "p": found.p,
                "p_holm": found.p_holm,
                "sign": "+" if found.change > 0 else "−" if found.change < 0 else "0",
                "direction": found.direction,
                "significant": found.stated,
            }
        stated = {m: c["direction"] for m, c in cells.items() if c["significant"]}
        if len(stated) >= 2:
            verdict = "agrees" if len(set(stated.values())) == 1 else "trade-off"
        elif stated:
            verdict = f"only {next(iter(stated))}"
        else:
            verdict = "none established"
        rows.append({"term": name, "cells": cells, "verdict": verdict})
    return rows
