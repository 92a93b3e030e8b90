"""A study's trials as JSON, cold and warm: `hptui trials NAME --format json` against
optuna-dashboard's trials endpoint, side by side in one run (rounds alternate).

Fills a SQLite study with N finished trials (bench/read_api.py's `fill`: 7 parameters and
5 metrics each, written through Optuna), then per round:

- hptui cold: a new process runs `hptui trials scale --storage URL --format json`, wall
  time to exit (imports, the read, the encode, the write);
- optuna-dashboard cold: a new `optuna-dashboard URL` server, wall time from its start to
  the whole body of `GET /api/studies/1` (the trials of the study) read on 127.0.0.1;
- optuna-dashboard warm: the same request again to that running server;
- hptui warm: in this process, a Store's second read of the study and its JSON encode
  (what the console pays on a refresh; finished trials are cached per reader).

    python bench/cold_read.py --trials 10000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from read_api import fill

BIN = Path(sys.executable).parent
DEADLINE_S = 120.0  # a server that has not answered by then is a failed round


def hptui_cold(url: str, out: Path) -> float:
    started = time.perf_counter()
    with out.open("w") as sink:
        subprocess.run(
            [str(BIN / "hptui"), "trials", "scale", "--storage", url, "--format", "json"],
            stdout=sink,
            check=True,
        )
    return time.perf_counter() - started


def hptui_warm(url: str) -> float:
    from hptui.core.studies.export import to_json
    from hptui.core.studies.store import Store

    store = Store(url)
    to_json(store.flat_rows("scale"))  # the first read of this store
    started = time.perf_counter()
    to_json(store.flat_rows("scale"))
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/1", timeout=60) as r:
        return bytes(r.read())


def dashboard(url: str) -> tuple[float, float, int]:
    """(cold seconds, warm seconds, trials in the answer)."""
    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen(
        [str(BIN / "optuna-dashboard"), url, "--port", str(port), "--host", "127.0.0.1",
         "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while True:
            try:
                body = fetch(port)
                break
            except (urllib.error.URLError, ConnectionError):
                if time.perf_counter() - started > DEADLINE_S or server.poll() is not None:
                    raise RuntimeError("optuna-dashboard did not answer") from None
                time.sleep(0.02)
        cold = time.perf_counter() - started
        warm_start = time.perf_counter()
        body = fetch(port)
        warm = time.perf_counter() - warm_start
    finally:
        server.terminate()
        server.wait(timeout=30)
    return cold, warm, len(json.loads(body)["trials"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'runs.db'}"
        fill(url, args.trials)
        names = ("hptui_cold", "hptui_warm", "dashboard_cold", "dashboard_warm")
        times: dict[str, list[float]] = {k: [] for k in names}
        out = Path(tmp) / "trials.json"
        for _ in range(args.rounds):
            times["hptui_cold"].append(hptui_cold(url, out))
            rows = len(json.loads(out.read_text()))
            cold, warm, served = dashboard(url)
            times["dashboard_cold"].append(cold)
            times["dashboard_warm"].append(warm)
            times["hptui_warm"].append(hptui_warm(url))
            assert rows == served == args.trials, (rows, served)
        median = {k: statistics.median(v) for k, v in times.items()}
        result = {
            "trials": args.trials,
            "rounds": args.rounds,
            "cores": os.cpu_count(),
            "median_s": {k: round(v, 3) for k, v in median.items()},
            "all_s": {k: [round(x, 3) for x in v] for k, v in times.items()},
            "cold_ratio": round(median["dashboard_cold"] / median["hptui_cold"], 2),
            "warm_ratio": round(median["dashboard_warm"] / median["hptui_warm"], 2),
        }
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
