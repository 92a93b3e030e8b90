"""Models by name: built-ins offline, fresh copies per trial, clear errors, no fallback."""

from __future__ import annotations

import pytest
import torch

from hptui.core.errors import ConfigError, ModelNotFoundError
from hptui.core.training.models import check_sequence_length, load_bundle


def test_tiny_distilbert_is_random_small_and_seeded() -> None:
    bundle = load_bundle("tiny-distilbert")
    assert bundle.pretrained_state is None
    first, again, other = bundle.new_model(1), bundle.new_model(1), bundle.new_model(2)
    assert type(first).__name__ == "DistilBertForSequenceClassification"
    assert sum(p.numel() for p in first.parameters()) < 5_000_000
    w = "distilbert.transformer.layer.0.attention.q_lin.weight"
    assert torch.equal(first.state_dict()[w], again.state_dict()[w])
    assert not torch.equal(first.state_dict()[w], other.state_dict()[w])


def test_offline_minilm_reads_weights_once_and_copies_per_trial() -> None:
    bundle = load_bundle("offline-minilm")
    assert load_bundle("offline-minilm") is bundle  # read from disk once per process
    assert bundle.pretrained_state is not None
    assert not any(k.startswith("classifier") for k in bundle.pretrained_state)
    key = "bert.embeddings.word_embeddings.weight"
    model = bundle.new_model(0)
    assert torch.equal(model.state_dict()[key], bundle.pretrained_state[key])
    with torch.no_grad():
        model.state_dict()[key].add_(1.0)  # training one trial's copy...
    fresh = bundle.new_model(0)  # ...leaves the next trial's start untouched
    assert torch.equal(fresh.state_dict()[key], bundle.pretrained_state[key])
    # The new head depends on the trial seed; the pretrained body does not.
    head = "classifier.weight"
    assert not torch.equal(bundle.new_model(1).state_dict()[head], fresh.state_dict()[head])


def test_unreachable_hub_names_the_offline_models() -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        load_bundle("distilbert-base-uncased")
    message = str(caught.value)
    assert "Hugging Face hub" in message and "offline-minilm" in message


def test_missing_folder_is_not_tried_on_the_hub(tmp_path: object) -> None:
    with pytest.raises(ModelNotFoundError, match="no such folder"):
        load_bundle("./no/such/model")


def test_sequence_length_beyond_positions_names_the_limit() -> None:
    bundle = load_bundle("tiny-distilbert")
    with pytest.raises(ConfigError, match=r"max_seq_length: 1024 exceeds .* <= 512"):
        check_sequence_length(bundle, 1024)
