"""The contract rules: what Jira accepts but is a mistake or a risk in an integration, each with its class,
its description and the fix a report suggests; and a finding of one."""

from __future__ import annotations

from typing import Any

from msgspec import Struct

FINDINGS_HEADER = "X-Emulator-Findings"
FUTURE_SLACK = 300.0  # seconds a lastUpdated may run ahead (clock skew) before it is a finding
FAR_PAST = 365 * 24 * 3600.0
LONG_LIVED_JWT = 600.0  # Atlassian's examples sign for 3 minutes
MIN_POLL_INTERVAL = 1.0  # seconds between two gating-status polls of one deployment


class Rule(Struct, frozen=True):
    kind: str  # "mistake" or "risk"
    description: str
    fix: str
    strict_status: int = 400  # what strict mode answers a mistake with


RULES: dict[str, Rule] = {
    "deprecated-issue-keys": Rule(
        "mistake",
        "the deployment or build uses the deprecated 'issueKeys' field",
        'send associations: [{"associationType": "issueIdOrKeys", "values": [...]}] instead',
    ),
    "content-type-not-json": Rule(
        "mistake",
        "the body is sent without a JSON Content-Type; Jira's REST endpoints answer 415 Unsupported Media Type "
        "to a body they do not take as JSON",
        "send Content-Type: application/json (fetch sends text/plain for a string body unless told otherwise)",
        strict_status=415,
    ),
    "deprecated-update-sequence-number-parameter": Rule(
        "mistake",
        "the delete uses the deprecated '_updateSequenceNumber' parameter, which Jira no longer supports",
        "leave the parameter out",
    ),
    "lost-update": Rule(
        "mistake",
        "an update with different data whose updateSequenceNumber did not grow: Jira ignores it silently",
        "increase updateSequenceNumber with every change of a deployment or build (a millisecond timestamp works)",
    ),
    "sequence-number-went-backwards": Rule(
        "mistake",
        "a new deploymentSequenceNumber is lower than an earlier one for the same pipeline and environment (or a "
        "new buildNumber than an earlier one of the same pipeline)",
        "number a pipeline's deployments (per environment) and builds in increasing order (the run number, say)",
    ),
    "last-updated-in-future": Rule(
        "mistake",
        "lastUpdated is more than 5 minutes in the future",
        "send the time of the deployment's or build's last change, with its UTC offset",
    ),
    "last-updated-far-past": Rule(
        "risk",
        "lastUpdated is more than a year in the past",
        "send the time of the deployment's or build's last change; check the clock and the time zone",
    ),
    "no-issue-link": Rule(
        "risk",
        "the build names no issue (its issueKeys is empty and it has no associations): it is stored unlinked, as "
        "Jira's 2026 document allows, but Jira has answered such a build with \"At least one 'issueKeys' is "
        'required", and a build linked to no issue shows on no issue',
        "extract issue keys from the branch name and commit messages; skip the build when there are none",
    ),
    "unknown-issue-keys": Rule(
        "risk",
        "the submission names issue keys or associations the site does not know; Jira drops them",
        "check the keys your integration extracts (branch names, commit messages) against the site's projects",
    ),
    "utf16-length": Rule(
        "risk",
        "a string is within its limit counted in characters but over it counted in UTF-16 code units, as Java's "
        "String.length() counts: a character outside the Basic Multilingual Plane (an emoji, say) counts twice, "
        "and Jira may refuse the deployment or build",
        "keep limited fields within the limit counted in UTF-16 code units (255 for names, 2000 for URLs)",
    ),
    "qsh-over-decoded-path": Rule(
        "mistake",
        "the JWT's qsh was computed over the decoded path; Jira hashes the path as sent (still percent-encoded)",
        "hash the raw path, e.g. '/pipelines/team%2Fapp/...', not '/pipelines/team/app/...'",
    ),
    "long-lived-jwt": Rule(
        "risk",
        "the JWT is valid for more than 10 minutes",
        "sign each request with a short-lived token (Atlassian's examples use 3 minutes)",
    ),
    "read-before-visible": Rule(
        "risk",
        "the deployment or build was read while the provider's own write of it was still pending",
        "do not expect a write to be visible at once: Jira applies writes asynchronously",
    ),
    "polling-too-fast": Rule(
        "risk",
        "the gating status of one deployment was polled less than a second after the previous poll",
        "poll with a back-off (every 5 to 30 seconds)",
    ),
}


class Finding(Struct, frozen=True):
    rule: str
    detail: str

    @property
    def kind(self) -> str:
        return RULES[self.rule].kind

    def to_json(self) -> dict[str, Any]:
        rule = RULES[self.rule]
        return {"rule": self.rule, "class": rule.kind, "detail": self.detail, "fix": rule.fix}

    def strict_message(self) -> str:
        rule = RULES[self.rule]
        return f"Contract rule '{self.rule}' (strict mode): {self.detail}. {rule.fix}."
