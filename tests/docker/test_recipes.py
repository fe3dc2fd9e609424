"""The README's Docker recipes against what the image really reads, creates and exposes.

The section is README.md's "## Docker"; until it is pasted there, docs/docker.md (which starts with
that heading). A documented EMULATOR_* variable must be a setting, a documented container path must
be a folder the image creates (or lie under one), and every container port must be the EXPOSEd one.
The GitHub Actions health command and the GitLab wait step are run against a stub, as written.
"""

from __future__ import annotations

import ast
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from emulator.config import ENV_PREFIX, Settings
from tests.docker import dockerfile as df

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read the YAML recipes (test extra `pyyaml`)")

SETTINGS_VARS = {ENV_PREFIX + f.name.upper() for f in fields(Settings)}
README = df.ROOT / "README.md"
FALLBACK = df.ROOT / "docs" / "docker.md"


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
    for path in (README, FALLBACK):
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        m = re.search(r"^## Docker[ \t]*\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
        if m:
            return Section(path, m.group(0))
    pytest.fail('no "## Docker" section in README.md or docs/docker.md')


@pytest.fixture(scope="module")
def section() -> Section:
    return docker_section()


@pytest.fixture(scope="module")
def runtime() -> df.Stage:
    return df.load()[-1]


@pytest.fixture(scope="module")
def exposed(runtime: df.Stage) -> int:
    (port,) = [int(p.split("/")[0]) for ins in runtime.all("EXPOSE") for p in ins.text.split()]
    return port


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) of nested YAML mappings."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key), value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def test_every_documented_variable_is_a_setting(section: Section) -> None:
    mentioned = set(re.findall(r"\bEMULATOR_[A-Z0-9_]*[A-Z0-9]\b", section.text))
    assert mentioned, "the recipes mention no EMULATOR_* variable"
    unknown = mentioned - SETTINGS_VARS
    assert not unknown, f"{section.source.name} documents variables the emulator does not read: {sorted(unknown)}"


def container_paths(section: Section) -> set[str]:
    text = section.text
    paths = set(re.findall(r"(?:-v|--volume)[ =]\"?[^\s\":]+:(/[^\s\":]+)", text))
    paths |= set(re.findall(r"with_volume_mapping\([^,]+,\s*[\"'](/[^\"']+)[\"']", text))
    paths |= set(re.findall(r"EMULATOR_FIXTURES[=:]\s*[\"']?(/[^\s\"'`),]+)", text))
    paths |= set(re.findall(r"with_env\(\s*[\"']EMULATOR_FIXTURES[\"'],\s*[\"'](/[^\"']+)[\"']", text))
    for data in section.yaml_blocks():
        for key, value in walk(data):
            if key == "volumes" and isinstance(value, list):
                paths |= {v.split(":")[1] for v in value if isinstance(v, str) and ":" in v}
            if key == "EMULATOR_FIXTURES":
                paths.add(str(value))
    return paths


def test_every_documented_container_path_exists_in_the_image(section: Section, runtime: df.Stage) -> None:
    created = {PurePosixPath(p) for p in df.created_paths(runtime)} - {PurePosixPath("/")}
    paths = container_paths(section)
    assert "/fixtures" in paths, "the recipes should show the fixtures mount"
    for path in map(PurePosixPath, paths):
        assert path in created or created & set(path.parents), f"{path}: the image creates no such folder"


def container_ports(section: Section) -> list[tuple[str, int]]:
    """Container-side ports in the recipes' code (prose may say "EMULATOR_PORT=0 is meaningless")."""
    text = "\n".join(section.blocks("sh", "bash", "shell", "yaml", "yml", "python", ""))
    found = [
        (m.group(0), int(m.group(1))) for m in re.finditer(r"(?:-p|--publish)[ =](?:[\d.]+:)?(?:\d+:)?(\d+)\b", text)
    ]
    for pattern in (
        r"with_exposed_ports\((\d+)",
        r"get_exposed_port\((\d+)",
        r"HttpWaitStrategy\((\d+)",
        r"https?://(?:jira|emulator|127\.0\.0\.1):(\d+)",
        r"EMULATOR_PORT[=:]\s*[\"']?(\d+)",
    ):
        found += [(m.group(0), int(m.group(1))) for m in re.finditer(pattern, text)]
    for data in section.yaml_blocks():
        for key, value in walk(data):
            if key == "ports" and isinstance(value, list):
                found += [(f"ports: {v}", int(str(v).split("/")[0].rsplit(":", 1)[-1])) for v in value]
    return found


