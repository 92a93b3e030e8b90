"""Metrics against hand-computed confusion matrices."""

from __future__ import annotations

import pytest

from hptui.core.training.metrics import classification_metrics


def test_hand_computed_example() -> None:
    # labels:      1 1 1 0 0 1 0 1
    # predictions: 1 0 1 1 0 1 0 0  -> tp=3, fp=1, fn=2, tn=2
    metrics = classification_metrics([1, 1, 1, 0, 0, 1, 0, 1], [1, 0, 1, 1, 0, 1, 0, 0])
    assert metrics["accuracy"] == pytest.approx(5 / 8)
    assert metrics["precision"] == pytest.approx(3 / 4)
    assert metrics["recall"] == pytest.approx(3 / 5)
    assert metrics["f1"] == pytest.approx(2 * 0.75 * 0.6 / (0.75 + 0.6))


def test_never_predicting_positive_scores_f1_zero() -> None:
    metrics = classification_metrics([1, 0, 1], [0, 0, 0])
    assert metrics == {"accuracy": pytest.approx(1 / 3), "f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_majority_baseline_on_mrpc_proportions() -> None:
    # The MRPC README: always predicting 1 on validation (279 of 408 positive) gives F1 0.812.
    labels = [1] * 279 + [0] * 129
    metrics = classification_metrics(labels, [1] * 408)
    assert round(metrics["accuracy"], 3) == 0.684
    assert round(metrics["f1"], 3) == 0.812


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="2 labels but 1 predictions"):
        classification_metrics([0, 1], [1])


def test_a_model_that_predicts_one_class_is_flagged() -> None:
    from hptui.core.training.metrics import ONE_CLASS_NOTE, one_class_note

    labels = [1] * 279 + [0] * 129
    assert one_class_note(classification_metrics(labels, [1] * 408)) == ONE_CLASS_NOTE
    one_wrong = [1] * 407 + [0]
    assert one_class_note(classification_metrics(labels, one_wrong)) is None
    assert one_class_note(classification_metrics(labels, labels)) is None  # perfect
    assert one_class_note(classification_metrics([0, 0, 1], [1, 1, 1])) == "predicts one class only"
