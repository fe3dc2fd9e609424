"""Settings: one frozen object, built from defaults, then ``EMULATOR_*`` env vars, then CLI flags."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

ENV_PREFIX = "EMULATOR_"


@dataclass(frozen=True, slots=True)
class Settings:
    """Every runtime option (each is a flag and an ``EMULATOR_*`` variable; see ``HELP``)."""

    host: str = "127.0.0.1"
    port: int = 8080
    fixtures: str | None = None  # file or folder; None: the built-in default site
    apply_delay: float = 0.5
    max_body_bytes: int = 1024 * 1024
    log_level: str = "info"
    oauth_token_ttl: int = 3600
    journal_size: int = 1000
    log_format: str = "text"
    seed: int | None = None
    strict: bool = False
    max_pending: int = 250_000
    jitter: float = 0.0
    out_of_order: bool = False
    rate_limit: str | None = None  # "RATE/BURST" for every site, e.g. "10/20"
    faults: str | None = None  # a JSON file: a list of fault rules, as POST /_emulator/faults takes them
    data_dir: str | None = None
    recover_data: bool = False  # start on a damaged data folder, keeping what is intact
    allowed_hosts: str | None = None  # comma-separated names the control surface answers to, beyond the built-in ones
    control_token: str | None = None  # when set, every control call but the probes and the dashboard's files needs it
    header_timeout: float = 10.0  # seconds a request's line and headers may take to arrive
    max_header_bytes: int = 64 * 1024  # the request line and headers together
    max_connections: int = 1024  # open connections; past it, the oldest idle one is closed, or the new one gets 503

    def __post_init__(self) -> None:
        checks = (
            (self.apply_delay >= 0, "apply delay must be >= 0 seconds"),
            (0 <= self.port <= 65535, "port must be between 0 and 65535"),
            (self.jitter >= 0, "jitter must be >= 0 seconds"),
            (_is_rate_limit(self.rate_limit), f"rate limit must be RATE/BURST, e.g. 10/20, got {self.rate_limit!r}"),
            (self.max_pending >= 1, "max pending must be >= 1"),
            (self.journal_size >= 1, "journal size must be >= 1"),
            (self.log_format in ("text", "json"), "log format must be text or json"),
            (self.oauth_token_ttl >= 1, "OAuth token lifetime must be >= 1 second"),
            (self.max_body_bytes >= 1, "max body bytes must be >= 1"),
            (self.header_timeout > 0, "header timeout must be > 0 seconds"),
            (self.max_header_bytes >= 1024, "max header bytes must be >= 1024"),
            (self.max_connections >= 1, "max connections must be >= 1"),
            (self.control_token is None or bool(self.control_token.strip()), "control token must not be blank"),
        )
        for holds, message in checks:
            if not holds:
                raise ValueError(message)


def _is_rate_limit(text: str | None) -> bool:
    """None (no limit), or ``RATE/BURST``: a positive rate and a whole burst of at least 1."""
    if text is None:
        return True
    rate, _, burst = text.partition("/")
    try:
        return float(rate) > 0 and int(burst) >= 1
    except ValueError:
        return False


HELP = {
    "host": "address to bind",
    "port": "port to bind (0: any free port)",
    "fixtures": "fixture file or folder of *.json files (default: the built-in default site)",
    "apply_delay": "seconds before an accepted write or delete becomes visible (0 allowed)",
    "max_body_bytes": "largest request body accepted; larger ones get 413",
    "log_level": "log level: debug, info, warning, error",
    "oauth_token_ttl": "lifetime in seconds of the OAuth access tokens /oauth/token issues",
    "journal_size": "how many calls the request journal keeps (oldest dropped first)",
    "log_format": "one line per call: text (human-readable) or json",
    "seed": "seed for jitter and fault probabilities, for repeatable runs (default: random)",
    "data_dir": "folder for durable state (a log of every change, and a snapshot); default: none, all in memory",
    "recover_data": "start on a damaged data folder: keep what is intact, report each thing dropped, and set the "
    "damaged files aside (without it, damage stops the start with one line naming the file and line)",
    "jitter": "up to this many seconds more of apply delay, drawn per operation (see --seed)",
    "out_of_order": "deliver pending writes of one deployment or build newest first (exercises updateSequenceNumber "
    "handling)",
    "rate_limit": "a token-bucket rate limit for every site, as RATE/BURST (calls per second / burst), e.g. 10/20",
    "faults": "a JSON file with a list of fault rules to start with (the bodies POST /_emulator/faults takes)",
    "max_pending": "most operations the apply queue holds; past that, writes get 503 with Retry-After",
    "strict": "answer contract findings of the mistake class with a 400 naming the rule",
    "allowed_hosts": "more Host names the control surface answers to, comma-separated (.example.com: a domain and "
    "its subdomains; *: any); loopback, IP addresses, names without a dot and the sites' hosts always are",
    "control_token": "a secret every control call must send (X-Emulator-Control-Token or Authorization: Bearer), "
    "except the probes and the dashboard's files; prefer the variable to the flag, which ps shows",
    "header_timeout": "seconds a request's line and headers may take to arrive; then 408 and the connection closes",
    "max_header_bytes": "largest request line and headers together; larger gets 431 and the connection closes",
    "max_connections": "most open connections (lowered to fit the open-file limit); past it the oldest idle "
    "connection is closed, or the new one gets 503",
}


def _convert(name: str, text: str) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    if kind == "bool":
        lowered = text.strip().lower()
        if lowered not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise ValueError(text)
        return lowered in ("1", "true", "yes", "on")
    if kind in ("int", "int | None"):
        return int(text)
    if kind == "float":
        return float(text)
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for f in fields(Settings):
        flag = "--" + f.name.replace("_", "-")
        env = ENV_PREFIX + f.name.upper()
        text = f"{HELP[f.name]} [env {env}; default {f.default}]"
        if f.type == "bool":
            parser.add_argument(flag, dest=f.name, default=None, action="store_const", const="true", help=text)
        else:
            parser.add_argument(flag, dest=f.name, default=None, help=text)


def load(args: argparse.Namespace | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults, overridden by ``EMULATOR_*`` variables, overridden by flags given on the command line."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        text = environ.get(ENV_PREFIX + f.name.upper())
        flag = getattr(args, f.name, None) if args is not None else None
        chosen = flag if flag is not None else text
        if chosen is not None and chosen != "":
            try:
                values[f.name] = _convert(f.name, chosen)
            except ValueError as exc:
                raise ValueError(f"{f.name}: {chosen!r} is not a valid {f.type}") from exc
    return Settings(**values)


def parse(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(prog="jira-deployments-emulator")
    add_arguments(parser)
    return load(parser.parse_args(argv), environ)