def test_every_documented_container_port_is_the_exposed_one(section: Section, exposed: int) -> None:
    found = container_ports(section)
    assert len(found) >= 5, f"expected ports in every recipe, found {found}"
    wrong = [where for where, port in found if port != exposed]
    assert not wrong, f"not the EXPOSEd port {exposed}: {wrong}"


def test_every_recipe_is_there_and_parses(section: Section) -> None:
    text = section.text
    for needle in (
        "docker build -t jira-deployments-emulator .",
        "docker run",
        "service_healthy",
        "runs-on:",
        "--health-cmd",
        "alias:",
        "DockerContainer",
        "/_emulator/ready",
    ):
        assert needle in text, f"the Docker section lacks {needle!r}"
    for body in section.blocks("python"):
        ast.parse(body)
    bash = shutil.which("bash")
    for body in section.blocks("sh", "bash", "shell"):
        if bash:
            result = subprocess.run([bash, "-n"], input=body, capture_output=True, text=True, timeout=10)
            assert result.returncode == 0, f"{result.stderr}\n{body}"
    assert len(section.yaml_blocks()) >= 3


def test_the_compose_recipe_is_the_repositorys_file(section: Section) -> None:
    in_repo = yaml.safe_load(df.COMPOSE.read_text(encoding="utf-8"))
    shown = [b for b in section.yaml_blocks() if isinstance(b, dict) and "services" in b and "jobs" not in b]
    assert shown, "the section should show docker-compose.yml"
    assert shown[0] == in_repo, "the compose recipe differs from docker-compose.yml"
    assert "docker-compose.yml" in section.text


# ---------------------------------------------------------------------------------------------------
# run the CI recipes' probes, as written, against a stub of /_emulator/ready


class _Ready(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/_emulator/ready" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub_port() -> Iterator[int]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


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


def github_service(section: Section) -> dict[str, Any]:
    for data in section.yaml_blocks():
        if isinstance(data, dict) and "jobs" in data:
            for job in data["jobs"].values():
                for service in job.get("services", {}).values():
                    return dict(service)
    pytest.fail("no GitHub Actions job with services: in the section")


def test_github_service_health_options_work_as_written(section: Section, exposed: int, stub_port: int) -> None:
    service = github_service(section)
    args = runner_split(service["options"])
    values = dict(zip(args[::2], args[1::2], strict=True))
    allowed = {
        "--health-cmd",
        "--health-interval",
        "--health-timeout",
        "--health-retries",
        "--health-start-period",
        "--health-start-interval",
    }
    assert set(values) <= allowed, f"unexpected docker create options: {set(values) - allowed}"
    for key in ("--health-interval", "--health-timeout", "--health-start-period", "--health-start-interval"):
        if key in values:
            df.go_duration(values[key])
    cmd = values["--health-cmd"]
    assert f"127.0.0.1:{exposed}/_emulator/ready" in cmd and not re.search(r"\b(curl|wget)\b", cmd)
    # docker runs --health-cmd as CMD-SHELL: /bin/sh -c, in the container, where python is on PATH
    probe = cmd.replace(f"127.0.0.1:{exposed}/", f"127.0.0.1:{stub_port}/")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HTTP_PROXY": "http://127.0.0.1:9"}
    result = subprocess.run(["/bin/sh", "-c", probe], env=env, capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    closed = cmd.replace(f"127.0.0.1:{exposed}/", "127.0.0.1:9/")
    assert subprocess.run(["/bin/sh", "-c", closed], env=env, capture_output=True, timeout=10).returncode != 0


def test_gitlab_wait_step_works_as_written(section: Section, stub_port: int) -> None:
    for data in section.yaml_blocks():
        jobs = [j for j in (data or {}).values() if isinstance(j, dict) and "services" in j and "script" in j]
        if jobs:
            job = jobs[0]
            break
    else:
        pytest.fail("no GitLab CI job with services: and script: in the section")
    (service,) = job["services"]
    assert service["alias"] and "jira-deployments-emulator" in service["name"]
    assert set(service.get("variables", {})) <= SETTINGS_VARS
    url = job["variables"]["JIRA_BASE_URL"]
    assert url.startswith(f"http://{service['alias']}:")
    steps = [s for s in job["script"] if "/_emulator/ready" in s]
    assert steps, "the job should wait for /_emulator/ready before its tests"
    bash = shutil.which("bash") or "/bin/sh"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "JIRA_BASE_URL": f"http://127.0.0.1:{stub_port}",
    }
    for step in steps:
        result = subprocess.run([bash, "-c", step], env=env, capture_output=True, text=True, timeout=20)
        assert result.returncode == 0, result.stderr
