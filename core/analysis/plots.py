"""What the regression views draw, as plain lists and dicts: any front end can plot them.

- `correlation_heatmap`: parameter × metric correlations (Spearman by default: it follows any
  monotone effect, so a log-scaled learning rate needs no transform);
- `scatter_with_fit`: a metric against each parameter, with the fitted curve and its 95%
  confidence band, the other parameters held at their reference (the mean feature);
- `parallel_coordinates`: every trial as a line across parameter and metric axes in [0, 1];
- `correlation_matrix`: the square matrix over parameters and metrics together;
- `curve_data`: one parameter's fitted curve and its 95% confidence band, as four lists;
- `residuals`: fitted value and residual per fitted trial (for a residual plot).

Missing or undefined numbers are None, never NaN, so the data serialises to JSON as is.
`parallel_coordinates_data` is `parallel_coordinates` under the name the console uses.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .design import guess_log_params
from .findings import lower_is_better
from .regression import RegressionResult
from .table import COMPLETE, as_trials_frame, numeric_columns, select_trials

if TYPE_CHECKING:
    import pandas as pd


def _num(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def correlation_heatmap(
    trials: pd.DataFrame | Iterable[Mapping[str, Any]],
    params: Sequence[str],
    metrics: Sequence[str],
    method: str = "spearman",
    exclude: Collection[int] = (),
) -> dict[str, Any]:
    """`values[i][j]`: correlation of params[i] with metrics[j] over complete trials; None
    where a column does not vary."""
    selection = select_trials(trials, [*params, *metrics], exclude=exclude)
    corr = selection.frame[[*params, *metrics]].corr(method=method)
    return {
        "rows": list(params),
        "columns": list(metrics),
        "values": [[_num(corr.loc[p, m]) for m in metrics] for p in params],
        "method": method,
        "n": selection.n,
        "left_out": dict(selection.left_out),
    }


def scatter_with_fit(
    trials: pd.DataFrame | Iterable[Mapping[str, Any]],
    result: RegressionResult,
    points: int = 50,
) -> list[dict[str, Any]]:
    """One panel per fitted parameter: the fitted trials as points, and the fitted curve.

    In relative fits y is the metric minus the baseline's (as fitted); x is always the
    parameter's own value. Parameters dropped from the fit get points and no curve.
    """
    table = as_trials_frame(trials)
    table = numeric_columns(table, [result.metric, *result.params])
    rows = table[table["number"].isin(set(result.numbers))]
    y = rows[result.metric].to_numpy(dtype=float)
    if result.baseline_metric is not None:
        y = y - result.baseline_metric
    y_label = result.metric if result.relative_to is None else f"{result.metric} − baseline"
    spec = result.spec
    fitted = {p.name: p for p in spec.params} if spec is not None else {}
    panels = []
    for name in result.params:
        param = fitted.get(name)
        panel: dict[str, Any] = {
            "param": name,
            "metric": result.metric,
            "y_label": y_label,
            "x": [_num(v) for v in rows[name]],
            "y": [_num(v) for v in y],
            "numbers": [int(n) for n in rows["number"]],
            "log": bool(param and param.log),
            "curve": None,
        }
        if param is not None and result.fitted:
            panel["curve"] = _curve(result, name, param.low, param.high, param.log, points)
            panel["held"] = {p.name: p.reference for p in fitted.values() if p.name != name}
        panels.append(panel)
    return panels


def _curve(
    result: RegressionResult, name: str, low: float, high: float, log: bool, points: int
) -> dict[str, list[float | None]]:
    if log:
        xs = [
            10 ** (math.log10(low) + k * math.log10(high / low) / (points - 1))
            for k in range(points)
        ]
    else:
        xs = [low + k * (high - low) / (points - 1) for k in range(points)]
    predictions = [result.predict({name: x}) for x in xs]
    return {
        "x": [_num(x) for x in xs],
        "y": [_num(p.mean) for p in predictions],
        "low": [_num(p.conf_low) for p in predictions],
        "high": [_num(p.conf_high) for p in predictions],
    }


def parallel_coordinates(
    trials: pd.DataFrame | Iterable[Mapping[str, Any]],
    params: Sequence[str],
    metrics: Sequence[str],
    log_params: Collection[str] | None = None,
    lower: Collection[str] | None = None,
) -> dict[str, Any]:
    """Every trial (failed and pruned too: their metrics are None) across the parameter and
    metric axes, each scaled to [0, 1] over the trials that have a value (log10 for
    log-scaled parameters; None guesses them as the regression does)."""
    import numpy as np

    table = numeric_columns(as_trials_frame(trials), [*params, *metrics])
    if log_params is None:
        log_params = guess_log_params(table[table["state"] == COMPLETE], params)
    axes, columns = [], []
    for name in [*params, *metrics]:
        raw = table[name].to_numpy(dtype=float)
        log = name in params and name in log_params and bool(np.all(raw[~np.isnan(raw)] > 0))
        v = np.log10(raw) if log else raw
        known = v[~np.isnan(v)]
        lo, hi = (float(known.min()), float(known.max())) if len(known) else (math.nan, math.nan)
        span = hi - lo if hi > lo else 1.0
        columns.append([None if math.isnan(x) else float((x - lo) / span) for x in v])
        axes.append(
            {
                "name": name,
                "kind": "param" if name in params else "metric",
                "low": _num(10**lo if log else lo),
                "high": _num(10**hi if log else hi),
                "log": log,
                "lower_is_better": name in metrics and lower_is_better(name, lower),
            }
        )
    lines = [
        {
            "number": int(row["number"]),
            "state": row["state"],
            "values": [column[i] for column in columns],
            "raw": [_num(row[name]) for name in [*params, *metrics]],
        }
        for i, (_, row) in enumerate(table.iterrows())
    ]
    return {"axes": axes, "lines": lines}


def correlation_matrix(
    trials: pd.DataFrame | Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    method: str = "spearman",
    exclude: Collection[int] = (),
) -> dict[str, Any]:
    """`values[i][j]`: correlation of columns[i] with columns[j] over the complete trials
    that have every column (a heatmap of parameters and metrics); None where one is constant."""
    selection = select_trials(trials, list(columns), exclude=exclude)
    corr = selection.frame[list(columns)].corr(method=method)
    return {
        "columns": list(columns),
        "values": [[_num(corr.loc[a, b]) for b in columns] for a in columns],
        "method": method,
        "n": selection.n,
        "left_out": dict(selection.left_out),
    }


def curve_data(
    result: RegressionResult, param: str, points: int = 50
) -> tuple[list[float], list[float], list[float], list[float]]:
    """x, fitted y, and the 95% confidence band (low, high) of `result` along `param` over its
    observed range, the other parameters at their centre; y as fitted (relative fits: the
    difference from the baseline). Empty lists when `param` was not fitted."""
    spec = result.spec
    fitted = {p.name: p for p in spec.params} if spec is not None else {}
    if param not in fitted or not result.fitted:
        return [], [], [], []
    p = fitted[param]
    curve = _curve(result, param, p.low, p.high, p.log, points)
    return (
        [float(v) for v in curve["x"] if v is not None],
        [float(v) if v is not None else math.nan for v in curve["y"]],
        [float(v) if v is not None else math.nan for v in curve["low"]],
        [float(v) if v is not None else math.nan for v in curve["high"]],
    )


def residuals(result: RegressionResult) -> dict[str, Any]:
    """Per fitted trial: its number, fitted value and residual (observed minus fitted)."""
    return {
        "metric": result.metric,
        "numbers": list(result.numbers) if result.fitted else [],
        "fitted": [_num(v) for v in result.fitted_values],
        "residuals": [_num(v) for v in result.residuals],
    }


parallel_coordinates_data = parallel_coordinates
