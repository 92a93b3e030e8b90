"""Views: the headless view-models behind the console's tabs, each polled from a thread
worker and handing its pane a frozen snapshot.

Import from the modules, or take these names from the wing itself (loaded on first use).
"""

from __future__ import annotations

from hptui.core import lazy_exports

_EXPORTS = {
    "LiveFeed": "live",
    "LiveSnapshot": "live",
    "LiveTrial": "live",
    "AnalysisView": "analysis",
    "build_view": "analysis",
    "GroupedView": "groups",
    "grouped_view": "groups",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
