"""The emulator's Docker image as a Testcontainers for Python container, as LocalStack has one.

    from emulator.testcontainers import JiraEmulatorContainer

    with JiraEmulatorContainer() as jira:            # starts the image, waits for /_emulator/ready
        with jira.signed_client() as http:            # signs every request with a Connect JWT
            http.post("/rest/deployments/0.1/bulk", json={"deployments": [...]})
        jira.emulator_client().flush()                # the control surface: reset, flush, state, ...

Needs ``testcontainers`` 4.13 or later (``pip install 'jira-deployments-emulator[testcontainers]'``)
and a Docker engine. Nothing else in the package imports this module, so the package never needs
Testcontainers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Self

import httpx

from emulator.client import (
    DEFAULT_APP,
    DEFAULT_OAUTH_CLIENT,
    DEFAULT_OAUTH_SECRET,
    DEFAULT_SHARED_SECRET,
    ConnectAuth,
    EmulatorClient,
)

try:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import HttpWaitStrategy
except ImportError as exc:  # the package itself never needs it: say how to get it
    raise ImportError(
        "emulator.testcontainers needs testcontainers 4.13 or later: "
        "pip install 'jira-deployments-emulator[testcontainers]'"
    ) from exc

IMAGE = "jira-deployments-emulator"  # the tag of `docker build -t jira-deployments-emulator .`
PORT = 8080  # the image's EXPOSEd port
READY_PATH = "/_emulator/ready"  # 503 while starting, 200 once the fixtures are loaded
FIXTURES = PurePosixPath("/fixtures")  # where the image expects mounted fixtures


@dataclass(frozen=True)
class Credentials:
    """What a client of the served site signs with: a Connect app and an OAuth 2.0 client.

    The defaults are the built-in default site's (README, Quick start); pass your own with your fixtures.
    """

    app_key: str = DEFAULT_APP
    shared_secret: str = DEFAULT_SHARED_SECRET
    oauth_client_id: str = DEFAULT_OAUTH_CLIENT
    oauth_client_secret: str = DEFAULT_OAUTH_SECRET


class JiraEmulatorContainer(DockerContainer):
    """The emulator's image, started on a random host port and ready once ``/_emulator/ready`` says 200.

    ``fixtures`` (a JSON file or a folder of them) is mounted read-only under ``/fixtures`` and served
    instead of the default site. ``apply_delay`` is ``EMULATOR_APPLY_DELAY`` (0: a write is visible to
    the next read; None keeps the image's 0.5 s). Other settings: ``.with_env("EMULATOR_...", value)``.
    """

    def __init__(
        self,
        image: str = IMAGE,
        *,
        fixtures: str | os.PathLike[str] | None = None,
        apply_delay: float | None = 0,
        credentials: Credentials | None = None,
        startup_timeout: int = 30,
        **kwargs: Any,
    ) -> None:
        super().__init__(image, **kwargs)
        self.credentials = credentials or Credentials()
        self.with_exposed_ports(PORT)
        if apply_delay is not None:
            self.with_env("EMULATOR_APPLY_DELAY", f"{apply_delay:g}")
        if fixtures is not None:
            self.with_fixtures(fixtures)
        self.waiting_for(HttpWaitStrategy(PORT, READY_PATH).with_startup_timeout(startup_timeout))

    def with_fixtures(self, path: str | os.PathLike[str]) -> Self:
        """Serve a fixture file, or a folder of ``*.json`` read in name order, mounted read-only.

        The image's user (UID 10001) must be able to read it: ``chmod -R a+rX`` the folder.
        """
        source = Path(path).resolve()
        if not source.exists():
            raise FileNotFoundError(f"no fixtures at {source}")
        target = FIXTURES if source.is_dir() else FIXTURES / source.name
        self.with_volume_mapping(str(source), str(target), "ro")
        self.with_env("EMULATOR_FIXTURES", str(target))
        return self

    def get_url(self) -> str:
        """The emulator's base URL as this process reaches it, e.g. ``http://localhost:32768``."""
        return f"http://{self.get_container_host_ip()}:{self.get_exposed_port(PORT)}"

    def emulator_client(self) -> EmulatorClient:
        """An ``EmulatorClient`` of the control surface (reset, flush, state, journal, tokens)."""
        return EmulatorClient(self.get_url())

    def signed_client(self, *, oauth: bool = False, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` on the emulator that signs every request; close it (or use ``with``).

        Connect JWTs of ``credentials.app_key`` for the site paths (``/rest/deployments/0.1/...``); with
        ``oauth=True``, a Bearer access token of ``credentials.oauth_client_id`` for the gateway paths
        (``/jira/deployments/0.1/cloud/{cloudId}/...``). ``kwargs`` go to ``httpx.Client``.
        """
        creds = self.credentials
        with self.emulator_client() as emulator:
            if oauth:
                auth: httpx.Auth | str = emulator.oauth_token(creds.oauth_client_id, creds.oauth_client_secret)
            else:
                auth = ConnectAuth(creds.app_key, creds.shared_secret)
            return emulator.jira(auth, **kwargs)
