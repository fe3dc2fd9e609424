"""The control surface's handlers (all but the readiness probes): imported on the first control call.

``routes.py`` holds the table of routes; the handlers here are built when one of them is first called,
so none of this is start-up time.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from emulator.api.errors import json_response
from emulator.api.http import parse_int64
from emulator.control.sites import json_body, problem
from emulator.control.views import FilterError, gating_json, pending_json, state
from emulator.domain.gating import STATUSES
from emulator.domain.model import DeploymentKey, Provider
from emulator.faults import FaultSpecError
from emulator.journal import QueryError

if TYPE_CHECKING:
    from emulator.control.ports import EmulatorParts

ENV_TYPES = ("unmapped", "development", "testing", "staging", "production")


def seconds(value: Any, name: str, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0")
    return float(value)


def parse_provider(text: str) -> Provider | None:
    kind, _, ident = text.partition(":")
    return Provider(kind, ident) if kind in ("connect", "oauth") and ident else None


class ControlHandlers:
    def __init__(self, emulator: EmulatorParts) -> None:
        self.emulator = emulator
        self.service = emulator.service

    # -- reset ------------------------------------------------------------------------------------

    async def reset(self, request: Request) -> Response:
        """Empty the store and queue of all sites, or of `?site=NAME`; what else it clears: Readiness and reset."""
        site = request.query_params.get("site")
        if site is not None and self.service.sites.get(site) is None:
            return problem(404, f"no site named {site!r}")
        self.service.reset(site)
        self.emulator.rate_limits.clear(site)
        self.emulator.contract.reset(site)
        if site is None:
            self.emulator.journal.clear()
            self.emulator.faults.clear()
        return json_response({"reset": site or "all"})

    # -- queue and time ---------------------------------------------------------------------------

    def _queue_json(self) -> dict[str, Any]:
        s = self.service
        return {
            "paused": s.paused,
            "applyDelay": s.settings.apply_delay,
            "jitter": s.settings.jitter,
            "outOfOrder": s.settings.out_of_order,
            "siteApplyDelays": {site.name: site.apply_delay for site in s.sites if site.apply_delay is not None},
            "pending": [pending_json(p) for p in s.pending()],
        }

    async def queue(self, request: Request) -> Response:
        """The apply queue: paused or not, delay, jitter, out-of-order delivery and each pending operation."""
        return json_response(self._queue_json())

    async def flush(self, request: Request) -> Response:
        """Apply everything pending now, due or not (`{"applied": N}`), even while paused."""
        return json_response({"applied": self.service.flush()})

    async def pause(self, request: Request) -> Response:
        """Stop applying by itself (reads stop applying due writes too); a flush still applies."""
        self.service.paused = True
        return json_response(self._queue_json())

    async def resume(self, request: Request) -> Response:
        """Apply again, starting with what fell due while paused."""
        self.service.paused = False
        self.service.apply_due()
        return json_response(self._queue_json())

    async def queue_config(self, request: Request) -> Response:
        """Set the global `applyDelay` and `jitter` (seconds) and `outOfOrder` delivery."""
        body = await json_body(request)
        if isinstance(body, Response):
            return body
        unknown = set(body) - {"applyDelay", "jitter", "outOfOrder"}
        if unknown:
            return problem(400, f"unknown setting(s): {', '.join(sorted(unknown))}; use applyDelay, jitter, outOfOrder")
        try:
            delay = seconds(body["applyDelay"], "applyDelay") if "applyDelay" in body else None
            jitter = seconds(body["jitter"], "jitter") if "jitter" in body else None
        except ValueError as exc:
            return problem(400, str(exc))
        if "outOfOrder" in body and not isinstance(body["outOfOrder"], bool):
            return problem(400, "outOfOrder must be true or false")
        changes: dict[str, Any] = {"apply_delay": delay, "jitter": jitter, "out_of_order": body.get("outOfOrder")}
        self.service.configure(**{name: value for name, value in changes.items() if value is not None})
        return json_response(self._queue_json())

    async def site_apply_delay(self, request: Request) -> Response:
        """Set one site's `applyDelay` in seconds, or `null` to follow the global delay."""
        site = self.service.sites.get(request.path_params["site"])
        if site is None:
            return problem(404, f"no site named {request.path_params['site']!r}")
        body = await json_body(request)
        if isinstance(body, Response):
            return body
        try:
            site.apply_delay = seconds(body.get("applyDelay"), "applyDelay", allow_none=True)
        except ValueError as exc:
            return problem(400, str(exc))
        return json_response({"site": site.name, "applyDelay": site.apply_delay})

    # -- state and journal ------------------------------------------------------------------------

    async def state(self, request: Request) -> Response:
        """Stored (`applied`) and `pending` deployments, filtered by the query (see State and journal)."""
        self.service.apply_due()
        try:
            found = state(self.service, dict(request.query_params))
        except FilterError as exc:
            return problem(400, str(exc))
        return json_response({"deployments": found})

    async def journal(self, request: Request) -> Response:
        """Calls to the Jira surface, newest first, filtered by the query; `bodies=true` adds the bodies."""
        filters = dict(request.query_params)
        bodies = filters.pop("bodies", "false") == "true"
        try:
            entries = self.emulator.journal.query(filters)
        except QueryError as exc:
            return problem(400, str(exc))
        journal = self.emulator.journal
        return json_response(
            {
                "capacity": journal.capacity,
                "dropped": journal.dropped,
                "entries": [e.to_json(bodies=bodies) for e in entries],
            }
        )

    async def journal_entry(self, request: Request) -> Response:
        """One journalled call, with its request and response bodies."""
        raw = request.path_params["id"]
        entry = self.emulator.journal.get(int(raw)) if raw.isdigit() else None
        if entry is None:
            return problem(404, f"no journal entry {raw!r} (it may have been dropped from the ring)")
        return json_response(entry.to_json(bodies=True))

    async def journal_count(self, request: Request) -> Response:
        """`{"count": N}`: how many journalled calls match the same filters as the journal."""
        try:
            return json_response({"count": len(self.emulator.journal.query(dict(request.query_params)))})
        except QueryError as exc:
            return problem(400, str(exc))

    async def clear_journal(self, request: Request) -> Response:
        """Clear the request journal."""
        self.emulator.journal.clear()
        return json_response({"cleared": True})

    async def contract_report(self, request: Request) -> Response:
        """Contract findings per site and provider (`?provider=` for one), with fixes and examples."""
        provider = request.query_params.get("provider")
        return json_response({"strict": self.emulator.strict, "providers": self.emulator.contract.report(provider)})

    async def clear_contract_report(self, request: Request) -> Response:
        """Forget every contract finding."""
        self.emulator.contract.reset()
        return Response(status_code=204)

    # -- gating -----------------------------------------------------------------------------------

    async def decide_gating(self, request: Request) -> Response:
        """Decide a gated deployment: `allowed`, `prevented`, `invalid`, or back to `awaiting`."""
        body = await json_body(request)
        if isinstance(body, Response):
            return body
        site = self.service.sites.get(str(body.get("site", "")))
        provider = parse_provider(str(body.get("provider", "")))
        number = parse_int64(str(body.get("deploymentSequenceNumber", "")))
        status, details = body.get("status"), body.get("details")
        if site is None:
            return problem(404, f"no site named {body.get('site')!r}")
        if provider is None:
            return problem(400, "provider must be 'connect:<appKey>' or 'oauth:<clientId>'")
        if (
            number is None
            or not isinstance(body.get("pipelineId"), str)
            or not isinstance(body.get("environmentId"), str)
        ):
            return problem(400, "give pipelineId, environmentId (strings) and deploymentSequenceNumber (int64)")
        if status not in STATUSES:
            return problem(400, f"status must be one of {', '.join(STATUSES)}")
        if details is not None and not (
            isinstance(details, list)
            and all(isinstance(d, dict) and all(isinstance(v, str) for v in d.values()) for d in details)
        ):
            return problem(400, 'details must be a list of objects of strings, e.g. [{"type": "issue", ...}]')
        key = DeploymentKey(body["pipelineId"], body["environmentId"], number)
        gating = self.service.decide_gating(site, provider, key, status, details)
        if gating is None:
            return problem(404, "no applied deployment with this key and provider asked for gating")
        return json_response(gating_json(gating))

    async def gating_rules(self, request: Request) -> Response:
        """Read (GET) or replace (PUT) a site's gating rules and automatic decision."""
        site = self.service.sites.get(request.path_params["site"])
        if site is None:
            return problem(404, f"no site named {request.path_params['site']!r}")
        if request.method == "PUT":
            body = await json_body(request)
            if isinstance(body, Response):
                return body
            error = _update_gating_rules(site.gating, body)
            if error:
                return problem(400, error)
        rules = site.gating
        return json_response(
            {
                "environmentTypes": sorted(rules.gated_environment_types),
                "changeProject": rules.change_project,
                "autoDecision": None
                if rules.auto_status is None
                else {
                    "status": rules.auto_status,
                    "afterSeconds": rules.auto_after_seconds,
                    "afterPolls": rules.auto_after_polls,
                },
            }
        )


