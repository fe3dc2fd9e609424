"""Writes the parts of the documentation that the code already knows, so that they cannot drift from it.

    .venv/bin/python docs/generate.py             # rewrite every generated part
    .venv/bin/python docs/generate.py --check     # change nothing; exit 1 naming each stale file
    .venv/bin/python docs/generate.py --benchmark benchmarks/results/latest.json
                                                  # take a new `make bench` run, then rewrite

A generated part of a page sits between ``<!-- generated: NAME -->`` and ``<!-- end generated: NAME -->``;
everything else on the page is written by hand. The sources:

- ``configuration.md``: the ``Settings`` fields, their defaults and ``HELP`` (``emulator/config.py``);
- ``control-surface.md``: the route table ``routes()`` (``emulator/control/routes.py``), each route described
  by its handler's docstring, and the fault rules' fields (``_Spec`` and ``_EXPECTED`` in ``emulator/faults.py``);
- ``performance.md`` and ``img/performance-targets.svg``: the benchmark's ``latest.json``, kept at
  ``docs/data/benchmark-latest.json``.

``tests/docs/test_generated.py`` renders every part in memory and fails when a committed one differs.
"""

from __future__ import annotations

import argparse
import html
import inspect
import json
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
BENCHMARK = DOCS / "data" / "benchmark-latest.json"
CHART = DOCS / "img" / "performance-targets.svg"
COMMAND = "make docs-generate"  # what a stale page's message tells the reader to run


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def code(text: Any) -> str:
    return f"`{text}`"


def prose(text: str) -> str:
    """Plain text for a Markdown cell: ``<``, ``>`` and ``*`` outside code spans shown as written, not read
    as HTML or emphasis."""
    parts = re.split(r"(`+[^`]*`+)", text)
    escaped = {"<": "&lt;", ">": "&gt;", "*": "\\*"}
    return "".join(p if p.startswith("`") else re.sub(r"[<>*]", lambda m: escaped[m.group()], p) for p in parts)


# -- configuration ------------------------------------------------------------------------------------

VALUE_KINDS = {"bool": "on/off", "int": "whole number", "int | None": "whole number", "float": "seconds"}


def settings_table() -> str:
    """One row per ``Settings`` field: its flag, variable, default, kind of value and help."""
    from emulator.config import ENV_PREFIX, HELP, Settings

    rows = []
    for f in fields(Settings):
        default = f.default if f.default is not MISSING else None
        if f.type == "bool":
            shown = "off"
        elif default is None:
            shown = "none"
        else:
            shown = code(f"{default:g}" if isinstance(default, float) else default)
        variable = code(ENV_PREFIX + f.name.upper()) + (" (`true`/`false`)" if f.type == "bool" else "")
        kind = VALUE_KINDS.get(f.type, "text")
        rows.append([code("--" + f.name.replace("_", "-")), variable, shown, kind, prose(HELP[f.name])])
    return table(["flag", "variable", "default", "value", "what it sets"], rows)


# -- the control surface ------------------------------------------------------------------------------

METHOD_ORDER = ("GET", "POST", "PUT", "DELETE")


def handler_doc(endpoint: Callable[..., Any]) -> str:
    """The first line of the docstring of the handler behind a route: the endpoint itself, or for a deferred
    endpoint (``deferred(load)(name)`` in ``emulator/control/routes.py``) ``load()``'s attribute ``name``."""
    captured = inspect.getclosurevars(endpoint).nonlocals
    target = getattr(captured["load"](), captured["name"]) if {"load", "name"} <= captured.keys() else endpoint
    doc = inspect.getdoc(target)
    if not doc:
        raise SystemExit(f"{target.__qualname__} has no docstring: the control-surface reference describes it")
    first = doc.split("\n\n")[0].replace("\n", " ")
    return re.sub(r"^``[A-Z]+ [^`]+``:\s*", "", first)  # "``GET /path``: does" -> "does"


