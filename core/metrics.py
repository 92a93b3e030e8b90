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
