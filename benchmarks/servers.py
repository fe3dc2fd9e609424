"""Starting the emulator (its real CLI) and the baseline as subprocesses, pinned to a core when asked."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.client import first_ok

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
READY_PATH = "/_emulator/ready"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class Pinning:
    """Which CPU the servers and which the load generator run on (None: not pinned)."""

    server: str | None = None
    client: str | None = None

    @classmethod
    def choose(cls, enabled: bool) -> Pinning:
        cpus = sorted(os.sched_getaffinity(0))
        if not enabled or len(cpus) < 2 or shutil.which("taskset") is None:
            return cls()
        return cls(server=str(cpus[0]), client=str(cpus[1]))

    def server_prefix(self) -> list[str]:
        return ["taskset", "-c", self.server] if self.server is not None else []

    def client_prefix(self) -> list[str]:
        return ["taskset", "-c", self.client] if self.client is not None else []

    def describe(self) -> str:
        if self.server is None:
            return "not pinned"
        return f"servers on CPU {self.server}, load generator on CPU {self.client} (taskset)"


def child_env(root: Path = ROOT) -> dict[str, str]:
    """The environment of a server run from the checkout at ``root`` (its code first on the path)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    env.pop("PYTHONDEVMODE", None)
    env.pop("PYTHONTRACEMALLOC", None)
    # Python caches compiled modules in __pycache__ unless told not to; an installed wheel and the Docker
    # image ship them. With the cache off every start recompiles all the emulator's modules (about 25 ms
    # here) while the baseline compiles two small files: that would measure the compiler, not start-up.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # the emulator reads EMULATOR_* variables: only the flags given here may count
    for name in [n for n in env if n.startswith("EMULATOR_")]:
        del env[name]
    return env


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ready_at: float = 0.0
    ready_cpu: float = 0.0  # CPU seconds the process had used when it first answered
    log: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)
    root: Path = ROOT  # the checkout whose code the server runs

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, log_dir: Path, timeout: float = 60.0) -> Server:
        self.log = log_dir / f"{self.name}-{self.port}.log"
        handle = self.log.open("wb")
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.root,
            env=child_env(self.root),
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        handle.close()
        try:
            self.ready_at = first_ok(HOST, self.port, READY_PATH, self.started_at + timeout)
            self.ready_cpu = self.cpu_seconds()
        except TimeoutError:
            self.stop()
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} did not become ready; its output:\n{tail}") from None
        return self

    @property
    def startup_seconds(self) -> float:
        return self.ready_at - self.started_at

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def run_on(self, cpus: set[int] | None) -> None:
        """Move every thread of the running server onto ``cpus`` (None: any CPU of the machine)."""
        allowed = cpus if cpus is not None else set(range(os.cpu_count() or 1))
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                os.sched_setaffinity(int(task.name), allowed)
            except (ProcessLookupError, PermissionError):  # a thread that ended meanwhile
                pass

    def cpu_seconds(self) -> float:
        """CPU time the server process (all its threads) has run so far: schedstat (ns), else stat (ticks)."""
        try:
            total = 0
            for task in Path(f"/proc/{self.pid}/task").iterdir():
                total += int((task / "schedstat").read_text().split()[0])
            return total / 1e9
        except (OSError, ValueError, IndexError):
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def loaded_libraries(self) -> dict[str, bool]:
        """Which fast event loop / HTTP parser the running server actually loaded (from /proc/PID/maps)."""
        try:
            maps = Path(f"/proc/{self.pid}/maps").read_text()
        except OSError:
            return {}
        return {
            "uvloop": "uvloop/loop." in maps,
            "httptools": "httptools/parser/parser." in maps,
        }

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def emulator(
    pin: Pinning, *, apply_delay: float | None = None, name: str = "emulator", log_level: str | None = "warning"
) -> Server:
    """The emulator through its CLI; ``log_level=None`` leaves the level at its default (info: the call log)."""
    port = free_port()
    argv = [*pin.server_prefix(), sys.executable, "-m", "emulator", "--host", HOST, "--port", str(port)]
    if log_level is not None:
        argv += ["--log-level", log_level]
    if apply_delay is not None:
        argv += ["--apply-delay", str(apply_delay)]
    return Server(name, argv, port)


def baseline(pin: Pinning, *, raw: bool = False, access_log: bool = False, name: str = "baseline") -> Server:
    port = free_port()
    argv = [
        *pin.server_prefix(),
        sys.executable,
        "-m",
        "benchmarks.baseline_app",
        "--host",
        HOST,
        "--port",
        str(port),
    ]
    if raw:
        argv.append("--raw")
    if access_log:
        argv.append("--access-log")
    return Server(name, argv, port)
