"""The Store: one object per storage, its reads without Optuna, and every write as a method."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import analysis_data
import console_data
import pytest

from hptui.core.errors import first_line
from hptui.core.studies.reader import StudyReader, _external_repr
from hptui.core.studies.settings import StudyError, StudySettings, load_settings
from hptui.core.studies.space import parse_space
from hptui.core.studies.storage import OPTUNA_SCHEMA, StorageError
from hptui.core.studies.store import Store

REPO = Path(__file__).resolve().parent.parent


def test_the_schema_hptui_reads_is_the_installed_optunas(tmp_path: Path) -> None:
    import optuna

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'x.db'}")
    assert storage.get_head_version() == OPTUNA_SCHEMA


def test_reads_import_no_optuna(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    shutil.copy(REPO / "runs.db.example", db)
    code = (
        "import sys, json\n"
        "from hptui.core.studies.store import Store\n"
        f"store = Store('sqlite:///{db}')\n"
        "names = [s.name for s in store.studies()]\n"
        "rows = [len(store.flat_rows(n)) for n in names]\n"
        "print(json.dumps({'rows': rows, 'optuna': 'optuna' in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    found = json.loads(out.stdout)
    assert sum(found["rows"]) > 0 and found["optuna"] is False


def test_reads_through_the_store_equal_optunas_own(tmp_path: Path) -> None:
    import optuna

    db = tmp_path / "runs.db"
    shutil.copy(REPO / "runs.db.example", db)
    store = Store.for_file(db)
    for info in store.studies():
        ours = {row.number: row.params for row in store.trials(info.name)}
        theirs = optuna.load_study(study_name=info.name, storage=f"sqlite:///{db}").get_trials()
        assert ours == {t.number: t.params for t in theirs if t.params or t.number in ours}


@pytest.mark.parametrize(
    "distribution",
    [
        "FloatDistribution(1e-5, 1e-4, log=True)",
        "FloatDistribution(0.0, 1.0, step=0.25)",
        "IntDistribution(8, 64, step=8)",
        "CategoricalDistribution((16, 32))",
        "CategoricalDistribution((None, 'a', 0.5, True))",
        "UniformDistribution(0.0, 1.0)",
        "IntUniformDistribution(1, 5)",
    ],
)
def test_stored_values_read_back_as_optuna_reads_them(distribution: str) -> None:
    import optuna.distributions as d

    made = eval(f"d.{distribution}", {"d": d})
    text = d.distribution_to_json(made)
    internals = (
        [float(i) for i in range(len(made.choices))]
        if isinstance(made, d.CategoricalDistribution)
        else [float(made.low), float(made.high)]
    )
    for internal in internals:
        assert _external_repr(text)(internal) == made.to_external_repr(internal)
        assert type(_external_repr(text)(internal)) is type(made.to_external_repr(internal))


def test_another_schema_is_refused_by_a_read_naming_the_fix(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    shutil.copy(REPO / "runs.db.example", db)
    with sqlite3.connect(db) as c:
        c.execute("UPDATE alembic_version SET version_num = 'v9.9.9.z'")
    with pytest.raises(StorageError, match="optuna storage upgrade"):
        Store.for_file(db).studies()


def test_a_bad_url_is_refused_when_the_store_is_made() -> None:
    with pytest.raises(StorageError, match="--storage"):
        Store("runs.db")


def test_every_write_is_a_method(tmp_path: Path) -> None:
    store = Store(analysis_data.build(tmp_path / "runs.db"))
    settings = StudySettings(parse_space(analysis_data.SPACE), sampler="random", seed=3)
    assert store.create_study("other", settings) is True
    assert store.create_study("other", settings) is False  # same settings: exists
    store.enqueue("other", {"learning_rate": 3e-5, "warmup_ratio": 0.1})
    assert [r.state for r in store.trials("other")] == ["WAITING"]
    assert store.set_baseline("quad", 2).baseline == 2
    assert store.set_excluded("quad", [0, 1]).excluded == {0, 1}
    assert store.set_excluded("quad", [1], excluded=False).excluded == {0}
    assert store.marks("quad").baseline == 2 and store.marks("quad").excluded == {0}
    with pytest.raises(StudyError, match="no trial 99"):
        store.set_baseline("quad", 99)
    change = store.change_space("quad", "quad-2", settings)
    assert change.copied == len(store.trials("quad"))
    narrow = store.create_narrow_study("quad", store.suggest_name("quad-narrow"), settings.space)
    assert narrow == "quad-narrow" and store.require_settings(narrow).sampler == "tpe"  # quad's
    store.rename_study("other", "renamed")
    assert "renamed" in store.study_names() and "other" not in store.study_names()
    assert store.delete_study("renamed") == 1
    assert store.study_names() == {"quad", "quad-2", "quad-narrow"}
    assert load_settings("quad-2", store.url).sampler == "random"


def test_require_settings_names_a_study_hptui_did_not_make(tmp_path: Path) -> None:
    import optuna

    url = console_data.build(tmp_path / "runs.db")
    optuna.create_study(study_name="plain", storage=url)
    store = Store(url)
    with pytest.raises(StudyError, match="not created by hptui"):
        store.require_settings("plain")
    with pytest.raises(StudyError, match="no study 'missing'"):
        store.require_settings("missing")


def test_a_reader_opens_once_per_store(tmp_path: Path) -> None:
    store = Store(console_data.build(tmp_path / "runs.db"))
    assert isinstance(store.reader, StudyReader) and store.reader is store.reader


@pytest.mark.parametrize(
    ("message", "expected"), [("", "ValueError"), ("  \n\n second", "second"), ("a\nb", "a")]
)
def test_first_line_never_fails_on_an_empty_message(message: str, expected: str) -> None:
    assert first_line(ValueError(message)) == expected
