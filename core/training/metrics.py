"""Classification metrics for the positive class, computed without scikit-learn."""

from __future__ import annotations

from collections.abc import Sequence


def classification_metrics(
    labels: Sequence[int], predictions: Sequence[int], positive: int = 1
) -> dict[str, float]:
    """Accuracy, and precision, recall and F1 of `positive`; an undefined ratio counts as 0.

    (0 rather than NaN, as scikit-learn's `zero_division=0`: a model that never predicts the
    positive class has F1 0, which is what a study should rank it by.)
    """
    if len(labels) != len(predictions):
        raise ValueError(f"{len(labels)} labels but {len(predictions)} predictions")
    if not labels:
        raise ValueError("no examples to score")
    tp = fp = fn = correct = 0
    for label, predicted in zip(labels, predictions, strict=True):
        correct += label == predicted
        if predicted == positive:
            tp += label == positive
            fp += label != positive
        elif label == positive:
            fn += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": correct / len(labels),
        "f1": f1,
        "precision": precision,
        "recall": recall,
    }


ONE_CLASS_NOTE = "predicts one class only: the majority baseline"


def one_class_note(metrics: dict[str, float]) -> str | None:
    """A warning when the metrics are those of a model that predicts the positive class for
    every example (on MRPC: accuracy 0.684, F1 0.812, recall 1.0), which learned nothing.

    Told from the metrics alone: recall 1 with precision equal to accuracy happens only when
    every negative was predicted positive (or the model is perfect). A model that predicts
    only the negative class already scores F1 0.
    """
    try:
        recall, precision, accuracy = metrics["recall"], metrics["precision"], metrics["accuracy"]
    except KeyError:
        return None
    if recall == 1.0 and accuracy < 1.0 and abs(precision - accuracy) < 1e-12:
        return ONE_CLASS_NOTE if accuracy >= 0.5 else "predicts one class only"
    return None
