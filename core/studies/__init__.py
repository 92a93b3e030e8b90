"""Studies: the Store that owns one storage, search spaces, settings, marks, filters
and export.

Import from the modules, or take these names from the wing itself (loaded on first use).
"""

from __future__ import annotations

from hptui.core import lazy_exports

_EXPORTS = {
    "Store": "store",
    "StudyInfo": "reader",
    "TrialRow": "reader",
    "Curve": "reader",
    "TrialCursor": "reader",
    "StudyReader": "reader",
    "SeriesPoint": "quick_reads",
    "StudySettings": "settings",
    "StudyError": "settings",
    "SearchSpace": "space",
    "ParamSpec": "space",
    "SpaceError": "space",
    "load_space": "space",
    "parse_space": "space",
    "Marks": "marks",
    "TrialFilter": "filters",
    "parse_filter": "filters",
    "FilterError": "filters",
    "ExportError": "export",
    "to_csv": "export",
    "to_json": "export",
    "write_file": "export",
    "SpaceChange": "space_change",
    "StudySize": "manage",
    "StorageError": "storage",
    "FinalTest": "final_tests",
    "FinalSummary": "final_tests",
    "ConfigGroup": "replicates",
    "GroupedTrials": "replicates",
    "ReplicatePlan": "replicates",
    "redact": "storage",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
