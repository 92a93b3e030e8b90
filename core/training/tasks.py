"""Tasks are data, not code: where the text and labels live, in a GLUE folder and on the hub.

Adding SST-2 or RTE later is a new `TaskSpec` entry, not a new loader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hptui.core.errors import ConfigError


@dataclass(frozen=True)
class TaskSpec:
    """A sentence(-pair) classification task and how to read it from disk or the hub."""

    name: str
    text_fields: tuple[str, ...]
    label_field: str = "label"
    num_labels: int = 2
    positive_label: int = 1
    # Split name -> file name inside a GLUE-format folder (tab separated, quoting off).
    glue_files: Mapping[str, str] = field(default_factory=dict)
    # Column in those files -> canonical field name used everywhere else.
    glue_columns: Mapping[str, str] = field(default_factory=dict)
    hub_path: tuple[str, ...] = ()
    train_split: str = "train"
    eval_split: str = "validation"
    # The held-out split `hptui final` scores once per chosen configuration (never tuned on).
    test_split: str = "test"
    metrics: tuple[str, ...] = ("loss", "accuracy", "f1", "precision", "recall")


MRPC = TaskSpec(
    name="mrpc",
    text_fields=("sentence1", "sentence2"),
    glue_files={"train": "train.tsv", "validation": "validation.tsv", "test": "test.tsv"},
    glue_columns={"#1 String": "sentence1", "#2 String": "sentence2", "Quality": "label"},
    hub_path=("glue", "mrpc"),
)

TASKS: dict[str, TaskSpec] = {MRPC.name: MRPC}


def get_task(name: str) -> TaskSpec:
    try:
        return TASKS[name.lower()]
    except KeyError:
        raise ConfigError("task", f"unknown task {name!r}; known: {', '.join(TASKS)}") from None
