"""Fixture files: the sites, what is installed on them, and deployments to start with.

A fixture is a JSON file (or a folder of them, read in name order and merged)::

    {"sites": [{"name", "baseUrl", "cloudId", "projects", "services", "connectApps", "oauthClients",
                "gating", "applyDelay"}],
     "deployments": [{"site", "app" | "oauthClient", "properties", "deployments": [DeploymentData, ...]}]}

Typos are errors (unknown keys are refused), so a fixture never half-loads silently.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from emulator.domain.model import DeploymentInput, Provider
from emulator.domain.sites import MODULE, ConnectApp, GatingRules, OAuthClient, Site, SiteRegistry

ENV_TYPES = Literal["unmapped", "development", "testing", "staging", "production"]


class FixtureError(Exception):
    """A fixture file is missing, not JSON, or does not describe valid sites."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class ProjectSpec(_Model):
    key: str = Field(pattern=r"^\w+$", max_length=255)
    max_issue_number: int | None = Field(default=None, alias="maxIssueNumber", ge=1)


class ConnectAppSpec(_Model):
    """An installed app: flat (``key``, ``scopes``, ``modules``) or with the app's whole ``descriptor``."""

    key: str = Field(min_length=1, max_length=255)
    client_key: str = Field(alias="clientKey", min_length=1)
    shared_secret: str = Field(alias="sharedSecret", min_length=1)
    scopes: list[str] = ["READ", "WRITE", "DELETE"]
    # the descriptor's "modules" object, or just the module names
    modules: dict[str, Any] | list[str] = Field(default_factory=lambda: {MODULE: {}})

    @model_validator(mode="before")
    @classmethod
    def _flatten_descriptor(cls, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("descriptor"), dict):
            descriptor, rest = value["descriptor"], {k: v for k, v in value.items() if k != "descriptor"}
            picked = {k: descriptor[k] for k in ("key", "scopes", "modules") if k in descriptor}
            return {**picked, **rest}
        return value

    def build(self) -> ConnectApp:
        names = self.modules if isinstance(self.modules, list) else list(self.modules)
        return ConnectApp(
            key=self.key,
            client_key=self.client_key,
            shared_secret=self.shared_secret,
            scopes=frozenset(s.upper() for s in self.scopes),
            modules=frozenset(names),
        )


class OAuthClientSpec(_Model):
    client_id: str = Field(alias="clientId", min_length=1)
    client_secret: str = Field(alias="clientSecret", min_length=1)
    permissions: list[str] = ["deployments"]

    def build(self) -> OAuthClient:
        return OAuthClient(self.client_id, self.client_secret, frozenset(self.permissions))


class AutoDecisionSpec(_Model):
    status: Literal["allowed", "prevented", "invalid"]
    after_seconds: float | None = Field(default=None, alias="afterSeconds", ge=0)
    after_polls: int | None = Field(default=None, alias="afterPolls", ge=1)

    @model_validator(mode="after")
    def _needs_a_trigger(self) -> AutoDecisionSpec:
        if self.after_seconds is None and self.after_polls is None:
            raise ValueError("autoDecision needs afterSeconds or afterPolls")
        return self


class GatingSpec(_Model):
    environment_types: list[ENV_TYPES] = Field(default=["production"], alias="environmentTypes")
    auto_decision: AutoDecisionSpec | None = Field(default=None, alias="autoDecision")
    change_project: str = Field(default="CHG", alias="changeProject", pattern=r"^\w+$", max_length=255)


class SiteSpec(_Model):
    name: str = Field(min_length=1)
    base_url: str = Field(alias="baseUrl", pattern=r"^https?://[^/\s]+(/\S*)?$")
    cloud_id: str = Field(alias="cloudId", min_length=1)
    projects: list[str | ProjectSpec] = []
    services: list[str] = []
    connect_apps: list[ConnectAppSpec] = Field(default=[], alias="connectApps")
    oauth_clients: list[OAuthClientSpec] = Field(default=[], alias="oauthClients")
    gating: GatingSpec = GatingSpec()
    apply_delay: float | None = Field(default=None, alias="applyDelay", ge=0)

    def build(self) -> Site:
        projects: dict[str, int | None] = {}
        for p in self.projects:
            spec = ProjectSpec(key=p) if isinstance(p, str) else p
            projects[spec.key.upper()] = spec.max_issue_number
        return Site(
            name=self.name,
            base_url=self.base_url.rstrip("/"),
            cloud_id=self.cloud_id,
            projects=projects,
            services=frozenset(self.services),
            connect_apps={a.key: a.build() for a in self.connect_apps},
            oauth_clients={c.client_id: c.build() for c in self.oauth_clients},
            gating=GatingRules(
                frozenset(self.gating.environment_types),
                self.gating.change_project,
                *(
                    (auto.status, auto.after_seconds, auto.after_polls)
                    if (auto := self.gating.auto_decision)
                    else (None, None, None)
                ),
            ),
            apply_delay=self.apply_delay,
        )


