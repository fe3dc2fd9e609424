"""pytest plugin: one emulator per test session, reset before every test.

Fixtures:

- ``jira_emulator_server`` (session): an ``EmulatorClient`` of an emulator started once per session on a
  free loopback port (``.server`` is that ``ThreadedServer``), or of the running emulator named by
  ``EMULATOR_URL`` / ``--jira-emulator-url`` (e.g. a Docker sidecar; ``.server`` is None then). A
  sidecar started with a control token is driven with the one in ``EMULATOR_CONTROL_TOKEN``.
- ``jira_emulator`` (function): the same client, after resetting every site and clearing the journal.

Options (command line first, then the ini file): ``--jira-emulator-fixtures`` / ``jira_emulator_fixtures``
(default: the built-in default site) and ``--jira-emulator-apply-delay`` / ``jira_emulator_apply_delay``
(default 0, so an accepted write is visible at once and tests are deterministic). Both apply only to the
in-process emulator. Registered through the ``pytest11`` entry point; this module imports nothing heavy
until a fixture is used, because pytest loads it in every session of a project that installs the package.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from emulator.client import EmulatorClient

URL_ENV = "EMULATOR_URL"
DEFAULT_APPLY_DELAY = 0.0
READY_TIMEOUT = 30.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("jira-emulator", "Jira Deployments emulator")
    group.addoption(
        "--jira-emulator-fixtures",
        dest="jira_emulator_fixtures",
        default=None,
        metavar="PATH",
        help="fixture file or folder for the in-process emulator [default: the built-in default site]",
    )
    group.addoption(
        "--jira-emulator-apply-delay",
        dest="jira_emulator_apply_delay",
        default=None,
        type=float,
        metavar="SECONDS",
        help=f"seconds before an accepted write becomes visible [default {DEFAULT_APPLY_DELAY:g}]",
    )
    group.addoption(
        "--jira-emulator-url",
        dest="jira_emulator_url",
        default=None,
        metavar="URL",
        help=f"use the emulator running at URL instead of starting one [env {URL_ENV}]",
    )
    parser.addini(
        "jira_emulator_fixtures",
        "fixture file or folder for the in-process emulator, relative to the ini file",
        default="",
    )
    parser.addini(
        "jira_emulator_apply_delay",
        f"seconds before an accepted write becomes visible [default {DEFAULT_APPLY_DELAY:g}]",
        default="",
    )


def _fixtures(config: pytest.Config) -> str | None:
    given: str | None = config.getoption("jira_emulator_fixtures")
    if given:
        return str(Path(given).resolve())
    configured = str(config.getini("jira_emulator_fixtures") or "")
    if not configured:
        return None
    base = config.inipath.parent if config.inipath is not None else config.rootpath
    return str((base / configured).resolve())


def _apply_delay(config: pytest.Config) -> float:
    given: float | None = config.getoption("jira_emulator_apply_delay")
    configured = str(config.getini("jira_emulator_apply_delay") or "").strip()
    if given is None and configured:
        try:
            given = float(configured)
        except ValueError:
            raise pytest.UsageError(f"jira_emulator_apply_delay: {configured!r} is not a number of seconds") from None
    delay = DEFAULT_APPLY_DELAY if given is None else given
    if not delay >= 0:
        raise pytest.UsageError(f"the Jira emulator's apply delay must be >= 0 seconds, got {delay:g}")
    return delay


def _url(config: pytest.Config) -> str | None:
    given: str | None = config.getoption("jira_emulator_url")
    return given or os.environ.get(URL_ENV) or None


def pytest_configure(config: pytest.Config) -> None:
    _apply_delay(config)  # a bad value is a usage error now, not an error in the first test that needs it


@pytest.fixture(scope="session")
def jira_emulator_server(pytestconfig: pytest.Config) -> Iterator[EmulatorClient]:
    """The session's emulator, as an ``EmulatorClient``; not reset between tests."""
    from emulator.client import EmulatorClient

    url = _url(pytestconfig)
    if url:
        with EmulatorClient(url) as client:
            client.wait_until_ready(timeout=READY_TIMEOUT)
            yield client
        return

    from emulator.config import Settings
    from emulator.server import ThreadedServer

    settings = Settings(port=0, apply_delay=_apply_delay(pytestconfig), fixtures=_fixtures(pytestconfig))
    with ThreadedServer(settings) as server, EmulatorClient(server.url) as client:
        client.server = server
        yield client


@pytest.fixture
def jira_emulator(jira_emulator_server: EmulatorClient) -> EmulatorClient:
    """The session's emulator, with every site reset and the journal cleared before this test."""
    from emulator.client import EmulatorError

    jira_emulator_server.reset()
    try:
        jira_emulator_server.clear_journal()
    except EmulatorError as exc:
        # an emulator image older than the request journal has nothing to clear
        if exc.status_code != 404:
            raise
    return jira_emulator_server
