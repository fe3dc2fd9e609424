"""The CLI server tunes the cyclic garbage collector for itself; in-process use leaves it alone."""

from __future__ import annotations

import json
import subprocess
import sys

from emulator.cli import GC_THRESHOLDS


def run(code: str) -> object:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_the_cli_server_raises_the_thresholds_and_freezes_start_up_objects() -> None:
    answer = run(
        "import gc, json\n"
        "from emulator.cli import tune_garbage_collector\n"
        "before = gc.get_freeze_count()\n"
        "tune_garbage_collector()\n"
        "print(json.dumps([list(gc.get_threshold()), before, gc.get_freeze_count()]))\n"
    )
    thresholds, frozen_before, frozen_after = answer  # type: ignore[misc]
    assert tuple(thresholds) == GC_THRESHOLDS
    assert frozen_before == 0 and frozen_after > 1000


def test_serve_tunes_before_serving(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from emulator import cli

    calls: list[str] = []
    monkeypatch.setattr(cli, "tune_garbage_collector", lambda: calls.append("tuned"))
    monkeypatch.setattr(cli.gc, "set_threshold", lambda *t: calls.append(f"threshold {t}"))
    from emulator.signals import EmulatorServer

    def served(server: EmulatorServer) -> None:
        calls.append("served")
        server.started = True

    monkeypatch.setattr(EmulatorServer, "run", served)
    monkeypatch.setattr("emulator.limits.raise_open_file_limit", lambda: None)  # the test process's own
    monkeypatch.setattr(cli.signal, "signal", lambda *a: None)  # keep pytest's own handlers
    assert cli.main(["--port", "0"]) == 0
    assert calls == [f"threshold {GC_THRESHOLDS}", "tuned", "served"]


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
