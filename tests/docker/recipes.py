"""docs/docker.md, read as the recipes it holds: code blocks, YAML documents, the CI jobs and services."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.docker import dockerfile as df

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read the YAML recipes (test extra `pyyaml`)")

DOCS = df.ROOT / "docs" / "docker.md"


@dataclass
class Section:
    source: Path
    text: str

    def blocks(self, *languages: str) -> list[str]:
        found = re.findall(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", self.text, re.MULTILINE | re.DOTALL)
        return [body for lang, body in found if lang in languages]

    def yaml_blocks(self) -> list[Any]:
        return [yaml.safe_load(b) for b in self.blocks("yaml", "yml")]


def docker_section() -> Section:
    """The Docker and CI recipes: the whole of docs/docker.md."""
    if not DOCS.exists():
        pytest.fail(f"{DOCS.relative_to(df.ROOT)} is missing: it holds the Docker and CI recipes")
    return Section(DOCS, DOCS.read_text(encoding="utf-8"))


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) of nested YAML mappings."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key), value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def runner_split(options: str) -> list[str]:
    """Split like the GitHub runner's ``docker create`` command line (.NET's rules: double quotes group,
    backslashes escape only quotes, single quotes are ordinary characters)."""
    args: list[str] = []
    current, quoted, started, i = "", False, False, 0
    while i < len(options):
        c = options[i]
        if c == "\\":
            j = i
            while j < len(options) and options[j] == "\\":
                j += 1
            n = j - i
            if j < len(options) and options[j] == '"':
                current += "\\" * (n // 2)
                if n % 2:
                    current += '"'
                    i = j + 1
                else:
                    i = j
                started = True
                continue
            current, i, started = current + "\\" * n, j, True
            continue
        if c == '"':
            quoted, started = not quoted, True
        elif c.isspace() and not quoted:
            if started:
                args.append(current)
            current, started = "", False
        else:
            current, started = current + c, True
        i += 1
    if started:
        args.append(current)
    return args


def github_workflow(section: Section) -> str:
    """The GitHub Actions workflow, as written."""
    for body in section.blocks("yaml", "yml"):
        data = yaml.safe_load(body)
        if isinstance(data, dict) and "jobs" in data:
            return body
    pytest.fail("no GitHub Actions workflow (a YAML block with jobs:) in docs/docker.md")


def github_service(section: Section) -> dict[str, Any]:
    for job in yaml.safe_load(github_workflow(section))["jobs"].values():
        for service in job.get("services", {}).values():
            return dict(service)
    pytest.fail("no GitHub Actions job with services: in docs/docker.md")


def github_options(service: dict[str, Any]) -> dict[str, str]:
    """The service's ``options`` as the runner passes them to ``docker create``: {flag: value}."""
    args = runner_split(service.get("options", ""))
    return dict(zip(args[::2], args[1::2], strict=True))


def gitlab_job(section: Section) -> dict[str, Any]:
    for data in section.yaml_blocks():
        jobs = [j for j in (data or {}).values() if isinstance(j, dict) and "services" in j and "script" in j]
        if jobs:
            return dict(jobs[0])
    pytest.fail("no GitLab CI job with services: and script: in docs/docker.md")
