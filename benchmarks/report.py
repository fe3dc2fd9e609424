"""What a benchmark run reports: its rows, the raw figures behind them, notes, and the markdown table."""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Row:
    name: str
    emulator: str
    baseline: str
    measured: str
    target: str
    result: str  # PASS, FAIL, SKIP, INFO
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def markdown_table(rows: list[Row]) -> str:
    lines = [
        "| Benchmark | Emulator | Baseline | Measured | Target | Result | Notes |",
        "|---|---:|---:|---:|---|:---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.emulator} | {r.baseline} | {r.measured} | {r.target} | **{r.result}** | {r.note} |"
        )
    return "\n".join(lines) + "\n"
