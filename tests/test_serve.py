"""The console in a web browser: `textual serve -c "hptui --db runs.db.example"` (the README's
"In a browser"), opened in a real headless Chromium (Debian's package) driven over the
DevTools protocol. The page must build its terminal and receive the console's studies table:
the page records what its WebSocket brings (what xterm.js draws), and every study of the
example must arrive in it. A screenshot is kept beside the test's files for a person to look
at. Slow: Chromium and the console start in a few seconds each."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
STUDIES = ("cards", "grid", "tpe")  # the studies of runs.db.example
# Wait limits for things to start (never asserted on: a slow machine only waits longer).
START_S = 120

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)"
    ),
    pytest.mark.skipif(
        not (BIN / "textual").exists(),
        reason="textual serve is not installed: pip install -e '.[serve]'",
    ),
]
pytest.importorskip(
    "textual_serve", reason="textual-serve is not installed: pip install -e '.[serve]'"
)
aiohttp = pytest.importorskip("aiohttp", reason="textual-serve's aiohttp is not installed")

# Runs in the page before its own scripts: keeps every WebSocket message as text.
RECORD = """
window.__received = [];
const Native = window.WebSocket;
window.WebSocket = function (url, protocols) {
  const socket = new Native(url, protocols);
  socket.addEventListener("message", (event) => {
    const data = event.data;
    if (typeof data === "string") window.__received.push(data);
    else if (data instanceof Blob) data.text().then((t) => window.__received.push(t));
    else window.__received.push(new TextDecoder().decode(data));
  });
  return socket;
};
window.WebSocket.prototype = Native.prototype;
Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
"""
ESCAPES = re.compile(
    r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][A-Z0-9]"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_http(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        assert process.poll() is None, f"textual serve exited with {process.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"textual serve did not answer on {url}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def _devtools_port(profile: Path, browser: subprocess.Popen[bytes]) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        assert browser.poll() is None, f"chromium exited with {browser.returncode}"
        if marker.is_file() and marker.read_text().strip():
            return int(marker.read_text().split()[0])
        time.sleep(0.2)
    pytest.fail("chromium did not open its DevTools port")


def _rows(text: str) -> dict[str, list[str]]:
    """The studies table's rows in the received text: a study's name as a line's first
    cell (after the table's row marker), with the line's cells."""
    rows = {}
    for line in text.splitlines():
        cells = line.strip("▊▎ ").split()
        if cells and cells[0] in STUDIES:
            rows[cells[0]] = cells
    return rows


async def _read_console(devtools: int, url: str, screenshot: Path) -> tuple[str, bool]:
    """Open `url` in Chromium's page; return the text its WebSocket brought (escapes
    removed) once every study is in it, and whether the page built an xterm screen."""
    with urllib.request.urlopen(f"http://127.0.0.1:{devtools}/json/list", timeout=10) as answer:
        pages = [t for t in json.load(answer) if t["type"] == "page"]
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws,
    ):
        ids = iter(range(1, 10**6))

        async def call(method: str, **params: object) -> dict[str, object]:
            number = next(ids)
            await ws.send_json({"id": number, "method": method, "params": params})
            while True:
                message = json.loads((await ws.receive()).data)
                if message.get("id") == number:
                    assert "error" not in message, message
                    return message.get("result", {})

        await call("Page.enable")
        await call("Page.addScriptToEvaluateOnNewDocument", source=RECORD)
        await call("Page.navigate", url=url)
        text, screen = "", False
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            result = await call(
                "Runtime.evaluate",
                expression="JSON.stringify([(window.__received || []).join(''), "
                "!!document.querySelector('.xterm-screen')])",
                returnByValue=True,
            )
            received, screen = json.loads(result["result"]["value"])  # type: ignore[index]
            text = ESCAPES.sub("", received)
            if screen and set(_rows(text)) == set(STUDIES):
                break
        shot = await call("Page.captureScreenshot", format="png")
        screenshot.write_bytes(base64.b64decode(shot["data"]))  # type: ignore[arg-type]
        return text, screen


def test_the_console_opens_in_a_browser_and_shows_the_studies(tmp_path: Path) -> None:
    example = tmp_path / "runs.db.example"
    shutil.copy(REPO / "runs.db.example", example)
    port = _free_port()
    env = dict(os.environ, HOME=str(tmp_path))
    env.pop("HPTUI_STORAGE", None)
    serve = subprocess.Popen(
        [str(BIN / "textual"), "serve", "--host", "127.0.0.1", "--port", str(port),
         "-c", f"{BIN / 'hptui'} --db {example}"],
        cwd=tmp_path, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    browser: subprocess.Popen[bytes] | None = None
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for_http(url, serve)
        profile = tmp_path / "chromium-profile"
        browser = subprocess.Popen(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--remote-debugging-port=0",
             "--window-size=1400,900", "about:blank"],
            env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        devtools = _devtools_port(profile, browser)
        text, screen = asyncio.run(_read_console(devtools, url, tmp_path / "console.png"))
    finally:
        if browser is not None:
            _stop(browser)
        _stop(serve)
    assert screen, "the page built no xterm screen"
    # Each study's row of the table: its name first, then its COMPLETE count among the cells.
    from hptui.core.studies.reader import StudyReader

    rows = _rows(text)
    for info in StudyReader(f"sqlite:///{example}").studies():
        assert info.name in rows, f"no row of {info.name!r} reached the browser: {text[-2000:]!r}"
        assert str(info.counts.get("COMPLETE", 0)) in rows[info.name][1:], rows[info.name]
    assert (tmp_path / "console.png").stat().st_size > 10_000  # a drawn page, not a blank one
