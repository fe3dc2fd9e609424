"""Load phases: wrk (Debian's package) when installed, else the Python generator in ``loadgen.py``.

Either way the load comes from a separate process, pinned to its own CPU when pinning is on, and every
run reports requests per second and the number of answers that were not 2xx (a run with any is invalid).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.servers import HOST, ROOT, Pinning, child_env

LUA_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"errors":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def lua_string(text: str) -> str:
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


@dataclass
class Request:
    """What one load phase sends: a fixed request, or a body template with a growing updateSequenceNumber."""

    method: str
    path: str
    headers: dict[str, str]
    body_parts: list[str] | None = None  # join with the live updateSequenceNumber between parts
    usn_start: int = 1
    authorizations: list[str] | None = None  # one Authorization value per request, in turn (new tokens)


@dataclass
class Result:
    requests: int
    seconds: float
    errors: int
    p50_us: float
    p99_us: float
    tool: str
    server_cpu: float = 0.0  # the server's CPU seconds / wall seconds during the run: < 0.9 means starved

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_version() -> str | None:
    path = shutil.which("wrk")
    if path is None:
        return None
    out = subprocess.run([path, "-v"], capture_output=True, text=True).stdout
    match = re.search(r"wrk (\S+)", out)
    return match.group(1) if match else "unknown"


class LoadRunner:
    def __init__(self, pin: Pinning, *, use_wrk: bool = True, connections: int = 8) -> None:
        self.pin = pin
        self.wrk = shutil.which("wrk") if use_wrk else None
        self.connections = connections
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))

    @property
    def tool(self) -> str:
        return "wrk" if self.wrk else "python"

    def run(
        self, port: int, request: Request, duration: float, connections: int | None = None, *, pinned: bool = True
    ) -> Result:
        """One load phase; ``pinned=False`` lets the load generator run on any CPU, whatever the pinning."""
        conns = connections or self.connections
        prefix = self.pin.client_prefix() if pinned else []
        if self.wrk:
            return self._run_wrk(port, request, duration, conns, prefix)
        return self._run_python(port, request, duration, conns, prefix)

    def _token_file(self, port: int, request: Request) -> Path | None:
        if request.authorizations is None:
            return None
        path = self.tmp / f"tokens-{port}.txt"
        path.write_text("\n".join(request.authorizations) + "\n")
        return path

    def _run_wrk(self, port: int, request: Request, duration: float, connections: int, prefix: list[str]) -> Result:
        lines = [f"wrk.method = {lua_string(request.method)}"]
        for name, value in request.headers.items():
            lines.append(f"wrk.headers[ {lua_string(name)} ] = {lua_string(value)}")
        tokens = self._token_file(port, request)
        if tokens is not None:
            lines += [
                "local tokens = {}",
                f"for line in io.lines({lua_string(str(tokens))}) do tokens[#tokens + 1] = line end",
                "local turn = 0",
                "request = function()",
                "  turn = turn % #tokens + 1",
                '  wrk.headers["Authorization"] = tokens[turn]',
                "  return wrk.format()",
                "end",
            ]
        if request.body_parts is not None:
            parts = ", ".join(lua_string(p) for p in request.body_parts)
            lines += [
                f"local parts = {{{parts}}}",
                f"local usn = {int(request.usn_start)}",
                "local n = #parts",
                "local t = {}",
                "request = function()",
                "  usn = usn + 1",
                "  local s = string.format('%d', usn)",
                "  for i = 1, n - 1 do t[2 * i - 1] = parts[i]; t[2 * i] = s end",
                "  t[2 * n - 1] = parts[n]",
                "  return wrk.format(nil, nil, nil, table.concat(t, '', 1, 2 * n - 1))",
                "end",
            ]
        script = self.tmp / f"load-{port}.lua"
        script.write_text("\n".join(lines) + "\n" + LUA_DONE)
        seconds = max(1, round(duration))
        argv = [
            *prefix,
            self.wrk or "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://{HOST}:{port}{request.path}",
        ]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        if done.returncode != 0:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}\n{done.stdout}")
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        return Result(
            requests=summary["requests"],
            seconds=summary["duration_us"] / 1e6,
            errors=summary["errors"] + summary["socket_errors"],
            p50_us=summary["p50_us"],
            p99_us=summary["p99_us"],
            tool="wrk",
        )

    def _run_python(self, port: int, request: Request, duration: float, connections: int, prefix: list[str]) -> Result:
        spec: dict[str, Any] = {
            "host": HOST,
            "port": port,
            "method": request.method,
            "path": request.path,
            "headers": request.headers,
            "connections": connections,
            "duration": duration,
        }
        if request.body_parts is not None:
            spec |= {"body_parts": request.body_parts, "usn_start": request.usn_start}
        tokens = self._token_file(port, request)
        if tokens is not None:
            spec["token_file"] = str(tokens)
        argv = [*prefix, sys.executable, "-m", "benchmarks.loadgen", json.dumps(spec)]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=child_env(), timeout=duration + 60)
        if done.returncode != 0:
            raise RuntimeError(f"the Python load generator failed: {done.stderr.strip()[-2000:]}")
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        return Result(
            requests=summary["requests"],
            seconds=summary["seconds"],
            errors=summary["errors"],
            p50_us=summary["p50_us"],
            p99_us=summary["p99_us"],
            tool="python",
        )