class FaultHandlers:
    def __init__(self, emulator: EmulatorParts) -> None:
        self.faults = emulator.faults
        self.limits = emulator.rate_limits
        self.service = emulator.service

    async def list(self, request: Request) -> Response:
        """The fault rules, with their remaining `times` and their `hits`."""
        return json_response({"rules": [r.to_json() for r in self.faults.rules()]})

    async def add(self, request: Request) -> Response:
        """Add a fault rule (201 with its `id`); its fields are listed under Faults and rate limits."""
        body = await json_body(request)
        if isinstance(body, Response):
            return body
        try:
            return json_response(self.faults.add(body).to_json(), 201)
        except FaultSpecError as exc:
            return problem(400, str(exc))

    async def remove(self, request: Request) -> Response:
        """Remove one fault rule (204)."""
        if not self.faults.remove(request.path_params["id"]):
            return problem(404, f"no fault rule {request.path_params['id']!r}")
        return Response(status_code=204)

    async def clear(self, request: Request) -> Response:
        """Remove every fault rule (204)."""
        self.faults.clear()
        return Response(status_code=204)

    async def rate_limit(self, request: Request) -> Response:
        """Read (GET), set (PUT `{"rate", "burst"}`) or remove (DELETE) a site's token-bucket limit."""
        name = request.path_params["site"]
        if self.service.sites.get(name) is None:
            return problem(404, f"no site named {name!r}")
        now = self.service.clock.now()
        if request.method == "PUT":
            body = await json_body(request)
            if isinstance(body, Response):
                return body
            if set(body) - {"rate", "burst"}:
                return problem(400, "a rate limit is {rate: tokens per second, burst: whole number}")
            try:
                self.limits.set(name, rate=body.get("rate"), burst=body.get("burst"), now=now)  # type: ignore[arg-type]
            except FaultSpecError as exc:
                return problem(400, str(exc))
        elif request.method == "DELETE":
            self.limits.clear(name)
        return json_response({"site": name, "rateLimit": self.limits.get(name, now)})


