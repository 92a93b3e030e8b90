"""Model-card import against the 36 real cards in ../shared/data/model-cards (see INDEX.md
there): values read from each kind of card, what is skipped and why, and the import into a
real SQLite study. The expected values were read from the card files themselves."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from hptui.core.cards.importer import import_cards
from hptui.core.cards.parse import CardRecord, describe, parse_card, parse_cards
from hptui.core.studies.reader import StudyReader
from hptui.core.studies.settings import StudyError, load_settings

REPO = Path(__file__).resolve().parent.parent
CARDS_DIR = Path(
    os.environ.get("HPTUI_TEST_MODEL_CARDS", REPO.parent / "shared" / "data" / "model-cards")
)
NOT_USABLE = {
    "hf-ahmednasser-fakenews",  # hand-written hyperparameters, metrics named but no values
    "hf-alk-header-grad-accum",  # Trainer card without metrics
    "hf-julienc-sagemaker-imdb",  # metrics, but no hyperparameters
    "hf-optimum-mnli-onnx",  # results table names tasks, not the metric
    "mcgarvey-imdb-accelerate-template",  # empty template
    "omartalaat-peft-template",  # empty PEFT template
    "oreilly-bert-clf-results",  # no results at all
    "spartan71-bert-test-trainer",  # no results at all
}


@pytest.fixture(scope="module")
def cards() -> dict[str, CardRecord]:
    if not (CARDS_DIR / "INDEX.md").is_file():
        pytest.fail(
            f"model cards not found at {CARDS_DIR}: clone hptui beside shared/ "
            "or set HPTUI_TEST_MODEL_CARDS"
        )
    return {record.name: record for record in parse_cards(CARDS_DIR)}


def test_every_card_parses_and_the_usable_ones_are_known(cards: dict[str, CardRecord]) -> None:
    assert len(cards) == 36
    assert list(cards) == sorted(cards)
    assert {name for name, record in cards.items() if not record.usable} == NOT_USABLE
    for record in cards.values():
        assert set(record.sources) == set(record.params) | set(record.metrics)
        assert all(0 <= v <= 1 for k, v in record.metrics.items() if k != "loss")
        assert describe(record)


def test_trainer_card_with_config_json(cards: dict[str, CardRecord]) -> None:
    card = cards["krishnodey-hate-distilbert-uncased"]
    assert card.params["learning_rate"] == 2e-05
    assert card.params["train_batch_size"] == 16
    assert card.params["eval_batch_size"] == 8
    assert card.params["num_epochs"] == 2 and isinstance(card.params["num_epochs"], int)  # "2.0"
    assert card.params["seed"] == 42
    assert card.params["optimizer"] == "adamw_torch_fused"
    assert card.params["lr_scheduler_type"] == "linear"
    assert card.metrics == {"loss": 0.9599, "accuracy": 0.6213, "f1": 0.5741}
    assert card.sources["learning_rate"] == "hyperparameters list"
    assert card.sources["accuracy"] == "results list"
    assert card.params["base_model"] == "distilbert-base-uncased"
    assert card.params["architecture"] == "DistilBertForSequenceClassification"
    assert card.sources["architecture"] == "config.json"


def test_gradient_accumulation_and_base_model_from_config(cards: dict[str, CardRecord]) -> None:
    card = cards["oreilly-bert-clf-results"]
    assert card.params["train_batch_size"] == 16
    assert card.params["gradient_accumulation_steps"] == 2
    assert card.params["total_train_batch_size"] == 32
    assert card.params["warmup_ratio"] == 0.1
    assert card.params["base_model"] == "distilbert-base-cased"
    assert card.metrics == {} and not card.usable
    assert "accuracy: not stated" in card.skipped


def test_model_index_gives_full_precision(cards: dict[str, CardRecord]) -> None:
    card = cards["jackonedev-emotion"]
    assert card.metrics["f1"] == 0.9262869891284342  # the body rounds it to 0.9263
    assert card.sources["f1"] == "model-index"
    assert card.metrics["accuracy"] == 0.9265
    assert card.metrics["loss"] == 0.2152 and card.sources["loss"] == "results list"
    legacy = cards["hf-andi611-agnews-legacy-index"]  # `model_index:` with a single `metric:`
    assert legacy.metrics["accuracy"] == 0.9473684210526315
    assert legacy.params["warmup_steps"] == 1000
    mrpc = cards["snlp-glue-mrpc"]
    assert mrpc.metrics["accuracy"] == 0.8357843137254902
    assert mrpc.params["seed"] == 1337
    assert any("combined_score" in s for s in mrpc.skipped)


def test_model_index_only_reads_the_evaluation_split(cards: dict[str, CardRecord]) -> None:
    card = cards["hf-51la5-sst2-official-copy"]
    assert card.metrics["accuracy"] == 0.9105504587155964  # glue validation, not sst2 train
    assert card.metrics["f1"] == 0.9137168141592922
    assert card.metrics["loss"] == 0.39013850688934326
    assert any(s.startswith("model-index result 2") for s in card.skipped)
    assert any(s.startswith("accuracy: hand-written (prose)") for s in card.skipped)  # 91.3
    assert card.params["learning_rate"] == 1e-05 and card.sources["learning_rate"] == "hand-written"
    assert card.params["train_batch_size"] == 32
    assert card.params["num_epochs"] == 3
    assert card.params["max_seq_length"] == 128
    assert card.params["warmup_steps"] == 600


def test_eval_prefixed_results(cards: dict[str, CardRecord]) -> None:
    card = cards["hf-shebna-imdb-eval-prefixed"]
    assert card.metrics == {"loss": 0.3049, "accuracy": 0.9252}
    assert card.params["num_epochs"] == 5  # the configured count wins over `epoch: 1.35`
    assert any(s.startswith("epoch: 1.35") for s in card.skipped)
    dump = cards["bilton92-mlops-my-model"]
    assert dump.metrics == {"loss": 0.6908, "accuracy": 0.5033, "f1": 0.6667}


def test_accuracy_only_and_metrics_only_in_the_table(cards: dict[str, CardRecord]) -> None:
    card = cards["hf-katsiaryna-acc-only"]
    assert card.metrics == {"loss": 0.8229, "accuracy": 0.54}  # the summary, not the best row
    assert "f1: not stated" in card.skipped
    table = cards["hf-kushalramaiya-news"]
    assert table.metrics == {"loss": 0.6587, "accuracy": 0.8082, "f1": 0.8069}
    assert table.sources["f1"] == "training results table (last row)"
    best = cards["jhsmith22-sst2"]  # summary = best epoch; the last table row (0.9002) is not used
    assert best.metrics["accuracy"] == 0.9025229357798165


def test_hand_written_cards(cards: dict[str, CardRecord]) -> None:
    policy = cards["hf-moritzlaurer-policy-7d"]  # TrainingArguments(...) in a code block
    assert policy.params["learning_rate"] == 4e-05
    assert policy.params["train_batch_size"] == 4
    assert policy.params["num_epochs"] == 5
    assert policy.params["warmup_steps"] == 500
    assert policy.params["weight_decay"] == 0.02
    assert policy.metrics["f1"] == 0.773
    assert "accuracy" not in policy.metrics  # balanced 0.745 vs not balanced 0.771: ambiguous
    assert any(s.startswith("accuracy: stated with different values") for s in policy.skipped)

    squad = cards["hf-twmkn9-squad2-cli"]  # run_squad.py flags and a dict literal, 0-100 scale
    assert squad.params["learning_rate"] == 3e-05
    assert squad.params["train_batch_size"] == 8
    assert squad.params["num_epochs"] == 3
    assert squad.params["max_seq_length"] == 384
    assert squad.metrics == {"f1": 0.681776176526635}
    assert "percent" in squad.sources["f1"]

    official = cards["hf-distilbert-sst2-official"]  # "reaches an accuracy of 91.3" in prose
    assert official.metrics == {"accuracy": 0.913}
    assert official.params["learning_rate"] == 1e-05

    fake = cards["hf-ahmednasser-fakenews"]  # "learning rate 5e-5," in a code block
    assert (fake.params["learning_rate"], fake.params["train_batch_size"]) == (5e-05, 32)
    assert fake.params["num_epochs"] == 2

    mnli = cards["hf-optimum-mnli-onnx"]  # CLI flags; results table does not name the metric
    assert mnli.params["train_batch_size"] == 16 and mnli.params["learning_rate"] == 2e-05
    assert mnli.metrics == {}
    assert any(s.startswith("table (Task | MNLI | MNLI-mm)") for s in mnli.skipped)

    short = cards["hf-giyaseddin-short-answer"]  # hyperparameter table, per-epoch table with tabs
    assert short.params["learning_rate"] == 5e-05 and short.params["train_batch_size"] == 8
    assert short.params["num_epochs"] == 4 and short.params["weight_decay"] == 0.01
    assert short.metrics["accuracy"] == 0.954315 and short.metrics["loss"] == 0.19366

    keras = cards["hf-lunage-keras-imdb"]  # learning rate inside the Keras optimizer dict
    assert keras.params["learning_rate"] == 2e-05
    assert keras.metrics == {"loss": 3.4024}


def test_broken_yaml_is_reported_and_the_rest_still_read(cards: dict[str, CardRecord]) -> None:
    card = cards["hf-duplets-squad-broken-yaml"]
    assert any(s.startswith("YAML front matter: malformed") for s in card.skipped)
    assert card.params["learning_rate"] == 2e-05
    assert card.params["train_batch_size"] == 16
    assert card.params["num_epochs"] == 3
    assert card.metrics == {"loss": 1.1487, "f1": 0.851341}  # "F1 score: 85.1341" in prose
    sagemaker = cards["hf-julienc-sagemaker-imdb"]  # blank line before the front matter
    assert sagemaker.params["dataset"] == "imdb"
    assert sagemaker.metrics["f1"] == 0.9272173656811707
    assert "learning_rate: not stated" in sagemaker.skipped


def test_folder_without_readme_is_reported(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (record,) = parse_cards(tmp_path)
    assert record.skipped == ["README.md: missing; nothing read"] and not record.usable
    assert parse_card(tmp_path / "empty") == record


def test_import_into_a_new_study(cards: dict[str, CardRecord], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    records = list(cards.values())
    report = import_cards(records, "cards", url)
    usable = [r for r in records if r.usable]
    assert report.complete + report.failed == len(usable) == 28
    assert report.not_imported == len(NOT_USABLE)
    assert any(line.startswith("oreilly-bert-clf-results: not imported") for line in report.lines())

    settings = load_settings("cards", url)
    assert (settings.objective, settings.direction, settings.sampler) == (
        "accuracy",
        "maximize",
        "random",
    )
    lr = next(p for p in settings.space.params if p.name == "learning_rate")
    assert lr.log and lr.low == 1e-05 and lr.high == 9.027176214786854e-05

    rows = {row.user_attrs["hptui.card"]: row for row in StudyReader(url).trials("cards")}
    assert len(rows) == len(usable)
    emotion = rows["jackonedev-emotion"]
    assert emotion.state == "COMPLETE" and emotion.value == 0.9265
    assert emotion.params["learning_rate"] == 2e-05 and emotion.params["train_batch_size"] == 64
    assert emotion.metrics["f1"] == 0.9262869891284342
    assert emotion.user_attrs["hptui.card_params"]["optimizer"] == "adam"
    assert emotion.user_attrs["f1"] == 0.9262869891284342
    f1_only = rows["hf-axhyra-tweeteval-f1-only"]
    assert f1_only.state == "FAIL" and f1_only.reason == "card states no accuracy"
    assert f1_only.metrics == {"f1": 0.7469065445487402, "loss": 0.9349}

    with pytest.raises(StudyError, match="already exists"):
        import_cards(records, "cards", url)


def test_cli_imports_the_shared_cards_and_analyses_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The paper's kind of analysis on real public fine-tunes, end to end."""
    import json

    from hptui.cli import main

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    assert main(["import-cards", str(CARDS_DIR), "--study", "cards", "--storage", url]) == 0
    report = capsys.readouterr().out
    assert "skipped" in report and "trials imported" in report
    assert (
        main(["analyze", "cards", "--storage", url, "--metric", "accuracy", "--format", "json"])
        == 0
    )
    (fit,) = json.loads(capsys.readouterr().out)
    assert fit["metric"] == "accuracy" and fit["n"] >= 15
    assert set(fit["fitted_params"]) == {"learning_rate", "train_batch_size", "num_epochs"}
    assert "learning_rate^2" in [t["term"] for t in fit["terms"]]
    assert main(["import-cards", str(CARDS_DIR), "--study", "cards", "--storage", url]) == 2
    assert "already exists" in capsys.readouterr().err


