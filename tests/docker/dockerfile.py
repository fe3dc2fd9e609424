"""Just enough of Docker's own rules to check our Dockerfile, .dockerignore and recipes without an engine.

- ``parse``: instructions by stage (line continuations, comments, exec and shell forms, ENV substitution).
- ``DockerIgnore``: the build context as Docker sends it (moby/patternmatcher semantics: patterns match a
  path or any of its parent folders, the last matching pattern wins, ``!`` re-includes).
- ``go_duration``: Docker's duration syntax (``5s``, ``0.1s``, ``100ms``, ``1m30s``).

Not supported, and refused rather than misread: heredocs, a custom ``# escape=`` directive.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"

# the environment python:3.11-slim itself sets (docker image inspect), which our ENV lines may build on
BASE_ENV = {"PATH": "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    text: str  # everything after the keyword, continuation lines joined
    line: int

    def flags_and_rest(self) -> tuple[dict[str, str], str]:
        """Leading ``--name=value`` flags (COPY, HEALTHCHECK, RUN ...) and what follows them."""
        flags: dict[str, str] = {}
        rest = self.text
        while True:
            m = re.match(r"\s*--([a-z-]+)(?:=(\S*))?\s+", rest)
            if m is None:
                return flags, rest.strip()
            flags[m.group(1)] = m.group(2) or ""
            rest = rest[m.end() :]

    def command(self, text: str | None = None) -> tuple[list[str], bool]:
        """The argv of an exec-form (JSON) command, or ``/bin/sh -c`` for the shell form; and whether exec."""
        text = self.text if text is None else text
        text = text.strip()
        if text.startswith("["):
            try:
                argv = json.loads(text)
            except json.JSONDecodeError:
                pass
            else:
                if isinstance(argv, list) and all(isinstance(a, str) for a in argv):
                    return argv, True
        return ["/bin/sh", "-c", text], False


@dataclass
class Stage:
    base: str
    name: str | None
    index: int
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment after every ENV of this stage, substituted as Docker does."""
        env = dict(BASE_ENV if base is None else base)
        for ins in self.all("ENV"):
            before = dict(env)  # every pair of one ENV instruction sees the values from before it
            for key, value in env_pairs(ins.text):
                env[key] = substitute(value, before)
        return env

    def workdir(self) -> str:
        wd = "/"
        for ins in self.all("WORKDIR"):
            wd = str(PurePosixPath(wd) / ins.text.strip())
        return wd

    def user(self) -> str | None:
        ins = self.last("USER")
        return ins.text.strip() if ins else None

    def runs_after_user(self) -> list[Instruction]:
        """RUN instructions executed as the stage's final USER (the build-time smoke test)."""
        seen_user = False
        out: list[Instruction] = []
        for ins in self.instructions:
            if ins.keyword == "USER":
                seen_user, out = True, []
            elif ins.keyword == "RUN" and seen_user:
                out.append(ins)
        return out


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, instruction text) with comments dropped and ``\\`` continuations joined."""
    lines = text.splitlines()
    directives = True
    i = 0
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        if directives and re.match(r"#\s*escape\s*=", stripped):
            raise ValueError("a custom escape directive is not supported by this parser")
        if not stripped.startswith("#") or not re.match(r"#\s*\w+\s*=", stripped):
            directives = False
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start, parts = i + 1, []
        while True:
            line = lines[i].rstrip()
            if line.endswith("\\"):
                parts.append(line[:-1])
                i += 1
                # comment lines and empty lines inside a continuation are skipped, as Docker does
                while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
                    i += 1
                if i >= len(lines):
                    break
            else:
                parts.append(line)
                i += 1
                break
        joined = " ".join(p.strip() for p in parts)
        if re.search(r"<<-?\s*['\"]?[A-Za-z_]+", joined) and joined.split(None, 1)[0].upper() in (
            "RUN",
            "COPY",
        ):
            raise ValueError(f"line {start}: heredocs are not supported by this parser")
        yield start, joined


def parse(text: str) -> list[Stage]:
    stages: list[Stage] = []
    for line, joined in logical_lines(text):
        keyword, _, rest = joined.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "FROM":
            m = re.match(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$", rest, re.IGNORECASE)
            if m is None:
                raise ValueError(f"line {line}: cannot read FROM {rest!r}")
            stages.append(Stage(base=m.group(1), name=m.group(2), index=len(stages)))
            continue
        if not stages:
            if keyword == "ARG":
                continue
            raise ValueError(f"line {line}: {keyword} before the first FROM")
        stages[-1].instructions.append(Instruction(keyword, rest, line))
    return stages


def load(path: Path = DOCKERFILE) -> list[Stage]:
    return parse(path.read_text(encoding="utf-8"))


def stage_named(stages: list[Stage], name: str) -> Stage:
    for s in stages:
        if s.name == name or str(s.index) == name:
            return s
    raise KeyError(f"no stage named {name!r}")


def env_pairs(text: str) -> list[tuple[str, str]]:
    words = shlex.split(text, posix=True)
    if words and "=" not in words[0]:  # legacy form: ENV KEY the rest is the value
        return [(words[0], text.split(None, 1)[1] if len(words) > 1 else "")]
    pairs = []
    for w in words:
        key, sep, value = w.partition("=")
        if not sep:
            raise ValueError(f"ENV word {w!r} has no '='")
        pairs.append((key, value))
    return pairs


def substitute(value: str, env: Mapping[str, str]) -> str:
    """``$VAR``, ``${VAR}``, ``${VAR:-default}`` and ``${VAR:+alt}``, as in Dockerfile ENV/WORKDIR/...."""

    def repl(m: re.Match[str]) -> str:
        name = m.group("braced") or m.group("plain")
        current = env.get(name, "")
        op, word = m.group("op"), m.group("word") or ""
        if op == ":-":
            return current or word
        if op == ":+":
            return word if current else ""
        return current

    pattern = r"\$(?:\{(?P<braced>\w+)(?:(?P<op>:[-+])(?P<word>[^}]*))?\}|(?P<plain>\w+))"
    return re.sub(pattern, repl, value)


def healthcheck(stage: Stage) -> tuple[dict[str, float | int], list[str], bool]:
    """The HEALTHCHECK's timing (seconds; retries as int) and argv (CMD-SHELL becomes ``/bin/sh -c``)."""
    ins = stage.last("HEALTHCHECK")
    if ins is None:
        raise ValueError("no HEALTHCHECK")
    flags, rest = ins.flags_and_rest()
    keyword, _, cmd = rest.partition(" ")
    if keyword.upper() != "CMD":
        raise ValueError(f"HEALTHCHECK {keyword}: expected CMD")
    # Docker's defaults for what the instruction leaves out
    timing: dict[str, float | int] = {
        "interval": 30.0,
        "timeout": 30.0,
        "start-period": 0.0,
        "start-interval": 5.0,
        "retries": 3,
    }
    for key, value in flags.items():
        if key not in timing:
            raise ValueError(f"unknown HEALTHCHECK flag --{key}")
        timing[key] = int(value) if key == "retries" else go_duration(value)
    argv, exec_form = ins.command(cmd)
    return timing, argv, exec_form


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(text: str) -> float:
    """Seconds in a Go duration (what Docker and Compose accept): ``1m30s``, ``0.1s``, ``100ms``."""
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Go duration: {text!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def created_paths(stage: Stage) -> set[str]:
    """Absolute paths a stage creates: WORKDIR, COPY/ADD destinations, ``mkdir`` arguments, VOLUME."""
    paths: set[str] = set()
    wd = "/"
    for ins in stage.instructions:
        if ins.keyword == "WORKDIR":
            wd = str(PurePosixPath(wd) / ins.text.strip())
            paths.add(wd)
        elif ins.keyword in ("COPY", "ADD"):
            _, rest = ins.flags_and_rest()
            argv, exec_form = ins.command(rest)
            words = argv if exec_form else shlex.split(rest)
            paths.add(str(PurePosixPath(wd) / words[-1]))
        elif ins.keyword == "VOLUME":
            argv, exec_form = ins.command()
            paths.update(argv if exec_form else ins.text.split())
        elif ins.keyword == "RUN":
            for m in re.finditer(r"\bmkdir\s+((?:-\S+\s+)*)((?:[^\s&|;]+\s*)+)", ins.text):
                paths.update(p for p in m.group(2).split() if p.startswith("/"))
    return paths


class DockerIgnore:
    """The patterns of a .dockerignore file, matched the way moby/patternmatcher matches them."""

    def __init__(self, text: str) -> None:
        self.patterns: list[tuple[bool, str, re.Pattern[str]]] = []  # (exception?, pattern, regex)
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exception = line.startswith("!")
            pattern = line[1:].strip() if exception else line
            pattern = os.path.normpath(pattern).replace(os.sep, "/").lstrip("/")
            self.patterns.append((exception, pattern, re.compile(self._regex(pattern))))

    @staticmethod
    def _regex(pattern: str) -> str:
        out, i = "^", 0
        while i < len(pattern):
            c = pattern[i]
            if pattern.startswith("**/", i):
                out, i = out + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                out, i = out + ".*", i + 2
            elif c == "*":
                out, i = out + "[^/]*", i + 1
            elif c == "?":
                out, i = out + "[^/]", i + 1
            elif c == "[":
                end = pattern.find("]", i + 1)
                if end < 0:
                    raise ValueError(f"unclosed [ in .dockerignore pattern {pattern!r}")
                body = pattern[i + 1 : end]
                out += "[" + ("^" + body[1:] if body.startswith("^") else re.escape(body)) + "]"
                i = end + 1
            else:
                out, i = out + re.escape(c), i + 1
        return out + "$"

    def excluded(self, path: str) -> bool:
        """Whether a context-relative path (``a/b/c``) is left out of the build context."""
        parents = path.split("/")[:-1]
        matched = False
        for exception, _, regex in self.patterns:
            hit = bool(regex.match(path))
            if not hit:
                hit = any(regex.match("/".join(parents[: i + 1])) for i in range(len(parents)))
            if hit:
                matched = not exception
        return matched

    def _may_reinclude_under(self, folder: str) -> bool:
        """Whether some ``!`` pattern could match something below an excluded folder."""
        segments = folder.split("/")
        for exception, pattern, _ in self.patterns:
            if not exception:
                continue
            pat = pattern.split("/")
            for i, seg in enumerate(segments):
                if i >= len(pat):
                    break  # the pattern names a parent of this folder
                if pat[i] == "**":
                    return True
                if not re.match(self._regex(pat[i]), seg):
                    break
            else:
                return True
        return False

    def context_files(self, root: Path = ROOT) -> list[str]:
        """Every file Docker would send as the build context of ``root``, as sorted relative paths."""
        out: list[str] = []
        for folder, dirs, files in os.walk(root):
            rel = Path(folder).relative_to(root).as_posix()
            prefix = "" if rel == "." else rel + "/"
            keep = []
            for d in sorted(dirs):
                sub = prefix + d
                if not self.excluded(sub) or self._may_reinclude_under(sub):
                    keep.append(d)
            dirs[:] = keep
            out.extend(prefix + f for f in files if not self.excluded(prefix + f))
        return sorted(out)
