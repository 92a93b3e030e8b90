"""Reading GLUE-format MRPC, clear errors for missing data, and the tokenisation cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hptui.core.errors import DataNotFoundError
from hptui.core.training import data
from hptui.core.training.models import load_bundle
from hptui.core.training.tasks import MRPC


def test_reads_every_pair_with_quotes_intact(mrpc_dir: Path) -> None:
    train = data.load_split(MRPC, "train", mrpc_dir)
    validation = data.load_split(MRPC, "validation", mrpc_dir)
    assert len(train["label"]) == 3668 and len(validation["label"]) == 408
    assert sum(validation["label"]) == 279  # the README's positive count
    # Fields contain unbalanced double quotes; with quoting on, rows would merge.
    assert any('"' in text for text in train["sentence1"])
    assert set(train) == {"sentence1", "sentence2", "label"}


def test_missing_folder_names_both_fixes(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as caught:
        data.load_split(MRPC, "train", tmp_path / "nowhere")
    message = str(caught.value)
    assert "--data-dir" in message and "HPTUI_DATA_DIR" in message
    assert "load_dataset('glue', 'mrpc')" in message


def test_hub_unreachable_names_both_fixes() -> None:
    # conftest sets HF_DATASETS_OFFLINE=1, so this fails at once instead of retrying.
    data.clear_caches()
    with pytest.raises(DataNotFoundError, match="--data-dir PATH"):
        data.load_split(MRPC, "validation", None)


def test_a_quoted_csv_is_refused_with_the_line(tmp_path: Path, mrpc_dir: Path) -> None:
    shutil.copy(mrpc_dir / "train.tsv", tmp_path / "train.tsv")
    (tmp_path / "validation.tsv").write_text(
        "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\nyes\t1\t2\ta\tb\n"
    )
    with pytest.raises(DataNotFoundError, match="line 2: label 'yes'"):
        data.load_split(MRPC, "validation", tmp_path)


def test_environment_variable_selects_the_folder(
    monkeypatch: pytest.MonkeyPatch, mrpc_dir: Path
) -> None:
    monkeypatch.setenv(data.DATA_DIR_ENV, str(mrpc_dir))
    assert data.resolve_data_dir(None) == mrpc_dir
    assert data.resolve_data_dir("/elsewhere") == Path("/elsewhere")


def test_second_tokenisation_is_a_cache_hit(mrpc_dir: Path) -> None:
    data.clear_caches()
    bundle = load_bundle("tiny-distilbert")
    first = data.tokenized_split(MRPC, "validation", mrpc_dir, bundle.tokenizer, bundle.source, 64)
    assert (data.cache_stats.hits, data.cache_stats.misses) == (0, 1)
    second = data.tokenized_split(MRPC, "validation", mrpc_dir, bundle.tokenizer, bundle.source, 64)
    assert second is first
    assert (data.cache_stats.hits, data.cache_stats.misses) == (1, 1)
    # A different max_seq_length is a different key: tokenised again, and truncated.
    longer = data.tokenized_split(MRPC, "validation", mrpc_dir, bundle.tokenizer, bundle.source, 16)
    assert data.cache_stats.misses == 2
    assert max(longer.lengths()) == 16 and max(first.lengths()) <= 64


def test_batches_pad_to_the_longest_in_each(mrpc_dir: Path) -> None:
    bundle = load_bundle("tiny-distilbert")
    split = data.tokenized_split(MRPC, "validation", mrpc_dir, bundle.tokenizer, bundle.source, 128)
    batch = split.collate([0, 1, 2])
    lengths = split.lengths()[:3]
    assert batch["input_ids"].shape == (3, max(lengths))
    assert batch["attention_mask"].sum(dim=1).tolist() == lengths
    assert batch["labels"].tolist() == split.labels[:3]
    assert "token_type_ids" not in batch  # DistilBERT takes none


def test_reads_the_labelled_test_split(mrpc_dir: Path) -> None:
    """`hptui final` scores on MRPC's test.tsv: 1,725 pairs labelled by its Quality column."""
    test = data.load_split(MRPC, MRPC.test_split, mrpc_dir)
    assert MRPC.test_split == "test" and len(test["label"]) == 1725
    assert set(test["label"]) == {0, 1} and sum(test["label"]) == 1147
    first = (mrpc_dir / "test.tsv").read_text(encoding="utf-8").splitlines()[1].split("\t")
    assert (test["label"][0], test["sentence1"][0], test["sentence2"][0]) == (
        int(first[0]),
        first[3],
        first[4],
    )
