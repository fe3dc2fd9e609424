"""A real Docker Engine, driven through the ``docker`` CLI: is one there, build the image, run containers.

The container tests (``pytest -m docker``) use these helpers. Every container they start gets a unique
name and the label ``LABEL``, publishes its port on 127.0.0.1 only, and is removed by the fixture that
started it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "jira-deployments-emulator"  # the tag every recipe in docs/docker.md uses
PORT = 8080  # the image's EXPOSEd port
LABEL = "jira-deployments-emulator.tests=1"


class DockerError(RuntimeError):
    """A docker command failed; the message holds its command line and output."""


def docker(*args: str, timeout: float = 120, check: bool = True, input: str | None = None) -> str:
    """Run ``docker ARGS`` and return its stdout; DockerError when it fails and ``check`` is set."""
    try:
        done = subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=timeout, input=input, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise DockerError(f"docker {' '.join(args)}: no answer within {timeout:g} s") from exc
    if check and done.returncode != 0:
        raise DockerError(f"docker {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout


def engine_problem() -> str | None:
    """Why no engine can be used (no CLI, or no daemon answering), or None when one answers."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    try:
        done = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, timeout=15
        )
    except subprocess.TimeoutExpired:
        return "the Docker daemon did not answer within 15 s"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f'no Docker daemon answers ({last}); start one, e.g. eval "$(../shared/tools/docker-engine up)"'
    return None


@dataclass(frozen=True)
class Image:
    tag: str
    size_bytes: int
    build_seconds: float
    inspect: dict


def build_image(tag: str = IMAGE, context: Path = ROOT) -> Image:
    """``docker build -t TAG CONTEXT``: BuildKit reuses every cached layer when nothing changed."""
    started = time.monotonic()
    docker("build", "--quiet", "--tag", tag, str(context), timeout=600)
    seconds = time.monotonic() - started
    # the builds this one replaced, left untagged (BuildKit's cache keeps what a rebuild reuses)
    docker("image", "prune", "--force", "--filter", f"label=org.opencontainers.image.title={tag}", check=False)
    (info,) = json.loads(docker("image", "inspect", tag))
    return Image(tag, int(info["Size"]), seconds, info)


def unique(prefix: str = "jde-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Container:
    """One container of the image under test, started with ``docker run -d`` and removed with ``remove``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = time.monotonic()  # of the last run, start or restart: what wait_healthy measures from

    @classmethod
    def run(cls, image: str, *, env: dict[str, str] | None = None, args: Sequence[str] = ()) -> Container:
        """``docker run -d`` with a unique name, the port published on 127.0.0.1, and ``args`` before the image."""
        container = cls(unique())
        command = ["run", "-d", "--name", container.name, "--label", LABEL, "-p", f"127.0.0.1::{PORT}"]
        for key, value in (env or {}).items():
            command += ["-e", f"{key}={value}"]
        docker(*command, *args, image)
        return container

    # -- what it is doing -------------------------------------------------------------------------

    def inspect(self) -> dict:
        (info,) = json.loads(docker("container", "inspect", self.name))
        return info

    def logs(self) -> str:
        done = subprocess.run(["docker", "logs", self.name], capture_output=True, text=True, timeout=30)
        return done.stdout + done.stderr

    @property
    def url(self) -> str:
        """The emulator as the host reaches it: the published port, on 127.0.0.1 (it moves on restart)."""
        mapping = docker("port", self.name, f"{PORT}/tcp").split()[0]
        return f"http://127.0.0.1:{mapping.rsplit(':', 1)[1]}"

    def wait_healthy(self, timeout: float = 20) -> float:
        """Seconds from ``docker run`` (or the last ``start``) until Docker reports the container healthy."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.inspect()["State"]
            if state.get("Health", {}).get("Status") == "healthy":
                return time.monotonic() - self.started
            if not state["Running"]:
                raise DockerError(f"{self.name} exited with {state['ExitCode']} before healthy:\n{self.logs()}")
            if time.monotonic() > deadline:
                raise DockerError(f"{self.name} not healthy after {timeout:g} s:\n{self.logs()}")
            time.sleep(0.05)

    def wait_exit(self, timeout: float) -> int | None:
        """The exit code once the container has stopped, or None if it still runs after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.inspect()["State"]
            if not state["Running"] and not state.get("Restarting"):
                return int(state["ExitCode"])
            time.sleep(0.02)
        return None

    # -- what is done to it -----------------------------------------------------------------------

    def start(self) -> None:
        self.started = time.monotonic()
        docker("start", self.name)

    def restart(self) -> None:
        self.started = time.monotonic()
        docker("restart", self.name)

    def kill(self, signal: str = "KILL") -> None:
        docker("kill", "--signal", signal, self.name)

    def stop(self, timeout: int = 10) -> None:
        docker("stop", "--time", str(timeout), self.name, timeout=timeout + 30)

    def remove(self) -> None:
        docker("rm", "--force", "--volumes", self.name, check=False)
