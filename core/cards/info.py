"""What a model card says it is: task, dataset, base model and architecture.

Recorded per imported trial (user attribute `CARD_INFO_ATTR`) and shown as columns by
`hptui trials` and `hptui analyze`, so cards of other tasks or base models can be told apart
and filtered (`hptui import-cards --task ... --base-model ...`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hptui.core.studies import attrs

if TYPE_CHECKING:
    from .parse import CardRecord

CARD_INFO_ATTR = attrs.CARD_INFO
CARD_COLUMNS = ("task", "dataset", "base_model", "architecture")
# A task the card does not state, read from the head its config.json names.
TASK_FROM_ARCHITECTURE = {
    "ForSequenceClassification": "text-classification",
    "ForTokenClassification": "token-classification",
    "ForQuestionAnswering": "question-answering",
    "ForMaskedLM": "fill-mask",
    "ForCausalLM": "text-generation",
    "ForMultipleChoice": "multiple-choice",
}
# ... or from a dataset that has only one task.
TASK_FROM_DATASET = {
    "squad": "question-answering",
    "conll": "token-classification",
    "sst": "text-classification",  # SST-2: sentence sentiment, one label per sentence
    "mrpc": "text-classification",
    "imdb": "text-classification",
}


def card_info(record: CardRecord) -> dict[str, str | None]:
    """task, dataset, base_model, architecture as the card states them (None when absent);
    a task it does not state is inferred from the architecture or a one-task dataset, and
    `task_source` says where the task came from."""
    info: dict[str, str | None] = {
        k: str(record.params[k]) if k in record.params else None for k in CARD_COLUMNS
    }
    info["task_source"] = record.sources.get("task") if info["task"] else None
    if info["task"] is None and info["architecture"]:
        for suffix, task in TASK_FROM_ARCHITECTURE.items():
            if info["architecture"].endswith(suffix):
                info["task"], info["task_source"] = task, "inferred from the architecture"
    if info["task"] is None and info["dataset"]:
        for name, task in TASK_FROM_DATASET.items():
            if name in info["dataset"].lower():
                info["task"], info["task_source"] = task, "inferred from the dataset"
    return info
