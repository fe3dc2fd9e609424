"""The CLI server tunes the cyclic garbage collector for itself; in-process use leaves it alone, and the
benchmark's baseline runs with the same settings as the CLI server."""

from __future__ import annotations

import json
import subprocess
import sys

from emulator.cli import GC_THRESHOLDS


def run(code: str) -> object:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_create_app_leaves_the_collector_of_its_host_process_alone() -> None:
    answer = run(
        "import gc, json\n"
        "before = gc.get_threshold()\n"
        "from emulator.app import create_app\n"
        "create_app()\n"
        "print(json.dumps([gc.get_threshold() == before, gc.get_freeze_count()]))\n"
    )
    assert answer == [True, 0]


def test_the_benchmark_baseline_runs_with_the_same_collector_settings() -> None:
    """A submit ratio against a baseline on Python's defaults would credit the emulator with its collector
    settings, not its code (benchmarks/baseline_app.py)."""
    from benchmarks import baseline_app

    assert baseline_app.GC_THRESHOLDS == GC_THRESHOLDS
