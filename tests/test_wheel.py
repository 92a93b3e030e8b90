"""A wheel that installs: pyproject's package list is the folders on disk, package-data
covers every data file, and a wheel built from the tree runs in a clean venv without the
checkout (an editable install hides a forgotten package or style sheet)."""

from __future__ import annotations

import glob
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
EXAMPLE_DB = REPO / "runs.db.example"


def package_folders() -> dict[str, Path]:
    """Every package on disk under the package-dir mapping: dotted name -> folder."""
    found: dict[str, Path] = {}
    for name, folder in SETUPTOOLS["package-dir"].items():
        root = REPO / folder
        for init in sorted(root.rglob("__init__.py")):
            parts = init.parent.relative_to(root).parts
            if "__pycache__" not in parts:
                found[".".join((name, *parts))] = init.parent
    return found


def module_names() -> set[str]:
    """Every module the packages hold, as the installed wheel must offer them."""
    names = set()
    for package, folder in package_folders().items():
        names.add(package)
        names.update(f"{package}.{path.stem}" for path in folder.glob("*.py"))
    return {n for n in names if not n.endswith((".__init__", ".__main__"))}


def data_files() -> list[Path]:
    """Files under the package folders that are not Python source or bytecode."""
    files = []
    for folder in {REPO / f for f in SETUPTOOLS["package-dir"].values()}:
        for path in folder.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".py":
                files.append(path)
    return sorted(files)


def package_data_matches() -> dict[str, set[Path]]:
    """package -> the files its package-data patterns pick (setuptools globs the same way)."""
    folders = package_folders()
    patterns = SETUPTOOLS.get("package-data", {})
    shared = [*patterns.get("", []), *patterns.get("*", [])]
    return {
        package: {
            Path(hit)
            for pattern in [*patterns.get(package, []), *shared]
            for hit in glob.glob(str(folder / pattern), recursive=True)
            if Path(hit).is_file()
        }
        for package, folder in folders.items()
    }


def test_the_package_list_is_every_package_on_disk() -> None:
    on_disk = sorted(package_folders())
    assert "hptui.core.studies" in on_disk and "hptui.tui.widgets.live" in on_disk
    assert sorted(SETUPTOOLS["packages"]) == on_disk, (
        f"pyproject.toml [tool.setuptools] packages is missing "
        f"{sorted(set(on_disk) - set(SETUPTOOLS['packages']))} and names folders without an "
        f"__init__.py: {sorted(set(SETUPTOOLS['packages']) - set(on_disk))}"
    )


def test_every_folder_of_python_code_is_a_package() -> None:
    """A folder of modules without __init__.py would be left out of the wheel silently."""
    roots = [REPO / f for f in SETUPTOOLS["package-dir"].values()]
    loose = sorted(
        str(folder.relative_to(REPO))
        for root in roots
        for folder in {p.parent for p in root.rglob("*.py")}
        if not (folder / "__init__.py").is_file()
    )
    assert loose == []


def test_package_data_covers_every_data_file() -> None:
    files = data_files()
    names = {str(p.relative_to(REPO)) for p in files}
    assert "tui/app.tcss" in names and "core/studies/presets/report-grid.toml" in names
    matched = package_data_matches()
    picked = set().union(*matched.values())
    missed = sorted(str(p.relative_to(REPO)) for p in files if p not in picked)
    assert missed == [], f"not in [tool.setuptools.package-data]: {missed}"
    for package, patterns in SETUPTOOLS.get("package-data", {}).items():
        assert package in ("", "*") or package in SETUPTOOLS["packages"], package
        for pattern in patterns:  # a pattern that picks nothing names a file that moved
            folder = package_folders().get(package)
            assert folder is not None and glob.glob(str(folder / pattern), recursive=True), (
                f"package-data {package!r}: {pattern!r} matches no file"
            )


# --- the wheel itself --------------------------------------------------------------------


def _tree_files() -> list[str]:
    """The files a commit of the working tree would hold: tracked or untracked-not-ignored,
    less those deleted in the working tree."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    paths = dict.fromkeys(p for p in out.split("\0") if p)
    return [p for p in paths if (REPO / p).is_symlink() or (REPO / p).exists()]


def _copy_tree(files: list[str], target: Path) -> None:
    for rel in files:
        source, dest = REPO / rel, target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), dest)
        else:
            shutil.copy2(source, dest)


def _build_flags() -> list[str]:
    """Build without network when this interpreter already has the build requirements."""
    from packaging.requirements import Requirement  # a dependency of transformers

    for spec in PYPROJECT["build-system"]["requires"]:
        requirement = Requirement(spec)
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            return []
        if not requirement.specifier.contains(version, prereleases=True):
            return []
    return ["--no-build-isolation", "--no-index"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HPTUI_"))}
    env.pop("VIRTUAL_ENV", None)
    env.update(
        PYTHONNOUSERSITE="1",
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    return env


IMPORT_ALL = """
import importlib, json, pkgutil, sys, traceback
import hptui
errors, files = {}, {}
def failed(name):
    errors[name] = traceback.format_exc(limit=3)
names = ["hptui"] + [m.name for m in pkgutil.walk_packages(hptui.__path__, "hptui.", failed)]
for name in names:
    if name.endswith(".__main__"):
        continue  # runs the command line; `python -m hptui --help` covers it
    try:
        files[name] = importlib.import_module(name).__file__
    except Exception:
        failed(name)
