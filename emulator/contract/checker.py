"""The contract checker: the checks of each call, with the memory they need, and the per-provider report.

What the checker remembers of entities is bounded by what the service holds: the highest number of a
group of keys (``sequence-number-went-backwards``) is kept while the group has an entity stored or a write
pending, and the last poll of a deployment while it is recent and the deployment is held. Once the checker
holds more than ``PRUNE_FLOOR`` of either, it drops what no longer qualifies, at most once for every so
many additions (amortised: a constant cost per addition); a removed site, app or OAuth client takes what
the checker holds of it along at once (``registry_changing``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from emulator.contract.checks import (
    UNSEEN,
    epoch,
    highest_per_group,
    lost_update,
    out_of_time,
    overruns,
    same_apart_from_usn,
    show,
)
from emulator.contract.rules import FAR_PAST, FUTURE_SLACK, LONG_LIVED_JWT, MIN_POLL_INTERVAL, RULES, Finding
from emulator.domain.kinds import DEPLOYMENTS, Kind
from emulator.domain.model import EntityInput, Key, Provider

if TYPE_CHECKING:
    from emulator.domain.service import DevOpsService

PRUNE_FLOOR = 1024  # groups (and polls) the checker holds before it looks for ones it may forget

Owner = tuple[str, str, Provider]  # (kind, site, provider): whose entities a group of keys belongs to


class ContractChecker:
    """Per-emulator memory the checks need, and the report they feed. ``service`` is what the emulator
    holds: the checker forgets what concerns nothing it holds any more (see the module's docstring)."""

    def __init__(self, service: DevOpsService) -> None:
        self._service = service
        # the highest number accepted per owner and group: a key's group is the key without its number (a
        # deployment's pipeline and environment, a build's pipeline)
        self._highest: dict[Owner, dict[Key, int]] = {}
        self._groups = 0  # groups in _highest, of every owner
        self._groups_limit = PRUNE_FLOOR  # past this many, the groups that hold nothing are dropped
        self._polled: dict[tuple[str, Provider, Key], float] = {}
        self._polled_limit = PRUNE_FLOOR
        self._report: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}

    # -- checks -------------------------------------------------------------------------------

    def token(self, qsh_form: str | None, lifetime: float | None) -> Sequence[Finding]:
        if qsh_form != "decoded" and (lifetime is None or lifetime <= LONG_LIVED_JWT):
            return ()  # every call asks; most tokens are fine
        found = []
        if qsh_form == "decoded":
            found.append(Finding("qsh-over-decoded-path", RULES["qsh-over-decoded-path"].description))
        if lifetime is not None and lifetime > LONG_LIVED_JWT:
            seconds = int(lifetime) if math.isfinite(lifetime) else "more than 1e308"
            found.append(Finding("long-lived-jwt", f"the JWT is valid for {seconds} s (exp - iat)"))
        return found

    def submission(
        self,
        kind: Kind,
        site: str,
        provider: Provider,
        deployments: Iterable[EntityInput],
        latest: Any,
        now: float,
    ) -> list[Finding]:
        """``latest(key)`` is the newest accepted write of a key (pending or applied), or None: it has
        ``update_sequence_number``, ``body`` and ``data``."""
        found = []
        epochs: dict[str | None, float | None] = {}  # a request's deployments often share their lastUpdated
        groups = self._highest.get((kind.name, site, provider), _NO_GROUPS)
        earliest, latest_time = now - FAR_PAST, now + FUTURE_SLACK
        for dep in deployments:
            key = dep.key
            if dep.issue_keys:
                found.append(Finding("deprecated-issue-keys", f"{show(key)} sends 'issueKeys'"))
            elif dep.names_no_issue:
                found.append(Finding("no-issue-link", f"{show(key)} names no issue"))
            before = latest(key)
            if before is not None:
                usn = before.update_sequence_number
                if dep.update_sequence_number <= usn and not same_apart_from_usn(before, dep):
                    found.append(lost_update(dep, usn))
            else:
                highest = groups.get(key[:-1])
                if highest is not None and key[-1] < highest:
                    detail = f"{show(key)}: {kind.number} {key[-1]} after {highest}"
                    found.append(Finding("sequence-number-went-backwards", detail))
            updated = epochs.get(dep.last_updated, UNSEEN)
            if updated is UNSEEN:
                updated = epochs[dep.last_updated] = epoch(dep.last_updated)
            if updated is not None and not earliest <= updated <= latest_time:
                found.append(out_of_time(dep, updated, now))
        return found

    def text_lengths(
        self,
        entities: Iterable[EntityInput],
        properties: dict[str, Any],
        limits: dict[tuple[str, ...], int],
        items_field: str,
    ) -> list[Finding]:
        """``utf16-length`` findings for a request that may hold characters outside the Basic Multilingual
        Plane (the caller asks only then: the check reads every entity's data). ``limits`` maps a string's
        path of member names (``"*"`` for a property's name) to its most characters; the entities are the
        request's ``items_field`` (``deployments``, ``builds``)."""
        found = []
        for name, value in properties.items():
            found += overruns(value, ("properties", "*"), f"properties.{name}", limits, "the request")
        for entity in entities:
            found += overruns(entity.data, (items_field,), "", limits, show(entity.key))
        return found

    def accepted(self, kind: Kind, site: str, provider: Provider, keys: Sequence[Key]) -> None:
        """Remember the highest number accepted in each group of ``keys``."""
        highest = highest_per_group(keys)
        if not highest:
            return
        owner = (kind.name, site, provider)
        groups = self._highest.get(owner)
        if groups is None:
            groups = self._highest[owner] = {}
        before = len(groups)
        for group, number in highest.items():
            groups[group] = max(groups.get(group, number), number)
        self._groups += len(groups) - before
        if self._groups > self._groups_limit:
            self._forget_empty_groups()

    def unknown(self, unknown_issue_keys: list[str], unknown_associations: list[dict[str, Any]]) -> list[Finding]:
        values = list(unknown_issue_keys) + [str(v) for group in unknown_associations for v in group["values"]]
        if not values:
            return []
        shown = ", ".join(values[:5]) + (f" and {len(values) - 5} more" if len(values) > 5 else "")
        return [Finding("unknown-issue-keys", f"unknown to the site: {shown}")]

    def media_type(self, content_type: str | None) -> list[Finding]:
        """A body's Content-Type: ``application/json`` or ``application/*+json``, with any parameters."""
        media = (content_type or "").split(";", 1)[0].strip().lower()
        if media == "application/json" or media.startswith("application/") and media.endswith("+json"):
            return []
        shown = f"Content-Type is {content_type!r}" if content_type else "there is no Content-Type"
        return [Finding("content-type-not-json", f"{shown}; the body is JSON only to a lenient server")]

    def deprecated_bound(self, given: bool) -> list[Finding]:
        if not given:
            return []
        return [
            Finding(
                "deprecated-update-sequence-number-parameter",
                RULES["deprecated-update-sequence-number-parameter"].description,
            )
        ]

    def read(self, key: Key, pending: bool) -> list[Finding]:
        return [Finding("read-before-visible", f"{show(key)} has a pending write")] if pending else []

    def poll(self, site: str, provider: Provider, key: Key, now: float) -> list[Finding]:
        index = (site, provider, key)
        last = self._polled.get(index)
        if last is None and len(self._polled) >= self._polled_limit:
            self._forget_old_polls(now)
        self._polled[index] = now
        if last is not None and now - last < MIN_POLL_INTERVAL:
            return [Finding("polling-too-fast", f"{show(key)} polled {now - last:.3f} s after the previous poll")]
        return []

    # -- the report ---------------------------------------------------------------------------

    def record(
        self, site: str | None, provider: str | None, findings: Sequence[Finding], example: dict[str, Any]
    ) -> None:
        if not findings:
            return
        per_rule = self._report.setdefault((site or "", provider or ""), {})
        for finding in findings:
            entry = per_rule.get(finding.rule)
            if entry is None:
                per_rule[finding.rule] = {"count": 1, "example": {**example, "detail": finding.detail}}
            else:
                entry["count"] += 1

    def report(self, provider: str | None = None) -> list[dict[str, Any]]:
        out = []
        for (site, who), per_rule in sorted(self._report.items()):
            if provider is not None and who != provider:
                continue
            findings = [
                {
                    "rule": rule,
                    "class": RULES[rule].kind,
                    "count": entry["count"],
                    "description": RULES[rule].description,
                    "fix": RULES[rule].fix,
                    "example": entry["example"],
                }
                for rule, entry in sorted(per_rule.items())
            ]
            out.append({"site": site, "provider": who, "findings": findings})
        return out

    def reset(self, site: str | None = None) -> None:
        if site is None:
            self._highest.clear()
            self._polled.clear()
            self._report.clear()
            self._groups_limit = self._polled_limit = PRUNE_FLOOR
        else:
            self._highest = {owner: groups for owner, groups in self._highest.items() if owner[1] != site}
            self._polled = {k: v for k, v in self._polled.items() if k[0] != site}
            self._report = {k: v for k, v in self._report.items() if k[0] != site}
        self._groups = sum(map(len, self._highest.values()))

    # -- what the checker may forget ------------------------------------------------------------

    def _forget_empty_groups(self) -> None:
        """Drop the groups that have nothing stored and nothing pending. A look reads the groups held and the
        keys the service holds of their owners; the next comes after ``PRUNE_FLOOR`` new groups and a quarter
        as many as the keys read, at least, so that its cost is a few steps per group added since. Between two
        looks the groups held that hold nothing stay under ``PRUNE_FLOOR`` and a quarter of the keys read at
        the last look, plus the kept groups emptied since."""
        read = 0
        for owner, groups in list(self._highest.items()):
            live, seen = _live_groups(self._service, owner)
            read += seen
            kept = {group: number for group, number in groups.items() if group in live}
            if kept:
                self._highest[owner] = kept  # a new dict: a dict keeps its size when entries go
            else:
                del self._highest[owner]
        self._groups = sum(map(len, self._highest.values()))
        self._groups_limit = PRUNE_FLOOR + self._groups + read // 4

    def _forget_old_polls(self, now: float) -> None:
        """Drop the polls that can no longer make a finding (older than ``MIN_POLL_INTERVAL``) and those of
        deployments that are neither stored nor pending. The next look comes after as many new polls as are
        kept, at least."""
        service, interval = self._service, MIN_POLL_INTERVAL
        self._polled = {
            index: at
            for index, at in self._polled.items()
            if now - at < interval and _holds(service, DEPLOYMENTS.name, *index)
        }
        self._polled_limit = PRUNE_FLOOR + 2 * len(self._polled)

    def registry_changing(self, change: str, *args: Any) -> None:
        """An observer of the sites (``Registry.before_change``): a removed site takes along all the checker
        holds of it, its report too; an uninstalled app or a removed OAuth client, whose data goes, takes its
        groups and polls (its report stays)."""
        if change == "site-remove":
            self.reset(args[0])
        elif change in ("app-uninstall", "client-remove"):
            site, provider = args[0], Provider("connect" if change == "app-uninstall" else "oauth", args[1])
            self._highest = {o: groups for o, groups in self._highest.items() if o[1:] != (site, provider)}
            self._polled = {k: v for k, v in self._polled.items() if k[:2] != (site, provider)}
            self._groups = sum(map(len, self._highest.values()))


_NO_GROUPS: dict[Key, int] = {}  # the groups of an owner the checker holds nothing of (never written to)


def _live_groups(service: DevOpsService, owner: Owner) -> tuple[set[Key], int]:
    """The groups of ``owner``'s keys that have an entity stored or a write pending, and how many keys were
    read to find them."""
    stored = service.store.records_of(*owner)
    pending = service.queue.latest_of(*owner)
    live = {key[:-1] for key in stored}
    live.update(key[:-1] for key in pending)
    return live, len(stored) + len(pending)


def _holds(service: DevOpsService, kind: str, site: str, provider: Provider, key: Key) -> bool:
    """Whether the service has the entity stored or a write of it pending."""
    if service.store.get(kind, site, provider, key) is not None:
        return True
    return service.queue.latest_upsert(kind, site, provider, key) is not None