class SeedSpec(_Model):
    site: str | None = None
    app: str | None = None
    oauth_client: str | None = Field(default=None, alias="oauthClient")
    properties: dict[str, str] = {}
    deployments: list[dict[str, Any]]
    provider_metadata: dict[str, Any] | None = Field(default=None, alias="providerMetadata")

    @field_validator("deployments")
    @classmethod
    def _not_empty(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not value:
            raise ValueError("give at least one deployment")
        return value


class FixtureFile(_Model):
    sites: list[SiteSpec] = []
    deployments: list[SeedSpec] = []


class Seed:
    """Deployments a fixture stores at start-up, already validated."""

    def __init__(self, site: Site, provider: Provider, deployments: list[DeploymentInput], properties: dict[str, str]):
        self.site, self.provider, self.deployments, self.properties = site, provider, deployments, properties


def default_fixture_path() -> Path:
    """The built-in default site: packaged in the wheel, or ``fixtures/default.json`` in a checkout."""
    packaged = resources.files("emulator") / "_fixtures" / "default.json"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "fixtures" / "default.json"


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix == ".json" and p.is_file())
        if not found:
            raise FixtureError(f"{path}: the folder holds no *.json fixture file")
        return found
    if path.is_file():
        return [path]
    raise FixtureError(f"{path}: no such fixture file or folder")


def describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors(include_url=False)
    )


def _read(path: Path) -> FixtureFile:
    try:
        return FixtureFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FixtureError(f"{path}: {exc}") from exc
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise FixtureError(f"{path}: not a valid fixture:\n" + "\n".join(lines)) from exc


def load_fixtures(path: str | Path | None) -> tuple[SiteRegistry, list[Seed]]:
    """Read fixtures into a site registry and the deployments to seed; FixtureError on any problem."""
    from emulator.api.submission import RejectedInput, RequestInvalid, parse_submission

    files = _files(Path(path) if path is not None else default_fixture_path())
    specs = [(f, _read(f)) for f in files]
    registry = SiteRegistry()
    for f, spec in specs:
        for site_spec in spec.sites:
            try:
                registry.add(site_spec.build())
            except ValueError as exc:
                raise FixtureError(f"{f}: {exc}") from exc
    if not len(registry):
        raise FixtureError(f"{', '.join(map(str, files))}: no site is declared")
    seeds: list[Seed] = []
    for f, spec in specs:
        for i, seed in enumerate(spec.deployments):
            where = f"{f}: deployments[{i}]"
            site = registry.get(seed.site) if seed.site else registry.default
            if site is None:
                raise FixtureError(f"{where}: no site named {seed.site!r}")
            provider = _seed_provider(site, seed, where)
            body = {"deployments": seed.deployments, "properties": seed.properties}
            try:
                submission = parse_submission(json.dumps(body).encode())
            except RequestInvalid as exc:
                raise FixtureError(f"{where}: {'; '.join(exc.messages)}") from exc
            bad = [item for item in submission.items if isinstance(item, RejectedInput)]
            if bad:
                raise FixtureError(f"{where}: {bad[0].key}: {'; '.join(bad[0].messages)}")
            good = [item for item in submission.items if isinstance(item, DeploymentInput)]
            seeds.append(Seed(site, provider, good, submission.properties))
    return registry, seeds


def load_fault_rules(path: str | Path) -> list[dict[str, Any]]:
    """The fault rules of ``--faults``: a JSON list of objects; FixtureError if it is not one. Each rule
    is checked when it is added, as POST /_emulator/faults checks it."""
    try:
        rules = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FixtureError(f"{path}: {exc}") from exc
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise FixtureError(f"{path}: a fault rule file is a JSON list of rule objects")
    return rules


def _seed_provider(site: Site, seed: SeedSpec, where: str) -> Provider:
    if (seed.app is None) == (seed.oauth_client is None):
        if seed.app is None and len(site.connect_apps) == 1:
            return next(iter(site.connect_apps.values())).provider
        raise FixtureError(f"{where}: name exactly one of 'app' or 'oauthClient'")
    if seed.app is not None:
        if seed.app not in site.connect_apps:
            raise FixtureError(f"{where}: no Connect app {seed.app!r} on site {site.name!r}")
        return Provider("connect", seed.app)
    assert seed.oauth_client is not None
    if seed.oauth_client not in site.oauth_clients:
        raise FixtureError(f"{where}: no OAuth client {seed.oauth_client!r} on site {site.name!r}")
    return Provider("oauth", seed.oauth_client)
