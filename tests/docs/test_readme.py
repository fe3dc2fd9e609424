"""The README stays a short front page: at most 250 lines, and every link it makes into the repository
(the documentation pages and their sections) leads somewhere."""

from __future__ import annotations

import re

from tests.docs.pages import FENCE, README, ROOT, anchors

LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_the_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= 250, f"README.md has {lines} lines; move the detail into docs/"


def test_every_link_of_the_readme_leads_somewhere() -> None:
    text = FENCE.sub("", README.read_text(encoding="utf-8"))
    local = [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]
    assert local, "the README links into the documentation"
    broken = []
    for target in local:
        path, _, anchor = target.partition("#")
        page = ROOT / path if path else README
        if not page.is_file() or (anchor and anchor not in anchors(page)):
            broken.append(target)
    assert broken == []
