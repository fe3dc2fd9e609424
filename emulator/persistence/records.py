"""The lines of the data folder's files, declared once as msgspec structs, and their domain values.

Every line is one JSON object tagged by ``t``. A snapshot holds ``site``, ``record`` and ``pending`` lines
after its header; a log holds ``accept``, ``applied`` and the control changes (``reset``, ``site-add``,
``site-remove``, ``app-install``, ``app-uninstall``, ``client-add``, ``client-remove``, ``gating``).
Decoding checks every field's presence and type, so a damaged line is named by what is wrong with it
(``Object missing required field `seq` - at `$.op```) rather than failing later. An entity's JSON and a
record's body are kept as raw JSON (``msgspec.Raw``): written and read back byte for byte, never parsed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from msgspec import Raw, Struct

from emulator.domain.model import (
    Association,
    BuildInput,
    BuildKey,
    DeploymentInput,
    DeploymentKey,
    EntityInput,
    GatingState,
    Key,
    Provider,
    StoredDeployment,
    StoredEntity,
)
from emulator.domain.queue import DeleteByKey, DeleteByProperties, Operation, Pending, Upsert
from emulator.domain.sites import ConnectApp, GatingRules, OAuthClient, Site


class Damage(ValueError):
    """A line that does not hold what its type says: the message says what is wrong."""


class _Json(Struct, rename="camel", omit_defaults=True):
    pass


# -- values inside lines ----------------------------------------------------------------------------


class GatingJson(_Json):
    status: str
    details: list[dict[str, str]]
    updated: float
    polls: int = 0


class EntityJson(_Json):
    key: list[str | int]
    usn: int
    data: Raw  # the entity's JSON exactly as GET answers it
    issue_keys: list[str] = []
    associations: list[tuple[str, list[Any]]] = []
    last_updated: str | None = None
    env_type: str | None = None  # deployments
    gating: bool = False  # deployments: whether it asks for gating


class UpsertJson(_Json, tag="upsert", tag_field="t"):
    family: str
    site: str
    provider: tuple[str, str]
    entity: EntityJson
    properties: dict[str, str]


class DeleteByKeyJson(_Json, tag="deleteByKey", tag_field="t"):
    family: str
    site: str
    provider: tuple[str, str]
    key: list[str | int]
    max: int | None = None


class DeleteByPropertiesJson(_Json, tag="deleteByProperties", tag_field="t"):
    family: str
    site: str
    provider: tuple[str, str]
    properties: dict[str, str]
    max: int | None = None


OpJson = UpsertJson | DeleteByKeyJson | DeleteByPropertiesJson


class AppJson(_Json):
    key: str
    client_key: str
    shared_secret: str
    scopes: list[str]
    modules: list[str]


class ClientJson(_Json):
    client_id: str
    client_secret: str
    permissions: list[str]


class GatingRulesJson(_Json):
    types: list[str]
    change_project: str


class SiteJson(_Json):
    name: str
    base_url: str
    cloud_id: str
    projects: dict[str, int | None]
    services: list[str]
    connect_apps: list[AppJson]
    oauth_clients: list[ClientJson]
    gating: GatingRulesJson
    apply_delay: float | None = None
    change_requests: int = 0


# -- the lines --------------------------------------------------------------------------------------


class Header(_Json):
    """A file's first line: what it is, in which format version, of which generation of the folder."""

    format: str
    version: int
    file: str  # "snapshot" or "log"
    generation: int
    sites: int = 0  # a snapshot's: how many lines of each kind follow, so a cut-short file is noticed
    records: int = 0
    pending: int = 0
    next_seq: int = 0


class SiteLine(_Json, tag="site", tag_field="t"):
    site: SiteJson


class RecordLine(_Json, tag="record", tag_field="t"):
    family: str
    site: str
    provider: tuple[str, str]
    key: list[str | int]
    usn: int
    body: Raw
    properties: dict[str, str]
    applied_at: float
    env_type: str | None = None
    gating: GatingJson | None = None


class PendingLine(_Json, tag="pending", tag_field="t"):
    seq: int
    accepted_at: float
    due: float
    op: OpJson


