"""Reading a data folder written in format version 1 (``snapshot.json`` and ``wal.jsonl``, deployments
only), so that a folder kept by an earlier release starts as it was; the caller then writes it again in
the current format and removes these files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from emulator.domain.kinds import DEPLOYMENTS
from emulator.domain.model import Association, DeploymentInput, DeploymentKey, Provider, StoredDeployment
from emulator.domain.queue import DeleteByKey, DeleteByProperties, Operation, Pending, Upsert
from emulator.domain.service import DevOpsService
from emulator.persistence.records import AppJson, ClientJson, GatingJson, SiteJson, app_from, client_from, gating_from
from emulator.persistence.records import site_from as site_from_json

SNAPSHOT, WAL = "snapshot.json", "wal.jsonl"
FORMAT, VERSION = "jira-deployments-emulator", 1


class LegacyDamage(ValueError):
    pass


def present(folder: Path) -> bool:
    return (folder / SNAPSHOT).exists() or (folder / WAL).exists()


def files(folder: Path) -> list[Path]:
    return [path for path in (folder / SNAPSHOT, folder / WAL) if path.exists()]


def load(folder: Path, service: DevOpsService) -> int:
    """Restore a version-1 folder into ``service``; how many log records were replayed. LegacyDamage names
    the file and line of anything unreadable."""
    snapshot, wal = folder / SNAPSHOT, folder / WAL
    if snapshot.exists():
        _where(snapshot, 0, lambda: _load_snapshot(snapshot, service))
    count = 0
    if wal.exists():
        for number, record in _read_log(wal):
            _where(wal, number, lambda record=record: _replay(service, record))
            count += 1
    return count


def _where(path: Path, number: int, action: Any) -> None:
    try:
        action()
    except (KeyError, TypeError, ValueError, IndexError, msgspec.ValidationError) as exc:
        at = f"{path}:{number}" if number else str(path)
        raise LegacyDamage(f"{at}: a damaged version-1 record ({type(exc).__name__}: {exc})") from exc


def _check_version(doc: Any, path: Path) -> None:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise LegacyDamage(f"{path}: not a version-1 {FORMAT} file")


def _site(j: Any) -> Any:
    return site_from_json(msgspec.convert(j, SiteJson))


def _deployment(j: dict[str, Any]) -> DeploymentInput:
    return DeploymentInput.from_data(
        key=DeploymentKey(*j["key"]),
        update_sequence_number=j["usn"],
        data=j["data"],
        environment_type=j["envType"],
        issue_keys=tuple(j["issueKeys"]),
        associations=tuple(Association(t, tuple(v)) for t, v in j["associations"]),
        gating_requested=j["gating"],
    )


def _op(j: dict[str, Any]) -> Operation:
    site, provider, kind = j["site"], Provider(*j["provider"]), DEPLOYMENTS.name
    if j["kind"] == "upsert":
        return Upsert(kind, site, provider, _deployment(j["deployment"]), j["properties"])
    if j["kind"] == "deleteByKey":
        return DeleteByKey(kind, site, provider, DeploymentKey(*j["key"]), j["max"])
    return DeleteByProperties(kind, site, provider, j["properties"], j["max"])


def _gating(j: Any) -> Any:
    return None if j is None else gating_from(msgspec.convert(j, GatingJson))


def _load_snapshot(path: Path, svc: DevOpsService) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    _check_version(doc, path)
    for site in list(svc.sites):
        svc.sites.remove(site.name)
    for site in doc["sites"]:
        svc.sites.add(_site(site))
    svc.clear_data()
    for r in doc["records"]:
        key = DeploymentKey(*r["key"])
        record = StoredDeployment(key, r["usn"], r["body"].encode("utf-8"), r["properties"], r["appliedAt"],
                                  r["envType"], _gating(r["gating"]))  # fmt: skip
        svc.restore_records(DEPLOYMENTS.name, r["site"], Provider(*r["provider"]), [record])
    for p in sorted(doc["pending"], key=lambda p: p["seq"]):
        svc.replay_accepted(Pending(p["due"], p["seq"], p["acceptedAt"], _op(p["op"])))
    svc.restore_sequence(doc["nextSeq"])


def _replay(svc: DevOpsService, r: dict[str, Any]) -> None:
    kind = r["t"]
    if kind == "accept":
        svc.replay_accepted(Pending(r["due"], r["seq"], r["acceptedAt"], _op(r["op"])))
    elif kind == "applied":
        svc.replay_applied(r["seq"], r["at"])
    elif kind == "reset":
        svc.reset(r["site"])
    elif kind == "site-add":
        svc.add_site(_site(r["site"]))
    elif kind == "site-remove":
        svc.remove_site(r["name"])
    else:
        _replay_site_change(svc, kind, r)


def _replay_site_change(svc: DevOpsService, kind: str, r: dict[str, Any]) -> None:
    site = svc.sites.get(r["site"])
    if site is None:
        return
    if kind == "app-install":
        svc.install_app(site, app_from(msgspec.convert(r["app"], AppJson)))
    elif kind == "app-uninstall":
        svc.uninstall_app(site, r["key"])
    elif kind == "client-add":
        svc.add_oauth_client(site, client_from(msgspec.convert(r["client"], ClientJson)))
    elif kind == "client-remove":
        svc.remove_oauth_client(site, r["clientId"])
    elif kind == "gating":
        key = DeploymentKey(*r["key"])
        svc.restore_gating(site.name, Provider(*r["provider"]), key, _gating(r["gating"]))
    else:
        raise ValueError(f"unknown record type {kind!r}")


def _read_log(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    lines = path.read_text(encoding="utf-8").split("\n")
    if not lines or not lines[0]:
        return
    try:
        header = json.loads(lines[0])
    except ValueError as exc:
        raise LegacyDamage(f"{path}:1: the first line is not the log's header") from exc
    _check_version(header, path)
    body = lines[1:]
    for number, text in enumerate(body, start=2):
        if not text:
            continue
        try:
            yield number, json.loads(text)
        except ValueError as exc:
            if number == len(body) + 1:  # the very last line, cut short by a crash mid-write
                return
            raise LegacyDamage(f"{path}:{number}: not a JSON record") from exc
