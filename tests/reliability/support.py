"""Requests byte for byte as a browser (or an attacker) sends them, over real HTTP to a real server."""

from __future__ import annotations

import http.client
import json
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = str(Path(__file__).resolve().parents[2])


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def reason(self) -> str:
        return self.headers.get("x-emulator-reason", "")


def send(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes | None = None,
    *,
    timeout: float = 10.0,
) -> Answer:
    """One request with exactly ``headers`` (``Host`` included: nothing is added but ``Content-Length``
    when there is a body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items() if isinstance(headers, dict) else headers or []:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


def cross_origin_simple_post(port: int, path: str, body: bytes, origin: str = "http://attacker.example") -> Answer:
    """What Chrome sends for ``fetch(url, {method: "POST", mode: "no-cors", body: text})`` on a page of
    ``origin``: a "simple" request, sent without asking first, whose answer the page cannot read (it needs
    none: the call itself is the attack)."""
    return send(
        port,
        "POST",
        path,
        [
            ("Host", f"127.0.0.1:{port}"),
            ("Connection", "keep-alive"),
            ("User-Agent", CHROME),
            ("Content-Type", "text/plain;charset=UTF-8"),
            ("Accept", "*/*"),
            ("Origin", origin),
            ("Sec-Fetch-Site", "cross-site"),
            ("Sec-Fetch-Mode", "no-cors"),
            ("Sec-Fetch-Dest", "empty"),
            ("Accept-Language", "en-US,en;q=0.9"),
        ],
        body,
    )


def rebound(
    port: int, method: str, path: str, body: bytes | None = None, name: str = "rebind.attacker.example"
) -> Answer:
    """What Chrome sends for a same-origin ``fetch`` from a page served under ``name``, once the attacker's DNS
    points ``name`` at 127.0.0.1 (DNS rebinding): the page may read the answer, so GETs are the attack too."""
    headers = [("Host", f"{name}:{port}"), ("User-Agent", CHROME), ("Accept", "*/*")]
    if method not in ("GET", "HEAD"):
        headers += [("Content-Type", "application/json"), ("Origin", f"http://{name}:{port}")]
    headers += [("Sec-Fetch-Site", "same-origin"), ("Sec-Fetch-Mode", "cors"), ("Sec-Fetch-Dest", "empty")]
    return send(port, method, path, headers, body)


# -- the command line, as a subprocess ------------------------------------------------------------------


class Cli:
    """``python -m emulator --port 0 ARGS`` in a subprocess, its output collected as it comes; ``open_files``
    sets its RLIMIT_NOFILE (soft, hard) before it starts, as a shell's ``ulimit -n`` would, and ``file_size``
    its soft RLIMIT_FSIZE (``ulimit -f``): a write past that size fails, as on a full disk."""

    def __init__(
        self,
        *args: str,
        open_files: tuple[int, int] | None = None,
        file_size: int | None = None,
        env: dict[str, str] | None = None,
    ):
        def limit_files() -> None:
            if open_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, open_files)
            if file_size is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

        self.process = subprocess.Popen(
            [sys.executable, "-m", "emulator", "--port", "0", "--log-level", "info", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": ROOT, **(env or {})},
            preexec_fn=limit_files,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            found = self.wait_for_line(r"Uvicorn running on http://[^:]+:(\d+)")
        except BaseException:
            self.__exit__()  # a process that never served is not left running
            raise
        self.port = int(found.group(1))

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.lines.append(raw.decode("utf-8", "replace"))

    def wait_for_line(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if found := re.search(pattern, line):
                    return found
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"no line matching {pattern!r} in:\n{self.output}")

    @property
    def output(self) -> str:
        return "".join(self.lines)

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def limit_file_size(self, size: int) -> None:
        """Change the running process's soft RLIMIT_FSIZE (``resource.RLIM_INFINITY``: no limit): the disk
        fills, or space is freed."""
        hard = resource.prlimit(self.pid, resource.RLIMIT_FSIZE)[1]
        resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (size, hard))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout)
        self._reader.join(timeout)
        return code

    def __enter__(self) -> Cli:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self._reader.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