def _update_gating_rules(rules: Any, body: dict[str, Any]) -> str | None:
    """Change a site's gating rules as ``body`` says; the problem with it, if any (then nothing changes)."""
    unknown = set(body) - {"environmentTypes", "changeProject", "autoDecision"}
    if unknown:
        return f"unknown key(s): {', '.join(sorted(unknown))}; use environmentTypes, changeProject, autoDecision"
    types = body.get("environmentTypes", sorted(rules.gated_environment_types))
    if not isinstance(types, list) or any(t not in ENV_TYPES for t in types):
        return f"environmentTypes must be a list of {', '.join(ENV_TYPES)}"
    project = body.get("changeProject", rules.change_project)
    if not isinstance(project, str) or not project.isidentifier() and not project.replace("_", "").isalnum():
        return "changeProject must be a project key such as CHG"
    auto = body.get("autoDecision", "keep")
    problem = None if auto in ("keep", None) else _auto_decision_problem(auto)
    if problem:
        return problem
    rules.gated_environment_types = frozenset(types)
    rules.change_project = project
    if auto is None:
        rules.auto_status = rules.auto_after_seconds = rules.auto_after_polls = None
    elif auto != "keep":
        rules.auto_status, rules.auto_after_seconds, rules.auto_after_polls = (
            auto["status"],
            auto.get("afterSeconds"),
            auto.get("afterPolls"),
        )
    return None


def _auto_decision_problem(auto: Any) -> str | None:
    """What is wrong with an ``autoDecision``, if anything."""
    if not isinstance(auto, dict) or set(auto) - {"status", "afterSeconds", "afterPolls"}:
        return "autoDecision must be {status, afterSeconds?, afterPolls?} or null"
    if auto.get("status") not in ("allowed", "prevented", "invalid"):
        return "autoDecision.status must be allowed, prevented or invalid"
    after_s, after_p = auto.get("afterSeconds"), auto.get("afterPolls")
    if after_s is None and after_p is None:
        return "autoDecision needs afterSeconds or afterPolls"
    try:
        seconds(after_s, "afterSeconds", allow_none=True)
    except ValueError as exc:
        return str(exc)
    if after_p is not None and (isinstance(after_p, bool) or not isinstance(after_p, int) or after_p < 1):
        return "afterPolls must be a whole number >= 1"
    return None
