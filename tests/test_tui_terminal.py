"""`hptui --db runs.db.example` in a real terminal (tmux): it draws the studies, answers the
keyboard and quits on q, leaving the database as it was."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HPTUI = Path(sys.executable).parent / "hptui"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def tmux(*args: str) -> str:
    done = subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=30)
    return done.stdout


def wait_for(session: str, text: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if text in screen:
            return screen
        time.sleep(0.3)
    raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_the_readmes_first_command_opens_the_example_in_a_terminal(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    example = tmp_path / "runs.db.example"
    shutil.copy(REPO / "runs.db.example", example)
    before = hashlib.sha256(example.read_bytes()).hexdigest()
    session = f"hptui-test-{size[0]}"
    tmux("kill-session", "-t", session)
    tmux(
        "new-session", "-d", "-s", session, "-x", str(size[0]), "-y", str(size[1]),
        f"cd {tmp_path} && env -u HPTUI_STORAGE {HPTUI} --db runs.db.example; "
        "echo exit-status-$?; sleep 30",
    )  # fmt: skip
    try:
        screen = wait_for(session, "tpe")
        assert "cards" in screen and "grid" in screen
        tmux("send-keys", "-t", session, "Down", "Enter")  # open the grid study
        wait_for(session, "Live")
        tmux("send-keys", "-t", session, "2")
        screen = wait_for(session, "of 18 trial(s)")
        assert "COMPLETE" in screen
        tmux("send-keys", "-t", session, "q")
        wait_for(session, "exit-status-0")
    finally:
        tmux("kill-session", "-t", session)
    assert hashlib.sha256(example.read_bytes()).hexdigest() == before


@pytest.mark.parametrize(
    ("command", "expect"),
    [
        ("{hptui}", "tpe"),  # ./runs.db
        ("HPTUI_STORAGE=sqlite:///runs.db.example {hptui}", "tpe"),
        ("{hptui} --storage sqlite:///runs.db.example --study grid", "1 Live"),
        ("{hptui} --db runs.db.example --data-dir {data}", "tpe"),
    ],
    ids=["default", "env", "storage-study", "data-dir"],
)
def test_each_way_of_opening_the_console(
    tmp_path: Path, mrpc_dir: Path, command: str, expect: str
) -> None:
    shutil.copy(REPO / "runs.db.example", tmp_path / "runs.db.example")
    shutil.copy(REPO / "runs.db.example", tmp_path / "runs.db")
    session = "hptui-test-open"
    tmux("kill-session", "-t", session)
    line = command.format(hptui=HPTUI, data=mrpc_dir)
    tmux(
        "new-session", "-d", "-s", session, "-x", "100", "-y", "30",
        f"cd {tmp_path} && unset HPTUI_STORAGE; {line}; echo exit-status-$?; sleep 30",
    )  # fmt: skip
    try:
        screen = wait_for(session, expect)
        assert "error" not in screen.lower()
        tmux("send-keys", "-t", session, "q")
        wait_for(session, "exit-status-0")
    finally:
        tmux("kill-session", "-t", session)