class AcceptLine(_Json, tag="accept", tag_field="t"):
    seq: int
    accepted_at: float
    due: float
    op: OpJson


class AppliedLine(_Json, tag="applied", tag_field="t"):
    seq: int
    at: float


class ResetLine(_Json, tag="reset", tag_field="t"):
    site: str | None = None


class SiteAddLine(_Json, tag="site-add", tag_field="t"):
    site: SiteJson


class SiteRemoveLine(_Json, tag="site-remove", tag_field="t"):
    name: str


class AppInstallLine(_Json, tag="app-install", tag_field="t"):
    site: str
    app: AppJson


class AppUninstallLine(_Json, tag="app-uninstall", tag_field="t"):
    site: str
    key: str


class ClientAddLine(_Json, tag="client-add", tag_field="t"):
    site: str
    client: ClientJson


class ClientRemoveLine(_Json, tag="client-remove", tag_field="t"):
    site: str
    client_id: str


class GatingLine(_Json, tag="gating", tag_field="t"):
    site: str
    provider: tuple[str, str]
    key: list[str | int]
    gating: GatingJson | None


SnapshotLine = SiteLine | RecordLine | PendingLine
LogLine = (
    AcceptLine | AppliedLine | ResetLine | SiteAddLine | SiteRemoveLine | AppInstallLine | AppUninstallLine
    | ClientAddLine | ClientRemoveLine | GatingLine
)  # fmt: skip

encode = msgspec.json.Encoder().encode
HEADER = msgspec.json.Decoder(Header)
SNAPSHOT_LINE = msgspec.json.Decoder(SnapshotLine)
LOG_LINE = msgspec.json.Decoder(LogLine)


# -- families: what differs between a deployment's and a build's lines -------------------------------


@dataclass(frozen=True, slots=True)
class FamilyCodec:
    """How one kind of entity's key, submitted entity and stored record are written and read."""

    key_type: Callable[..., Key]
    key_shape: tuple[type, ...]
    entity: Callable[[Key, EntityJson, bytes], EntityInput]
    record: Callable[[Key, RecordLine, bytes], StoredEntity]

    def key(self, parts: list[str | int]) -> Key:
        if len(parts) != len(self.key_shape) or not all(
            type(part) is shape for part, shape in zip(parts, self.key_shape, strict=True)
        ):
            shapes = ", ".join(shape.__name__ for shape in self.key_shape)
            raise Damage(f"the key {parts!r} is not ({shapes})")
        return self.key_type(*parts)


def _deployment(key: Key, j: EntityJson, data: bytes) -> EntityInput:
    groups = tuple(Association(t, tuple(v)) for t, v in j.associations)
    env = j.env_type or "unmapped"
    return DeploymentInput(
        key, j.usn, tuple(j.issue_keys), j.last_updated, None, data, groups, env, j.gating
    )  # fmt: skip


def _build(key: Key, j: EntityJson, data: bytes) -> EntityInput:
    groups = tuple(Association(t, tuple(v)) for t, v in j.associations)
    return BuildInput(key, j.usn, tuple(j.issue_keys), j.last_updated, None, data, groups)


def _stored_deployment(key: Key, r: RecordLine, body: bytes) -> StoredEntity:
    gating = None if r.gating is None else gating_from(r.gating)
    return StoredDeployment(key, r.usn, body, r.properties, r.applied_at, r.env_type or "unmapped", gating)


def _stored_build(key: Key, r: RecordLine, body: bytes) -> StoredEntity:
    return StoredEntity(key, r.usn, body, r.properties, r.applied_at)


FAMILIES = {
    "deployments": FamilyCodec(DeploymentKey, (str, str, int), _deployment, _stored_deployment),
    "builds": FamilyCodec(BuildKey, (str, int), _build, _stored_build),
}


def family(name: str) -> FamilyCodec:
    codec = FAMILIES.get(name)
    if codec is None:
        raise Damage(f"unknown family {name!r}")
    return codec


# -- domain values to lines and back ----------------------------------------------------------------


