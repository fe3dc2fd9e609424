"""Fixture files: the sites, what is installed on them, and deployments to start with.

A fixture is a JSON file (or a folder of them, read in name order and merged)::

    {"sites": [{"name", "baseUrl", "cloudId", "projects", "services", "connectApps", "oauthClients",
                "gating", "applyDelay"}],
     "deployments": [{"site", "app" | "oauthClient", "properties", "deployments": [DeploymentData, ...]}]}

Typos are errors (unknown keys are refused), so a fixture never half-loads silently.

No ``from __future__ import annotations`` here: msgspec reads the specs' field types when it first
converts, and evaluating them from strings then costs more, at every start, than building them now.
"""

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct, field

from emulator.domain.kinds import Kind
from emulator.domain.model import EntityInput, Provider
from emulator.domain.sites import ConnectApp, GatingRules, OAuthClient, Site, SiteRegistry

ENV_TYPES = Literal["unmapped", "development", "testing", "staging", "production"]

# \Z, not $: Python's $ also matches before a trailing newline
ProjectKey = Annotated[str, Meta(pattern=r"^\w+\Z", max_length=255)]
NonEmpty = Annotated[str, Meta(min_length=1)]


class FixtureError(Exception):
    """A fixture file is missing, not JSON, or does not describe valid sites."""


class _Spec(Struct, rename="camel", forbid_unknown_fields=True, frozen=True):
    """camelCase keys (the Python names are accepted too, see ``parse``); unknown keys are refused."""


class ProjectSpec(_Spec, frozen=True):
    key: ProjectKey
    max_issue_number: Annotated[int, Meta(ge=1)] | None = None


class ConnectAppSpec(_Spec, frozen=True):
    """An installed app: flat (``key``, ``scopes``, ``modules``) or with the app's whole ``descriptor``."""

    key: Annotated[str, Meta(min_length=1, max_length=255)]
    client_key: NonEmpty
    shared_secret: NonEmpty
    scopes: list[str] = field(default_factory=lambda: ["READ", "WRITE", "DELETE"])
    # the descriptor's "modules" object, or just the module names; by default both APIs' modules
    modules: dict[str, Any] | list[str] = field(
        default_factory=lambda: {"jiraDeploymentInfoProvider": {}, "jiraBuildInfoProvider": {}}
    )

    @staticmethod
    def before(value: dict[str, Any]) -> dict[str, Any]:
        """``{"descriptor": {...}, ...}``: the descriptor's key, scopes and modules, overridden by the rest."""
        if isinstance(value.get("descriptor"), dict):
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


class OAuthClientSpec(_Spec, frozen=True):
    client_id: NonEmpty
    client_secret: NonEmpty
    permissions: list[str] = field(default_factory=lambda: ["deployments", "builds"])

    def build(self) -> OAuthClient:
        return OAuthClient(self.client_id, self.client_secret, frozenset(self.permissions))


class AutoDecisionSpec(_Spec, frozen=True):
    status: Literal["allowed", "prevented", "invalid"]
    after_seconds: Annotated[float, Meta(ge=0)] | None = None
    after_polls: Annotated[int, Meta(ge=1)] | None = None

    def __post_init__(self) -> None:
        if self.after_seconds is None and self.after_polls is None:
            raise ValueError("autoDecision needs afterSeconds or afterPolls")


class GatingSpec(_Spec, frozen=True):
    environment_types: list[ENV_TYPES] = field(default_factory=lambda: ["production"])
    auto_decision: AutoDecisionSpec | None = None
    change_project: ProjectKey = "CHG"


class SiteSpec(_Spec, frozen=True):
    name: NonEmpty
    base_url: Annotated[str, Meta(pattern=r"^https?://[^/\s]+(/\S*)?\Z")]
    cloud_id: NonEmpty
    projects: list[ProjectKey | ProjectSpec] = []
    services: list[str] = []
    connect_apps: list[ConnectAppSpec] = []
    oauth_clients: list[OAuthClientSpec] = []
    gating: GatingSpec = field(default_factory=GatingSpec)
    apply_delay: Annotated[float, Meta(ge=0)] | None = None

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


class _SeedSpec(_Spec, frozen=True, kw_only=True):
    """Entities of one API family stored at start-up for one provider of a site (the first site when
    ``site`` is not given; its only Connect app when neither ``app`` nor ``oauthClient`` is)."""

    site: str | None = None
    app: str | None = None
    oauth_client: str | None = None
    properties: dict[str, str] = {}
    provider_metadata: dict[str, Any] | None = None


class SeedSpec(_SeedSpec, frozen=True, kw_only=True):
    deployments: list[dict[str, Any]]

    def __post_init__(self) -> None:
        if not self.deployments:
            raise ValueError("give at least one deployment")


class BuildSeedSpec(_SeedSpec, frozen=True, kw_only=True):
    builds: list[dict[str, Any]]

    def __post_init__(self) -> None:
        if not self.builds:
            raise ValueError("give at least one build")


