"""core/ stays headless and light: no UI libraries, no heavy imports until needed."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import hptui.core

CORE_MODULES = sorted(
    info.name for info in pkgutil.walk_packages(hptui.core.__path__, "hptui.core.")
)


def _modules_after(code: str) -> set[str]:
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_core_modules_are_found() -> None:
    assert "hptui.core.training.trainer" in CORE_MODULES
    assert Path(hptui.core.__file__).parent.name == "core"


def test_core_imports_no_ui_library() -> None:
    imports = "\n".join(f"import {name}" for name in CORE_MODULES)
    loaded = _modules_after(imports)
    ui = sorted(
        m for m in loaded if m.split(".")[0] in ("textual", "rich") or m.startswith("hptui.tui")
    )
    assert ui == [], f"core pulled in UI modules: {ui[:5]}"


def test_core_and_cli_help_import_no_heavy_library() -> None:
    imports = "\n".join(f"import {name}" for name in CORE_MODULES)
    code = (
        imports
        + "\nimport contextlib, io\nfrom hptui.cli import main\n"
        + (
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass"
        )
    )
    loaded = _modules_after(code)
    heavy = {"torch", "transformers", "datasets", "statsmodels", "optuna", "pandas", "textual"}
    assert sorted(heavy & {m.split(".")[0] for m in loaded}) == []


def test_site_packages_gets_only_the_hptui_namespace() -> None:
    loaded = _modules_after("import hptui.core.training.config, hptui.tui, hptui.cli")
    assert "core" not in loaded and "tui" not in loaded