def gating_json(g: GatingState | None) -> GatingJson | None:
    return None if g is None else GatingJson(g.status, g.details, g.updated, g.polls)


def gating_from(j: GatingJson) -> GatingState:
    return GatingState(j.status, j.details, j.updated, j.polls)


def entity_json(e: EntityInput) -> EntityJson:
    groups = [(a.type, list(a.values)) for a in e.associations]
    if isinstance(e, DeploymentInput):
        env, gating = e.environment_type, e.gating_requested
    else:
        env, gating = None, False
    return EntityJson(list(e.key), e.update_sequence_number, Raw(e.body), list(e.issue_keys), groups,
                      e.last_updated, env, gating)  # fmt: skip


def op_json(op: Operation) -> OpJson:
    provider = (op.provider.kind, op.provider.id)
    if isinstance(op, Upsert):
        return UpsertJson(op.kind, op.site, provider, entity_json(op.entity), op.properties)
    if isinstance(op, DeleteByKey):
        return DeleteByKeyJson(op.kind, op.site, provider, list(op.key), op.max_update_sequence_number)
    return DeleteByPropertiesJson(op.kind, op.site, provider, op.properties, op.max_update_sequence_number)


def op_from(j: OpJson) -> Operation:
    codec, provider = family(j.family), Provider(*j.provider)
    if isinstance(j, UpsertJson):
        entity = codec.entity(codec.key(j.entity.key), j.entity, bytes(j.entity.data))
        return Upsert(j.family, j.site, provider, entity, j.properties)
    if isinstance(j, DeleteByKeyJson):
        return DeleteByKey(j.family, j.site, provider, codec.key(j.key), j.max)
    if not j.properties:
        raise Damage("a delete by properties names no property")
    return DeleteByProperties(j.family, j.site, provider, j.properties, j.max)


def pending_from(j: PendingLine | AcceptLine) -> Pending:
    return Pending(j.due, j.seq, j.accepted_at, op_from(j.op))


def record_json(family_name: str, site: str, provider: Provider, r: StoredEntity) -> RecordLine:
    env = gating = None
    if isinstance(r, StoredDeployment):
        env, gating = r.environment_type, gating_json(r.gating)
    return RecordLine(family_name, site, (provider.kind, provider.id), list(r.key), r.update_sequence_number,
                      Raw(r.body), r.properties, r.applied_at, env, gating)  # fmt: skip


def record_from(j: RecordLine) -> StoredEntity:
    codec = family(j.family)
    return codec.record(codec.key(j.key), j, bytes(j.body))


def app_json(a: ConnectApp) -> AppJson:
    return AppJson(a.key, a.client_key, a.shared_secret, sorted(a.scopes), sorted(a.modules))


def app_from(j: AppJson) -> ConnectApp:
    return ConnectApp(j.key, j.client_key, j.shared_secret, frozenset(j.scopes), frozenset(j.modules))


def client_json(c: OAuthClient) -> ClientJson:
    return ClientJson(c.client_id, c.client_secret, sorted(c.permissions))


def client_from(j: ClientJson) -> OAuthClient:
    return OAuthClient(j.client_id, j.client_secret, frozenset(j.permissions))


def site_json(s: Site) -> SiteJson:
    rules = GatingRulesJson(sorted(s.gating.gated_environment_types), s.gating.change_project)
    return SiteJson(s.name, s.base_url, s.cloud_id, dict(s.projects), sorted(s.services),
                    [app_json(a) for a in s.connect_apps.values()], [client_json(c) for c in s.oauth_clients.values()],
                    rules, s.apply_delay, s.change_requests)  # fmt: skip


def site_from(j: SiteJson) -> Site:
    return Site(
        name=j.name,
        base_url=j.base_url,
        cloud_id=j.cloud_id,
        projects=dict(j.projects),
        services=frozenset(j.services),
        connect_apps={a.key: app_from(a) for a in j.connect_apps},
        oauth_clients={c.client_id: client_from(c) for c in j.oauth_clients},
        gating=GatingRules(frozenset(j.gating.types), j.gating.change_project),
        apply_delay=j.apply_delay,
        change_requests=j.change_requests,
    )
