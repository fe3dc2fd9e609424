"""Every setting is a flag and an EMULATOR_* variable; the flag wins; bad values are refused clearly."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from emulator import config
from emulator.app import create_app
from emulator.config import Settings
from emulator.faults import FaultSpecError
from emulator.fixtures import FixtureError
from tests.helpers import SITES


def test_every_setting_has_a_flag_and_a_variable() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    flags = {a.dest for a in parser._actions if a.dest != "help"}
    assert flags == {f.name for f in fields(Settings)}


def test_flags_win_over_variables_which_win_over_defaults() -> None:
    env = {"EMULATOR_PORT": "9001", "EMULATOR_JITTER": "0.25", "EMULATOR_OUT_OF_ORDER": "yes"}
    settings = config.parse(["--port", "9002"], env)
    assert (settings.port, settings.jitter, settings.out_of_order, settings.apply_delay) == (9002, 0.25, True, 0.5)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EMULATOR_PORT": "http"}, "port"),
        ({"EMULATOR_APPLY_DELAY": "-1"}, "apply delay"),
        ({"EMULATOR_STRICT": "maybe"}, "strict"),
        ({"EMULATOR_RATE_LIMIT": "10"}, "RATE/BURST"),
        ({"EMULATOR_LOG_FORMAT": "xml"}, "log format"),
    ],
    ids=["port", "delay", "strict", "rate-limit", "log-format"],
)
def test_bad_values_are_refused_clearly(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config.parse([], env)


def test_start_up_options_reach_the_running_emulator(tmp_path: Path) -> None:
    rules = tmp_path / "faults.json"
    rules.write_text(json.dumps([{"operation": "submitDeployments", "status": 503, "times": 1}]))
    settings = Settings(fixtures=SITES, jitter=1.5, out_of_order=True, rate_limit="5/10", faults=str(rules))
    emulator = create_app(settings).state.emulator
    assert (emulator.service.jitter, emulator.service.out_of_order) == (1.5, True)
    assert emulator.jira.rate_limits.get("main")["burst"] == 10 and emulator.jira.rate_limits.get("ctx") is not None
    assert [r.status for r in emulator.jira.faults.rules()] == [503]


def test_a_bad_faults_file_stops_start_up(tmp_path: Path) -> None:
    rules = tmp_path / "faults.json"
    rules.write_text(json.dumps({"status": 503}))
    with pytest.raises(FixtureError, match="JSON list"):
        create_app(Settings(fixtures=SITES, faults=str(rules)))
    rules.write_text(json.dumps([{"status": 503, "colour": "red"}]))
    with pytest.raises(FaultSpecError, match="colour"):
        create_app(Settings(fixtures=SITES, faults=str(rules)))


def test_gating_auto_decisions_come_from_fixtures(tmp_path: Path) -> None:
    site = {
        "name": "s",
        "baseUrl": "http://s.test",
        "cloudId": "c",
        "gating": {"environmentTypes": ["staging"], "autoDecision": {"status": "allowed", "afterPolls": 2}},
    }
    path = tmp_path / "site.json"
    path.write_text(json.dumps({"sites": [site]}))
    rules = create_app(Settings(fixtures=str(path))).state.emulator.service.sites.get("s").gating
    assert (rules.auto_status, rules.auto_after_polls) == ("allowed", 2)
    site["gating"]["autoDecision"] = {"status": "allowed"}
    path.write_text(json.dumps({"sites": [site]}))
    with pytest.raises(FixtureError, match="afterSeconds or afterPolls"):
        create_app(Settings(fixtures=str(path)))