print(json.dumps({"files": files, "errors": errors}))
"""

COMMANDS = """
import argparse, json
from hptui.cli import build_parser
def walk(parser, prefix):
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, [*prefix, name])
print(json.dumps(list(walk(build_parser(), []))))
"""

PRESETS = """
import json
from hptui.core.studies.space import PRESETS_DIR
from hptui.core.views.space_form import PRESETS, preset_space
loaded = {key: preset_space(key) for key in PRESETS}
loaded = {key: [space.names, sampler] for key, (space, sampler, _seed) in loaded.items()}
print(json.dumps({"dir": str(PRESETS_DIR), "presets": loaded}))
"""

CONSOLE = """
import asyncio, json, sys
from hptui.tui.app import make_app, store_for
app = make_app(store_for(sys.argv[1], None), refresh_seconds=3600)
async def main():
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(1)
        table = app.screen.query_one("#studies")
        for _ in range(60):  # the first read runs in a thread
            if table.row_count:
                break
            await pilot.pause(0.5)
        rows = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        css = [str(p) for p in app.css_path]
        sheets = [str(path) for path, _name in app.stylesheet.source]
    print(json.dumps({"rows": rows, "css": css, "sheets": sheets}))
asyncio.run(main())
"""


def _study_names(db: Path) -> list[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "select s.study_name, count(t.trial_id) from studies s left join trials t "
            "on t.study_id = s.study_id and t.state = 'COMPLETE' group by s.study_id "
            "order by count(t.trial_id) desc, s.study_name"
        ).fetchall()
    return [name for name, _count in rows]


@pytest.mark.slow
def test_the_wheel_installs_and_runs_without_the_checkout(tmp_path: Path) -> None:
    # 1. The tree as it would be committed, copied by the file list (not the folder).
    files = _tree_files()
    assert "pyproject.toml" in files and "tui/app.tcss" in files
    assert not any(f.startswith((".venv/", "build/")) or ".egg-info/" in f for f in files)
    tree = tmp_path / "tree"
    _copy_tree(files, tree)

    # 2. The wheel, built by this interpreter's pip.
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *_build_flags(),
         "-w", str(dist), str(tree)],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (wheel,) = dist.glob("hptui-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        inside = set(archive.namelist())
    assert "hptui/tui/app.tcss" in inside
    assert "hptui/core/studies/presets/report-grid.toml" in inside
    assert not any(n.startswith(("core/", "tui/", "src/", "tests/")) for n in inside)

    # 3. A fresh venv whose only hptui is the wheel: the dependencies come from this
    # interpreter's site-packages through a plain path line (its .pth files, among them the
    # checkout's editable finder, are not run).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python, hptui = venv / "bin" / "python", venv / "bin" / "hptui"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    assert site.is_relative_to(venv)
    deps = dict.fromkeys(sysconfig.get_path(key) for key in ("purelib", "platlib"))
    (site / "hptui-test-deps.pth").write_text("".join(f"{p}\n" for p in deps))
    empty = tmp_path / "cwd"
    empty.mkdir()
    env = _env()

    def run(*command: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(c) for c in command], cwd=empty, env=env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip

    install = run(python, "-m", "pip", "install", "--no-deps", "--no-index",
                  "--ignore-installed", wheel)  # fmt: skip
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]

    # 4. Every module imports, from the venv.
    result = run(python, "-c", IMPORT_ALL, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    assert imported["errors"] == {}
    assert Path(imported["files"]["hptui"]).is_relative_to(site)
    assert not Path(imported["files"]["hptui"]).is_relative_to(REPO)
    outside = {n: f for n, f in imported["files"].items() if not Path(f).is_relative_to(site)}
    assert outside == {}
    assert set(imported["files"]) == module_names(), (
        f"missing from the wheel: {sorted(module_names() - set(imported['files']))}"
    )

    # 5. The command line: --help everywhere, then the read-only commands on the example.
    result = run(python, "-c", COMMANDS)
    assert result.returncode == 0, result.stderr[-3000:]
    commands = json.loads(result.stdout)
    assert [] in commands and ["study", "list"] in commands and ["analyze"] in commands
    for command in commands:
        helped = run(hptui, *command, "--help")
        assert helped.returncode == 0, (command, helped.stderr[-2000:])
        assert helped.stdout.startswith(f"usage: {' '.join(['hptui', *command])}"), command
    helped = run(python, "-m", "hptui", "--help")
    assert helped.returncode == 0 and "usage:" in helped.stdout, helped.stderr[-2000:]

    db = tmp_path / "runs.db.example"
    shutil.copyfile(EXAMPLE_DB, db)
    storage = f"sqlite:///{db}"
    names = _study_names(db)
    assert len(names) >= 2
    name = names[0]  # the study with the most complete trials
    listed = run(hptui, "study", "list", "--storage", storage)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert all(n in listed.stdout for n in names), listed.stdout
    trials = run(hptui, "trials", name, "--storage", storage, "--format", "json")
    assert trials.returncode == 0, trials.stderr[-2000:]
    assert len(json.loads(trials.stdout)) > 0
    analyzed = run(hptui, "analyze", name, "--storage", storage, timeout=300)
    assert analyzed.returncode == 0, analyzed.stderr[-2000:]
    assert analyzed.stdout.strip(), "analyze printed nothing"

    # 6. The presets of the space form, read from the package.
    result = run(python, "-c", PRESETS)
    assert result.returncode == 0, result.stderr[-3000:]
    presets = json.loads(result.stdout)
    assert Path(presets["dir"]).is_relative_to(site)
    assert len(presets["presets"]) >= 1
    for key, (params, _sampler) in presets["presets"].items():
        assert params, f"preset {key} has no parameters"

    # 7. The console opens headless on the example, its styles read from the wheel's app.tcss.
    result = run(python, "-c", CONSOLE, db, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    console = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(console["rows"]) == sorted(names)
    assert console["css"] and all(Path(p).is_relative_to(site) for p in console["css"])
    assert [p for p in console["sheets"] if Path(p).name == "app.tcss"] == console["css"]