def control_routes_table() -> str:
    from emulator.app import Emulator
    from emulator.config import Settings
    from emulator.control.routes import routes

    rows = []
    for route in routes(Emulator(Settings(port=0))):
        methods = [m for m in METHOD_ORDER if m in (route.methods or ())]
        rows.append((route.path, METHOD_ORDER.index(methods[0]), ", ".join(methods), handler_doc(route.endpoint)))
    rows.sort()
    return table(["method", "path", "what it does"], [[m, code(p), prose(d[0].upper() + d[1:])] for p, _, m, d in rows])


# what _EXPECTED (the wording of a refused rule) has no entry for, because any value is accepted
FAULT_FIELDS_ACCEPTING_ANYTHING = {"body": "any JSON value: the body answered instead of Jira's text for the status"}


def fault_fields_table() -> str:
    from msgspec import NODEFAULT
    from msgspec.structs import fields as struct_fields

    from emulator.api.families import OPERATIONS
    from emulator.faults import _EXPECTED, _Spec

    operations = "one of " + ", ".join(op.id for op in OPERATIONS) + " (or null for any)"
    rows = []
    for f in struct_fields(_Spec):
        default = f.default_factory() if f.default is NODEFAULT else f.default
        accepts = _EXPECTED.get(f.encode_name) or FAULT_FIELDS_ACCEPTING_ANYTHING[f.encode_name]
        if f.encode_name == "operation":  # the operations the Jira surface declares
            accepts = operations
        rows.append([code(f.encode_name), prose(accepts), code(json.dumps(default))])
    return table(["field", "accepts", "default"], rows)


# -- performance --------------------------------------------------------------------------------------


def benchmark() -> dict[str, Any]:
    return json.loads(BENCHMARK.read_text(encoding="utf-8"))


def benchmark_table() -> str:
    """The latest run's rows, their notes under the table, and the machine they ran on."""
    data = benchmark()
    header = ["#", "benchmark", "emulator", "baseline", "measured", "target", "result"]
    rows = [
        [str(n), r["name"], r["emulator"], r["baseline"], r["measured"], r["target"], f"**{r['result']}**"]
        for n, r in enumerate(data["rows"], 1)
    ]
    plan = data["plan"]
    notes = [f"{n}. {r['note']}" for n, r in enumerate(data["rows"], 1) if r["note"]]
    return "\n".join(
        [
            f"{plan['rounds']} alternating rounds of {plan['seconds']:g} s per HTTP figure; "
            f"a store of {plan['store_size']:,} deployments for the delete and memory rows.",
            "",
            table(header, rows),
            "",
            "Notes, by row:",
            "",
            *notes,
            "",
            "The machine and the run:",
            "",
            *[f"- {fact}" for fact in data["facts"]],
        ]
    )


TARGET = re.compile(r"(≥|≤)\s*([\d.,]+)\s*(×|ms|GB)")


