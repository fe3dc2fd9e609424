"""Signing requests as a real client would (tokens come from PyPI's atlassian-jwt, not from our code), and
a real server on fixtures of a test's own."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import atlassian_jwt

DATA = Path(__file__).parent / "data"
SITES = str(DATA / "sites.json")
SECRETS = {
    "full-app": "full-secret-0123456789abcdef0123456789",
    "reader": "reader-secret-0123456789abcdef0123456789",
    "admin-app": "admin-secret-0123456789abcdef0123456789",
    "no-module": "nomod-secret-0123456789abcdef0123456789",
}
BASE = "/rest/deployments/0.1"
# Jira's documented texts (api.md section 4), as a client sees them
FORBIDDEN = (
    "The JWT token used does not correspond to an app that defines the `jiraDeploymentInfoProvider` "
    "module, or the app does not define the '{scope}' scope."
)
NOT_FOUND = "No data found for the given deployment ID."
TOO_LARGE = "Data is too large. Submit fewer deployments in each payload."


def token(method: str, url: str, app: str = "full-app", secret: str | None = None, **claims: Any) -> str:
    """A Connect JWT for ``method url`` (url relative to the site, with its query)."""
    return atlassian_jwt.encode_token(method, url, app, secret or SECRETS[app], payload_kwargs={"iss": app, **claims})


def auth(method: str, url: str, app: str = "full-app", **kwargs: Any) -> dict[str, str]:
    path = urlsplit(url)
    relative = path.path + (f"?{path.query}" if path.query else "")
    return {"Authorization": f"JWT {token(method, relative, app, **kwargs)}"}


def key_path(pipeline: str, environment: str, number: int | str) -> str:
    return f"{BASE}/pipelines/{pipeline}/environments/{environment}/deployments/{number}"


def body(*deployments: dict[str, Any], **top: Any) -> bytes:
    return json.dumps({"deployments": list(deployments), **top}).encode()


MAIN_CLOUD = "11111111-1111-1111-1111-111111111111"
CTX_CLOUD = "22222222-2222-2222-2222-222222222222"
CLIENT_SECRETS = {
    "ci-bot": "ci-bot-secret-0123456789abcdef0123456789",
    "no-perm": "no-perm-secret-0123456789abcdef0123456789",
    "ctx-bot": "ctx-bot-secret-0123456789abcdef0123456789",
}


def gateway(cloud_id: str, rest: str) -> str:
    return f"/jira/deployments/0.1/cloud/{cloud_id}{rest}"


@contextmanager
def server_on(fixtures: dict[str, Any], folder: Path, apply_delay: float, **settings: Any) -> Iterator[Any]:
    """A ThreadedServer on a free port, on ``fixtures`` (written to ``folder``) and a manual clock at now;
    ``settings`` are more Settings."""
    from emulator.config import Settings
    from emulator.domain.clock import ManualClock
    from emulator.server import ThreadedServer

    path = folder / "sites.json"
    path.write_text(json.dumps(fixtures))
    clock = ManualClock(start=float(int(time.time())))
    chosen = Settings(port=0, fixtures=str(path), apply_delay=apply_delay, **settings)
    with ThreadedServer(chosen, clock=clock) as running:
        yield running


# what the control surface requires of every call that changes something (emulator/control/guard.py)
JSON_TYPE = {"Content-Type": "application/json"}
