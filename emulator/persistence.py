"""Durable state for ``--data-dir``: a write-ahead log, replayed at start-up and compacted into a snapshot.

``wal.jsonl`` holds one JSON object per line, after a header line with the format and its version:

- ``accept``: an operation was accepted (written before its 202 is sent), with its sequence number,
  acceptance time and due time;
- ``applied``: the operation with that sequence number was applied, at that time. Replaying these in
  log order reproduces the order operations really applied in (a flush or a pause changes it);
- ``reset``, ``site-add``, ``site-remove``, ``app-install``, ``app-uninstall``, ``client-add``,
  ``client-remove``, ``gating``: control changes that touch data.

``snapshot.json`` is the whole state at one moment; writing it (atomically: temporary file, fsync,
rename) empties the log. Each line is flushed to the operating system as it is written, so a
``kill -9`` loses nothing acknowledged; a torn last line (the process died mid-write) is ignored.
Runtime settings (delays, jitter, faults, rate limits, gating rules' auto-decisions) are not durable.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from emulator.domain.kinds import DEPLOYMENTS
from emulator.domain.model import (
    Association,
    DeploymentInput,
    DeploymentKey,
    GatingState,
    Key,
    Provider,
    StoredDeployment,
)
from emulator.domain.queue import DeleteByKey, DeleteByProperties, Operation, Pending, Upsert
from emulator.domain.service import Applied, DevOpsService
from emulator.domain.sites import ConnectApp, GatingRules, OAuthClient, Site

FORMAT = "jira-deployments-emulator"
VERSION = 1
WAL = "wal.jsonl"
SNAPSHOT = "snapshot.json"
log = logging.getLogger("emulator.persistence")


class PersistenceError(Exception):
    """The data folder cannot be read or written, or holds a format this emulator does not know."""


# -- to and from JSON --------------------------------------------------------------------------------


def _key(key: Key) -> list[Any]:
    return list(key)


def _deployment(d: DeploymentInput) -> dict[str, Any]:
    return {
        "key": _key(d.key),
        "usn": d.update_sequence_number,
        "data": d.data,
        "envType": d.environment_type,
        "issueKeys": list(d.issue_keys),
        "associations": [[a.type, list(a.values)] for a in d.associations],
        "gating": d.gating_requested,
    }


def _deployment_from(j: dict[str, Any]) -> DeploymentInput:
    return DeploymentInput.from_data(
        key=DeploymentKey(*j["key"]),
        update_sequence_number=j["usn"],
        data=j["data"],
        environment_type=j["envType"],
        issue_keys=tuple(j["issueKeys"]),
        associations=tuple(Association(t, tuple(v)) for t, v in j["associations"]),
        gating_requested=j["gating"],
    )


def _op(op: Operation) -> dict[str, Any]:
    base = {"site": op.site, "provider": list(op.provider)}
    if isinstance(op, Upsert):
        assert isinstance(op.entity, DeploymentInput)
        return {**base, "kind": "upsert", "deployment": _deployment(op.entity), "properties": op.properties}
    if isinstance(op, DeleteByKey):
        return {**base, "kind": "deleteByKey", "key": _key(op.key), "max": op.max_update_sequence_number}
    return {**base, "kind": "deleteByProperties", "properties": op.properties, "max": op.max_update_sequence_number}


def _op_from(j: dict[str, Any]) -> Operation:
    site, provider = j["site"], Provider(*j["provider"])
    kind = DEPLOYMENTS.name
    if j["kind"] == "upsert":
        return Upsert(kind, site, provider, _deployment_from(j["deployment"]), j["properties"])
    if j["kind"] == "deleteByKey":
        return DeleteByKey(kind, site, provider, DeploymentKey(*j["key"]), j["max"])
    return DeleteByProperties(kind, site, provider, j["properties"], j["max"])


def _gating(g: GatingState | None) -> dict[str, Any] | None:
    return None if g is None else {"status": g.status, "details": g.details, "updated": g.updated, "polls": g.polls}


def _gating_from(j: dict[str, Any] | None) -> GatingState | None:
    return None if j is None else GatingState(j["status"], j["details"], j["updated"], j["polls"])


def _app(a: ConnectApp) -> dict[str, Any]:
    return {
        "key": a.key,
        "clientKey": a.client_key,
        "sharedSecret": a.shared_secret,
        "scopes": sorted(a.scopes),
        "modules": sorted(a.modules),
    }


def _app_from(j: dict[str, Any]) -> ConnectApp:
    return ConnectApp(j["key"], j["clientKey"], j["sharedSecret"], frozenset(j["scopes"]), frozenset(j["modules"]))


def _client(c: OAuthClient) -> dict[str, Any]:
    return {"clientId": c.client_id, "clientSecret": c.client_secret, "permissions": sorted(c.permissions)}


def _client_from(j: dict[str, Any]) -> OAuthClient:
    return OAuthClient(j["clientId"], j["clientSecret"], frozenset(j["permissions"]))


def _site(s: Site) -> dict[str, Any]:
    g = s.gating
    return {
        "name": s.name,
        "baseUrl": s.base_url,
        "cloudId": s.cloud_id,
        "projects": s.projects,
        "services": sorted(s.services),
        "connectApps": [_app(a) for a in s.connect_apps.values()],
        "oauthClients": [_client(c) for c in s.oauth_clients.values()],
        "gating": {"types": sorted(g.gated_environment_types), "changeProject": g.change_project},
        "applyDelay": s.apply_delay,
        "changeRequests": s.change_requests,
    }


def _site_from(j: dict[str, Any]) -> Site:
    return Site(
        name=j["name"],
        base_url=j["baseUrl"],
        cloud_id=j["cloudId"],
        projects=dict(j["projects"]),
        services=frozenset(j["services"]),
        connect_apps={a["key"]: _app_from(a) for a in j["connectApps"]},
        oauth_clients={c["clientId"]: _client_from(c) for c in j["oauthClients"]},
        gating=GatingRules(frozenset(j["gating"]["types"]), j["gating"]["changeProject"]),
        apply_delay=j["applyDelay"],
        change_requests=j["changeRequests"],
    )


# -- the log and the snapshot ------------------------------------------------------------------------


class DurableState:
    """Keeps one service's state in ``data_dir``; ``open()`` restores it, then every change is logged."""

    def __init__(self, data_dir: str | Path, service: DevOpsService, *, compact_every: int = 50_000) -> None:
        self.dir = Path(data_dir)
        self.service = service
        self.compact_every = compact_every
        self._wal: IO[str] | None = None
        self._lines = 0

    # -- start-up -------------------------------------------------------------------------------

    def open(self) -> dict[str, int]:
        """Restore what the folder holds (snapshot, then log); return what was read."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PersistenceError(f"{self.dir}: cannot create the data folder: {exc}") from exc
        restored = {"snapshotDeployments": 0, "snapshotPending": 0, "logRecords": 0}
        snapshot = self.dir / SNAPSHOT
        if snapshot.exists():
            restored["snapshotDeployments"], restored["snapshotPending"] = self._load_snapshot(snapshot)
        wal = self.dir / WAL
        if wal.exists():
            restored["logRecords"] = self._replay(wal)
        self.compact()  # start from a fresh snapshot and an empty log
        self.service.on_accept.append(self._accepted)
        self.service.on_apply.append(self._applied)
        self.service.on_change.append(self._changed)
        return restored

    def _load_snapshot(self, path: Path) -> tuple[int, int]:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PersistenceError(f"{path}: cannot read the snapshot: {exc}") from exc
        _check_version(doc, path)
        svc = self.service
        for site in list(svc.sites):
            svc.sites.remove(site.name)
        for site in doc["sites"]:
            svc.sites.add(_site_from(site))
        svc.clear_data()
        for r in doc["records"]:
            record = StoredDeployment(
                DeploymentKey(*r["key"]),
                r["usn"],
                r["body"].encode("utf-8"),
                r["properties"],
                r["appliedAt"],
                r["envType"],
                _gating_from(r["gating"]),
            )
            svc.restore_records(DEPLOYMENTS.name, r["site"], Provider(*r["provider"]), [record])
        for p in sorted(doc["pending"], key=lambda p: p["seq"]):  # in sequence order: see restore
            svc.replay_accepted(Pending(p["due"], p["seq"], p["acceptedAt"], _op_from(p["op"])))
        svc.restore_sequence(doc["nextSeq"])
        return len(doc["records"]), len(doc["pending"])

    def _replay(self, path: Path) -> int:
        count = 0
        for record in _read_log(path):
            self._replay_one(record)
            count += 1
        return count

    def _replay_one(self, r: dict[str, Any]) -> None:
        svc, kind = self.service, r["t"]
        if kind == "accept":
            svc.replay_accepted(Pending(r["due"], r["seq"], r["acceptedAt"], _op_from(r["op"])))
        elif kind == "applied":
            svc.replay_applied(r["seq"], r["at"])
        elif kind == "reset":
            svc.reset(r["site"])
        elif kind == "site-add":
            svc.add_site(_site_from(r["site"]))
        elif kind == "site-remove":
            svc.remove_site(r["name"])
        elif kind in _SITE_CHANGES:
            site = svc.sites.get(r["site"])
            if site is not None:
                _SITE_CHANGES[kind](svc, site, r)
        else:
            raise PersistenceError(f"{self.dir / WAL}: unknown record type {kind!r}")

    # -- logging --------------------------------------------------------------------------------

    def _write(self, record: dict[str, Any]) -> None:
        if self._wal is None:
            return
        self._wal.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._wal.flush()  # into the OS before the caller answers: a killed process loses nothing
        self._lines += 1
        if self._lines >= self.compact_every:
            self.compact()

    def _accepted(self, p: Pending) -> None:
        self._write({"t": "accept", "seq": p.seq, "acceptedAt": p.accepted_at, "due": p.due, "op": _op(p.op)})

    def _applied(self, applied: Applied) -> None:
        self._write({"t": "applied", "seq": applied.pending.seq, "at": self.service.clock.now()})

    def _changed(self, kind: str, *args: Any) -> None:
        if kind == "reset":
            self._write({"t": kind, "site": args[0]})
        elif kind == "site-add":
            self._write({"t": kind, "site": _site(args[0])})
        elif kind == "site-remove":
            self._write({"t": kind, "name": args[0]})
        elif kind == "app-install":
            self._write({"t": kind, "site": args[0], "app": _app(args[1])})
        elif kind == "app-uninstall":
            self._write({"t": kind, "site": args[0], "key": args[1]})
        elif kind == "client-add":
            self._write({"t": kind, "site": args[0], "client": _client(args[1])})
        elif kind == "client-remove":
            self._write({"t": kind, "site": args[0], "clientId": args[1]})
        elif kind == "gating":
            site, provider, key, gating = args
            self._write(
                {"t": kind, "site": site, "provider": list(provider), "key": _key(key), "gating": _gating(gating)}
            )

    # -- compaction -----------------------------------------------------------------------------

    def compact(self) -> None:
        """Write the whole state as a snapshot (atomically), then start an empty log."""
        svc = self.service
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "sites": [_site(s) for s in svc.sites],
            "records": [
                {
                    "site": site,
                    "provider": list(provider),
                    "key": _key(r.key),
                    "usn": r.update_sequence_number,
                    "body": r.body.decode("utf-8"),  # the stored JSON as text: no decode and re-encode
                    "properties": r.properties,
                    "envType": r.environment_type,
                    "appliedAt": r.applied_at,
                    "gating": _gating(r.gating),
                }
                for _, site, provider, r in svc.records()
                if isinstance(r, StoredDeployment)
            ],
            "pending": [
                {"seq": p.seq, "acceptedAt": p.accepted_at, "due": p.due, "op": _op(p.op)} for p in svc.pending()
            ],
            "nextSeq": svc.next_sequence(),
        }
        try:
            _atomic_write(self.dir / SNAPSHOT, json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
            if self._wal is not None:
                self._wal.close()
            self._wal = open(self.dir / WAL, "w", encoding="utf-8")
            self._wal.write(json.dumps({"format": FORMAT, "version": VERSION}) + "\n")
            self._wal.flush()
        except OSError as exc:
            raise PersistenceError(f"{self.dir}: cannot write the snapshot or the log: {exc}") from exc
        self._lines = 0

    def abandon(self) -> None:
        """Stop logging without a snapshot, leaving the folder as a crash would (tests use this)."""
        if self._wal is not None:
            self._wal.close()
            self._wal = None

    def close(self) -> None:
        """A clean stop: a final snapshot, so the next start reads no log."""
        if self._wal is None:
            return
        self.compact()
        self._wal.close()
        self._wal = None


# how a logged change to one site is made again
_SITE_CHANGES: dict[str, Callable[[DevOpsService, Site, dict[str, Any]], Any]] = {
    "app-install": lambda svc, site, r: svc.install_app(site, _app_from(r["app"])),
    "app-uninstall": lambda svc, site, r: svc.uninstall_app(site, r["key"]),
    "client-add": lambda svc, site, r: svc.add_oauth_client(site, _client_from(r["client"])),
    "client-remove": lambda svc, site, r: svc.remove_oauth_client(site, r["clientId"]),
    "gating": lambda svc, site, r: svc.restore_gating(
        site.name, Provider(*r["provider"]), DeploymentKey(*r["key"]), _gating_from(r["gating"])
    ),
}


def _check_version(doc: Any, path: Path) -> None:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise PersistenceError(f"{path}: not a {FORMAT} file")
    if doc.get("version") != VERSION:
        raise PersistenceError(
            f"{path}: written in format version {doc.get('version')!r}; this emulator reads version {VERSION}. "
            "Use the emulator version that wrote it, or move the data folder away to start empty."
        )


def _read_log(path: Path) -> Iterator[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8", errors="strict").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise PersistenceError(f"{path}: cannot read the log: {exc}") from exc
    if not lines or not lines[0]:
        return
    try:
        header = json.loads(lines[0])
    except ValueError as exc:
        raise PersistenceError(f"{path}: the first line is not the log's header") from exc
    _check_version(header, path)
    body = lines[1:]
    for number, line in enumerate(body, start=2):
        if not line:
            continue
        try:
            yield json.loads(line)
        except ValueError as exc:
            if number == len(body) + 1:  # the very last line, cut short by a crash mid-write
                log.warning("%s: ignoring a torn last line (%d bytes)", path, len(line))
                return
            raise PersistenceError(f"{path}:{number}: not a JSON record") from exc


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
