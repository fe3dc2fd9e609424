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


def ratio_text(value: float, target: float, *, at_most: bool = False) -> str:
    """A ratio as the table shows it against its target (``≥ target``, or ``≤`` when ``at_most``): two
    decimals, or as many more as it takes to keep it on its side of the target (0.5996 against ≥ 0.60 is
    "0.5996×", not "0.60×", which the chart and a reader would take for a pass)."""

    def meets(x: float) -> bool:
        return x <= target if at_most else x >= target

    for digits in range(2, 10):
        text = f"{value:.{digits}f}"
        if meets(float(text)) == meets(value):
            return text + "×"
    return f"{value!r}×"


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
