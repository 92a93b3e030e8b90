"""Analysis: degree-2 polynomial OLS of the metrics on the hyperparameters, tested
findings stated only under the rules of `findings` and `advice`, Optuna's importance beside
them (descriptive), and what the plots draw.

Import from the modules, or take these names from the wing itself (loaded on first use).
"""

from __future__ import annotations

from hptui.core import lazy_exports

_EXPORTS = {
    "analyze": "analyze",
    "Analysis": "analyze",
    "AnalysisOptions": "analyze",
    "fit_regression": "regression",
    "fit_metrics": "regression",
    "RegressionResult": "regression",
    "Finding": "findings",
    "FitVerdict": "findings",
    "Direction": "analyze",
    "plan_queue": "analyze",
    "param_importance": "importance",
    "Advice": "advice",
    "Optimum": "optimum",
    "find_optimum": "optimum",
    "read_trials_csv": "table",
    "TrialsTableError": "table",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
