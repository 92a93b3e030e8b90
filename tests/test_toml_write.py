"""The TOML hptui writes (a suggested space, the console's saved space) reads back to the
same space, whatever the strings hold: emoji (json.dumps wrote them as surrogate pairs,
which no TOML reader takes), quotes, backslashes, TOML's own punctuation."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from hptui.core.studies.space import load_space, parse_space
from hptui.core.views.space_form import save_space

AWKWARD = [
    "runs 🔥/data",
    "emoji only 💥🧪",
    'quote " inside',
    "single ' quote",
    "back\\slash and \\n as text",
    'triple """ quotes',
    "# not a comment = [not a table]",
    "trailing space ",
    "中文路径/データ",
    "e\u0301 combining, zwj 👩\u200d🔬",
    "\ufeffbom first",
]


def _space(text: str) -> dict[str, object]:
    return {
        "fixed": {"model": "tiny-distilbert", "data_dir": f"/data/{text}", "num_epochs": 2},
        "params": {
            "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
            "warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2, "step": 0.05},
            "train_batch_size": {"type": "categorical", "choices": [16, 32]},
            "batching": {"type": "categorical", "choices": ["random", "length-grouped"]},
            "task": {"type": "fixed", "value": "mrpc"},
        },
    }


@pytest.mark.parametrize(
    "text", AWKWARD, ids=[t.encode("unicode_escape").decode() for t in AWKWARD]
)
def test_to_toml_reads_back_to_the_same_space(text: str) -> None:
    space = parse_space(_space(text))
    written = space.to_toml()
    again = parse_space(tomllib.loads(written))
    assert again == space
    assert again.fixed["data_dir"] == f"/data/{text}"
    assert "\\ud83d" not in written  # no surrogate escapes


@pytest.mark.parametrize("text", AWKWARD[:2], ids=["emoji-path", "emoji"])
def test_a_saved_space_loads_back_from_its_file(tmp_path: Path, text: str) -> None:
    space = parse_space(_space(text))
    target = save_space(space, tmp_path / "space.toml")
    assert load_space(target) == space
    assert text in target.read_text(encoding="utf-8")  # written as itself, readable in git


def test_lists_stay_on_one_line() -> None:
    written = parse_space(_space("x")).to_toml()
    assert "choices = [16, 32]" in written
    assert 'choices = ["random", "length-grouped"]' in written
