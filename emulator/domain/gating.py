"""Deployment gating: the state a gated deployment starts in, by the site's rules."""

from __future__ import annotations

from emulator.domain.model import ISSUE_ASSOCIATION_TYPES, DeploymentInput, GatingState
from emulator.domain.sites import Site

STATUSES = ("allowed", "prevented", "awaiting", "invalid")


def auto_decide(site: Site, gating: GatingState, now: float) -> None:
    """moto-style progression: an awaiting deployment is decided after N seconds or N polls, if the site says so."""
    rule = site.gating
    if gating.status != "awaiting" or rule.auto_status is None:
        return
    waited = rule.auto_after_seconds is not None and now - gating.updated >= rule.auto_after_seconds
    polled = rule.auto_after_polls is not None and gating.polls >= rule.auto_after_polls
    if waited or polled:
        gating.status, gating.updated = rule.auto_status, now


def has_issue_association(deployment: DeploymentInput) -> bool:
    return bool(deployment.issue_keys) or any(
        a.type in ISSUE_ASSOCIATION_TYPES and a.values for a in deployment.associations
    )


def initial_gating(site: Site, deployment: DeploymentInput, now: float) -> GatingState:
    """``invalid`` without an issue to gate on; ``awaiting`` a change request where gated; else ``allowed``."""
    if not has_issue_association(deployment):
        return GatingState("invalid", [], now)
    if deployment.environment_type not in site.gating.gated_environment_types:
        return GatingState("allowed", [], now)
    issue = site.next_change_request()
    link = f"{site.base_url.rstrip('/')}/servicedesk/customer/portal/1/{issue}"
    return GatingState("awaiting", [{"type": "issue", "issueKey": issue, "issueLink": link}], now)