def test_each_trial_records_what_the_card_is(cards: dict[str, CardRecord]) -> None:
    from hptui.core.cards.info import card_info

    assert card_info(cards["matthiasdroth-bert-ner"]) == {
        "task": "token-classification", "dataset": "conll2003", "base_model": "bert-base-cased",
        "architecture": "BertForTokenClassification", "task_source": "model-index",
    }  # fmt: skip
    qa = card_info(cards["kyrierui-squad-qa"])
    assert qa["task"] == "question-answering"
    assert qa["task_source"] == "inferred from the architecture"
    assert card_info(cards["hf-duplets-squad-broken-yaml"])["task"] == "question-answering"
    assert card_info(cards["grantbabb-emotion"])["task"] is None  # stated nowhere: not guessed


def test_import_filters_keep_the_distilbert_text_classification_cards(
    cards: dict[str, CardRecord], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from hptui.cli import main

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    args = ["import-cards", str(CARDS_DIR), "--study", "clf", "--storage", url,
            "--task", "text-classification", "--base-model", "distilbert-base"]  # fmt: skip
    assert main(args) == 0
    report = capsys.readouterr().out
    assert "matthiasdroth-bert-ner: left out by the filters (task 'token-classification'" in report
    rows = {r.user_attrs["hptui.card"]: r for r in StudyReader(url).trials("clf")}
    for gone in ("matthiasdroth-bert-ner", "kyrierui-squad-qa", "hf-duplets-squad-broken-yaml",
                 "mcgarvey-imdb-mlm", "hf-kayvane-distilroberta-complaints"):  # fmt: skip
        assert gone not in rows
    assert {"snlp-glue-mrpc", "jackonedev-emotion", "krishnodey-hate-distilbert-uncased"} <= set(
        rows
    )
    # The paper's baseline, the official DistilBERT SST-2 card, and its copy: the base model
    # is linked in prose and the official card's task follows from its one dataset.
    for baseline in ("hf-distilbert-sst2-official", "hf-51la5-sst2-official-copy"):
        info = rows[baseline].user_attrs["hptui.card_info"]
        assert info["base_model"] == "distilbert-base-uncased", baseline
    official = rows["hf-distilbert-sst2-official"].user_attrs["hptui.card_info"]
    assert official["task_source"] == "inferred from the dataset"
    for row in rows.values():
        info = row.user_attrs["hptui.card_info"]
        assert info["task"] == "text-classification"
        assert info["base_model"].startswith("distilbert-base")
    # `hptui trials` shows the card columns, and the same states as `hptui analyze` uses.
    assert main(["trials", "clf", "--storage", url, "--format", "json"]) == 0
    listed = {r["number"]: r for r in json.loads(capsys.readouterr().out)}
    assert all(r["task"] == "text-classification" for r in listed.values())
    assert main(["analyze", "clf", "--storage", url, "--metric", "f1", "--format", "json"]) == 0
    (fit,) = json.loads(capsys.readouterr().out)
    failed = sum(1 for r in listed.values() if r["state"] == "FAIL")
    usable = [r for r in listed.values() if r["state"] == "COMPLETE"
              and all(r[c] is not None for c in ["f1", *fit["params"]])]  # fmt: skip
    assert fit["left_out"].get("FAIL", 0) == failed > 0
    assert fit["n"] == len(usable) and fit["n"] + sum(fit["left_out"].values()) == len(listed)
    assert main([*args[:3], "other", *args[4:6], "--architecture", "NoSuchHead"]) == 2
    assert "passes the filters" in capsys.readouterr().err


def test_the_shared_cards_never_yield_an_impossible_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 9's "done when": on every card, in both modes, nothing printed as a result is
    outside the metric's range or the data, and every word matches its number."""
    import json

    from hptui.cli import main

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    assert main(["import-cards", str(CARDS_DIR), "--study", "cards", "--storage", url]) == 0
    limits = {"accuracy": (0, 1), "f1": (0, 1), "loss": (0, math.inf)}
    for mode in ([], ["--raw"]):
        capsys.readouterr()
        assert main(["analyze", "cards", "--storage", url, "--format", "json", *mode]) == 0
        for fit in json.loads(capsys.readouterr().out):
            low, high = limits[fit["metric"]]
            optimum = fit["optimum"]
            if optimum and not optimum["breaks_down"]:
                assert low <= optimum["prediction"]["mean"] <= high
                for name, value in optimum["values"].items():
                    assert value == round(value) or name == "learning_rate"
            for f in fit["findings"]:
                if f["kind"] == "change" and f["change"]:
                    better = (f["change"] > 0) != (fit["metric"] == "loss")
                    assert f["direction"] == ("better" if better else "worse")
                if f["stated"]:
                    assert not any("breaks down" in n for n in f["notes"])
        capsys.readouterr()
        assert main(["analyze", "cards", "--storage", url, *mode]) == 0
        text = capsys.readouterr().out
        import re

        for metric, value in re.findall(r"fitted (?:maximum|minimum) in .*? -> (\w+) (\S+) ", text):
            assert limits[metric][0] <= float(value.replace("−", "-")) <= limits[metric][1]
    # Acting on these fits is refused (F-test or trials per term), with the reason.
    code = main(["analyze", "cards", "--storage", url, "--metric", "loss", "--enqueue-optimum"])
    err = capsys.readouterr().err
    assert code == 2 and ("--force" in err or "breaks down" in err)