def target_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Each row with a target, as numbers: its measured value in the target's unit (from the measured
    column, else the emulator column; the least favourable where there are several) and the target."""
    found = []
    for row in data["rows"]:
        target = TARGET.search(row["target"])
        if target is None:
            continue  # "report": a figure without a target
        sign, limit, unit = target.group(1), float(target.group(2).replace(",", "")), target.group(3)
        number = rf"([\d.,]+)\s*{re.escape(unit)}"
        values = [float(v.replace(",", "")) for v in re.findall(number, row["measured"])] or [
            float(v.replace(",", "")) for v in re.findall(number, row["emulator"])
        ]
        if not values:
            raise SystemExit(f"no figure in {unit} for the row {row['name']!r}")
        value = min(values) if sign == "≥" else max(values)
        label = re.split(r"[:,]", row["name"], maxsplit=1)[0].replace("`", "")
        shown = f"{value:g}{'' if unit == '×' else ' '}{unit}"
        found.append({"label": label, "sign": sign, "limit": limit, "value": value, "shown": shown, "row": row})
    return found


def targets_chart() -> str:
    """An SVG: per target, the measured value divided by the target, against a line at 1 (the target),
    with the passing side of the line shaded; one shared axis from 0 to 2."""
    rows = target_rows(benchmark())
    left, plot, top, step = 290, 320, 46, 40
    width = left + plot + 290
    height = top + step * len(rows) + 34
    scale = plot / 2.0  # pixels per unit of measured / target

    def x(ratio: float) -> float:
        return left + min(ratio, 2.0) * scale

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif" font-size="13" role="img" aria-label="Each performance target: measured / target">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        '<text x="12" y="22" font-size="15" font-weight="bold">Each target: measured ÷ target '
        "(the line is the target; the shaded side passes)</text>",
    ]
    for i, r in enumerate(rows):
        y = top + i * step
        ratio = r["value"] / r["limit"]
        passing = r["row"]["result"] == "PASS"
        band = (x(1.0), left + plot) if r["sign"] == "≥" else (left, x(1.0))
        out += [
            f'<rect x="{band[0]:.1f}" y="{y:.1f}" width="{band[1] - band[0]:.1f}" height="26" fill="#e6f4ea"/>',
            f'<rect x="{left}" y="{y + 6:.1f}" width="{x(ratio) - left:.1f}" height="14" '
            f'fill="{"#2e7d32" if passing else "#c62828"}"/>',
            f'<text x="{left - 8}" y="{y + 18:.1f}" text-anchor="end">{html.escape(r["label"])}</text>',
            f'<text x="{left + plot + 10}" y="{y + 18:.1f}">{r["shown"]}, target '
            f"{html.escape(r['row']['target'])}: {html.escape(r['row']['result'])}</text>",
        ]
    bottom = top + step * len(rows)
    out.append(
        f'<line x1="{x(1.0):.1f}" y1="{top - 6}" x2="{x(1.0):.1f}" y2="{bottom}" stroke="#222" stroke-width="2"/>'
    )
    for tick in (0.0, 0.5, 1.0, 1.5, 2.0):
        out.append(f'<text x="{x(tick):.1f}" y="{bottom + 18}" text-anchor="middle" fill="#555">{tick:g}×</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# -- the pages ----------------------------------------------------------------------------------------

BLOCKS: dict[str, dict[str, Callable[[], str]]] = {
    "configuration.md": {"settings": settings_table},
    "control-surface.md": {"routes": control_routes_table, "fault-fields": fault_fields_table},
    "performance.md": {"benchmark": benchmark_table},
}
FILES: dict[Path, Callable[[], str]] = {CHART: targets_chart}


def fill(text: str, name: str, content: str, page: str) -> str:
    """``text`` with the part named ``name`` replaced by ``content``."""
    pattern = re.compile(
        rf"(<!-- generated: {re.escape(name)} -->\n).*?(<!-- end generated: {re.escape(name)} -->)", re.DOTALL
    )
    if len(pattern.findall(text)) != 1:
        raise SystemExit(f"docs/{page} needs exactly one '<!-- generated: {name} -->' ... '<!-- end ... -->' pair")
    return pattern.sub(lambda m: m.group(1) + "\n" + content.strip("\n") + "\n\n" + m.group(2), text)


def rendered() -> dict[Path, str]:
    """What every file holding generated content should contain now."""
    files = {}
    for page, blocks in BLOCKS.items():
        text = (DOCS / page).read_text(encoding="utf-8")
        for name, render in blocks.items():
            text = fill(text, name, render(), page)
        files[DOCS / page] = text
    for path, render in FILES.items():
        files[path] = render()
    return files


def stale() -> list[Path]:
    return [path for path, text in rendered().items() if not path.exists() or path.read_text(encoding="utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="docs/generate.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a generated part is stale")
    parser.add_argument("--benchmark", type=Path, help="a latest.json from `make bench` to take before rewriting")
    args = parser.parse_args(argv)
    if args.check:
        old = stale()
        for path in old:
            print(f"stale: {path.relative_to(DOCS.parent)} (run `{COMMAND}`)", file=sys.stderr)
        return 1 if old else 0
    if args.benchmark:
        json.loads(args.benchmark.read_text(encoding="utf-8"))  # refuse what is not JSON before taking it
        shutil.copyfile(args.benchmark, BENCHMARK)
    for path, text in rendered().items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(DOCS.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
