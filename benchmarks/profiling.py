"""Profiles of the HTTP hot paths: py-spy samples the running emulator while the load generator drives it.

``py-spy record --format raw`` writes collapsed stacks (``frame;frame;... count``, a frame being
``function (file:line)``). ``summarise`` turns them into the top functions by self time (the leaf frame)
and by inclusive time (anywhere on the stack), grouped by function and file, line numbers dropped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.servers import ROOT

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def start(
    pid: int, seconds: float, out: Path, rate: int = 200, prefix: list[str] | None = None
) -> subprocess.Popen[bytes]:
    tool = py_spy()
    if tool is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    argv = [
        *(prefix or []),
        tool,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--output",
        str(out),
    ]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def short_file(path: str) -> str:
    for marker in ("site-packages/", "lib/python3."):
        if marker in path:
            rest = path.split(marker, 1)[1]
            return rest.split("/", 1)[1] if marker == "lib/python3." and "/" in rest else rest
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return path


def frame_name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{match['func']} ({short_file(match['file'])})"


def area(name: str) -> str:
    """A coarse owner of a frame: which part of the stack the time goes to."""
    file = name.rsplit("(", 1)[-1]
    for prefix, label in (
        ("emulator/", "emulator"),
        ("starlette/", "starlette"),
        ("uvicorn/", "uvicorn"),
        ("pydantic", "pydantic"),
        ("jwt/", "PyJWT"),
        ("json/", "json (stdlib)"),
        ("sortedcontainers/", "sortedcontainers"),
        ("asyncio/", "asyncio"),
        ("uvloop/", "uvloop"),
        ("logging/", "logging"),
        ("urllib/", "urllib"),
        ("typing", "typing"),
        ("dataclasses", "dataclasses"),
    ):
        if file.startswith(prefix):
            return label
    return "other"


ENVELOPE = (
    "(<frozen runpy>)",
    "(emulator/__main__.py)",
    "(emulator/cli.py)",
    "(uvicorn/main.py)",
    "(uvicorn/server.py)",
    "(asyncio/runners.py)",
    "(uvloop/",
)


def envelope(name: str) -> bool:
    """Frames every sample passes through (entry point, server loop): no information in them."""
    return any(marker in name for marker in ENVELOPE)


def summarise(raw: Path, top: int = 15) -> dict[str, Any]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        areas[area(frames[-1])] += count
        for name in set(frames):
            inclusive[name] += count

    def share(counter: Counter[str], n: int) -> list[tuple[str, float]]:
        return [(name, 100.0 * c / total) for name, c in counter.most_common(n)] if total else []

    emulator_inclusive = Counter({k: v for k, v in inclusive.items() if "(emulator/" in k and not envelope(k)})
    return {
        "samples": total,
        "self": share(own, top),
        "inclusive": share(Counter({k: v for k, v in inclusive.items() if not envelope(k)}), top + 10),
        "emulator_inclusive": share(emulator_inclusive, top),
        "areas": share(areas, 20),
    }


def to_markdown(title: str, summary: dict[str, Any], top: int = 12) -> str:
    lines = [f"#### {title} ({summary['samples']} samples)", "", "Self time by area (leaf frame):", ""]
    lines.append(", ".join(f"{name} {pct:.0f}%" for name, pct in summary["areas"] if pct >= 0.5))
    lines += ["", "| self % | function (file) |", "|---:|---|"]
    lines += [f"| {pct:.1f} | `{name}` |" for name, pct in summary["self"][:top]]
    lines += ["", "| inclusive % | emulator function (file) |", "|---:|---|"]
    lines += [f"| {pct:.1f} | `{name}` |" for name, pct in summary["emulator_inclusive"][:top]]
    return "\n".join(lines) + "\n"
