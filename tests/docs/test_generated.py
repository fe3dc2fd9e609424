"""The generated parts of the documentation are what ``docs/generate.py`` writes from the code today."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.docs.pages import DOCS, ROOT


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = load_generator()


@pytest.mark.parametrize("path", sorted(generate.rendered()), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_generated_page_is_current(path: Path) -> None:
    expected = generate.rendered()[path]
    committed = path.read_text(encoding="utf-8") if path.exists() else ""
    assert committed == expected, f"{path.relative_to(ROOT)} is stale: run `{generate.COMMAND}` and commit the result"


def test_the_chart_reads_each_target_row_as_the_benchmark_judged_it() -> None:
    """The chart's figure for each row passes its target exactly when the benchmark said PASS (a row that
    failed for errors in its run, not for its figure, says so in its note)."""
    rows = generate.target_rows(generate.benchmark())
    assert rows, "the benchmark has no row with a target"
    for r in rows:
        meets = r["value"] >= r["limit"] if r["sign"] == "≥" else r["value"] <= r["limit"]
        if "run invalid" not in r["row"]["note"]:
            assert meets == (r["row"]["result"] == "PASS"), r


def test_a_stale_part_is_replaced_and_a_missing_marker_refused() -> None:
    page = "intro\n<!-- generated: x -->\nold\n<!-- end generated: x -->\nafter\n"
    assert generate.fill(page, "x", "new", "p.md") == (
        "intro\n<!-- generated: x -->\n\nnew\n\n<!-- end generated: x -->\nafter\n"
    )
    with pytest.raises(SystemExit, match="exactly one"):
        generate.fill("no markers here", "x", "new", "p.md")
