"""Every attribute key hptui stores on Optuna's studies and trials, in one place.

hptui keeps its settings and results as Optuna user attributes, so optuna-dashboard and
plain Optuna see them too; the keys all start with `hptui.` and are named only here.
"""

from __future__ import annotations

# Study attributes.
SETTINGS = "hptui.settings"  # StudySettings as JSON: space, objective, sampler, pruner, seed
GRID_QUEUED = "hptui.grid_queued"  # set once every grid point is queued
BASELINE = "hptui.baseline"  # the marked baseline trial number
EXCLUDED = "hptui.excluded"  # trial numbers left out of analysis
DERIVED_FROM = "hptui.derived_from"  # the study an edited space was copied from
CARD_SOURCES = "hptui.card_sources"
CARD_PARAMS = "hptui.card_params"
NOTES = "hptui.notes"  # {"trial number": "a person's one-line note"} (core/studies/notes.py)

# Trial attributes.
SOURCE = "hptui.source"  # grid, manual, history, card, ...
COPIED_FROM = "hptui.copied_from"  # STUDY#NUMBER of a trial copied as history
CONFIG = "hptui.config"  # the full training config the trial ran with
METRICS = "hptui.metrics"  # final validation metrics by name
REASON = "hptui.reason"  # why the trial ended as it did
WARNING = "hptui.warning"  # e.g. the model predicts one class only
SEED = "hptui.seed"
SAMPLER_SEED = "hptui.sampler_seed"
WORKER = "hptui.worker"
WORKER_ID = "hptui.worker_id"
HOST = "hptui.host"
DEVICE = "hptui.device"
VERSIONS = "hptui.versions"
SECONDS = "hptui.seconds"
STEPS = "hptui.steps"
EPOCHS = "hptui.epochs"
EXAMPLES_PER_S = "hptui.examples_per_s"
PEAK_MEMORY_BYTES = "hptui.peak_memory_bytes"
CARD = "hptui.card"
CARD_INFO = "hptui.card_info"
# Seed replicates (core/studies/replicates.py): a trial queued to re-run another's
# configuration with another training seed.
REPLICATE_OF = "hptui.replicate_of"  # the number of the trial whose configuration it repeats
REPLICATE_SEED = "hptui.replicate_seed"  # the training seed it runs with (then in SEED too)