class FixtureFile(_Spec, frozen=True):
    sites: list[SiteSpec] = []
    deployments: list[SeedSpec] = []
    builds: list[BuildSeedSpec] = []


def parse(raw: Any, kind: type[Any]) -> Any:
    """``raw`` (parsed JSON) as a spec ``kind``; ``emulator.validation.Invalid`` names every problem (its
    path, what is wrong) when it is not one.

    A key may also be given by its Python name (``max_issue_number``), and an app by its ``descriptor``:
    both are rewritten only when the input does not fit as it is. The module that does that and that
    explains problems is imported only then: a valid fixture in the documented form never needs it.
    """
    try:
        return msgspec.convert(raw, kind, strict=False)
    except msgspec.ValidationError:
        pass
    from emulator.validation import convert, prepare_aliases

    return convert(raw, kind, strict=False, prepare=prepare_aliases)


class Seed:
    """Entities a fixture stores at start-up, already validated: of one kind, site and provider."""

    def __init__(
        self, kind: Kind, site: Site, provider: Provider, entities: list[EntityInput], properties: dict[str, str]
    ) -> None:
        self.kind, self.site, self.provider, self.entities, self.properties = kind, site, provider, entities, properties


def default_fixture_path() -> Path:
    """The built-in default site: packaged in the wheel, or ``fixtures/default.json`` in a checkout.

    The package is a folder on disk either way (a file path is what callers read), so the path is
    built from ``__file__``: ``importlib.resources`` would cost its readers' imports at every start.
    """
    here = Path(__file__).resolve().parent
    packaged = here / "_fixtures" / "default.json"
    if packaged.is_file():
        return packaged
    return here.parent / "fixtures" / "default.json"


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix == ".json" and p.is_file())
        if not found:
            raise FixtureError(f"{path}: the folder holds no *.json fixture file")
        return found
    if path.is_file():
        return [path]
    raise FixtureError(f"{path}: no such fixture file or folder")


def _read(path: Path) -> FixtureFile:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FixtureError(f"{path}: {exc}") from exc
    try:
        return parse(raw, FixtureFile)
    except ValueError as exc:  # emulator.validation.Invalid, naming every problem
        lines = [f"  {p.path or '(the file)'}: {p.message}" for p in getattr(exc, "problems", ())] or [f"  {exc}"]
        raise FixtureError(f"{path}: not a valid fixture:\n" + "\n".join(lines)) from exc


def load_fixtures(path: str | Path | None) -> tuple[SiteRegistry, list[Seed]]:
    """Read fixtures into a site registry and the entities to seed; FixtureError on any problem."""
    from emulator.api.families import BUILDS, DEPLOYMENTS

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
        for family, section in ((DEPLOYMENTS, spec.deployments), (BUILDS, spec.builds)):
            seeds += [_seed(registry, family, seed, f"{f}: {family.name}[{i}]") for i, seed in enumerate(section)]
    return registry, seeds


def _seed(registry: SiteRegistry, family: Any, seed: Any, where: str) -> Seed:
    """A seed's entities, validated as a submit of them would be; FixtureError naming the first problem."""
    from emulator.api.submissions import RejectedInput, RequestInvalid

    site = registry.get(seed.site) if seed.site else registry.default
    if site is None:
        raise FixtureError(f"{where}: no site named {seed.site!r}")
    provider = _seed_provider(site, seed, where)
    _check_allowed(site, provider, family, where)
    body = {family.name: getattr(seed, family.name), "properties": seed.properties}
    try:
        submission = family.parser.parse(json.dumps(body).encode())
    except RequestInvalid as exc:
        raise FixtureError(f"{where}: {'; '.join(exc.messages)}") from exc
    bad = [item for item in submission.items if isinstance(item, RejectedInput)]
    if bad:
        shown = json.dumps(family.key_json(bad[0].key), ensure_ascii=False)
        raise FixtureError(f"{where}: {shown}: {'; '.join(bad[0].messages)}")
    good = [item for item in submission.items if isinstance(item, EntityInput)]
    return Seed(family.kind, site, provider, good, submission.properties)


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


def _check_allowed(site: Site, provider: Provider, family: Any, where: str) -> None:
    """A seed's provider may call its family: an app declares the family's module, a client has its permission;
    otherwise it could never read what the seed stores."""
    if provider.kind == "connect":
        if family.connect_module not in site.connect_apps[provider.id].modules:
            raise FixtureError(f"{where}: app {provider.id!r} does not declare the {family.connect_module} module")
    elif family.oauth_permission not in site.oauth_clients[provider.id].permissions:
        raise FixtureError(f"{where}: OAuth client {provider.id!r} lacks the {family.oauth_permission!r} permission")


def _seed_provider(site: Site, seed: _SeedSpec, where: str) -> Provider:
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
