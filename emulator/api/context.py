"""What an operation handler is given: the call, who made it, where, and the parts of the emulator it uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from msgspec import Struct
from starlette.requests import Request

from emulator.api.calls import Call, Refusal
from emulator.api.http import BodyTooLarge, read_body
from emulator.contract import RULES, ContractChecker, Finding
from emulator.domain.model import Provider
from emulator.domain.service import DevOpsService
from emulator.domain.sites import Site

if TYPE_CHECKING:
    from emulator.api.families import Family, Operation


class Surface(Struct, frozen=True):
    """The parts of one emulator every call uses; made once."""

    service: DevOpsService
    contract: ContractChecker
    strict: bool  # a contract finding of the mistake class refuses the call with a 400
    max_body_bytes: int


class Context:
    """One call, authenticated: its operation, path parameters, site and provider."""

    __slots__ = ("call", "contract", "now", "operation", "params", "provider", "request", "service", "site", "surface")

    def __init__(
        self,
        surface: Surface,
        request: Request,
        call: Call,
        operation: Operation,
        params: dict[str, str],
        site: Site,
        provider: Provider,
        now: float,
    ) -> None:
        self.surface, self.request, self.call, self.operation = surface, request, call, operation
        self.params, self.site, self.provider, self.now = params, site, provider, now
        self.service, self.contract = surface.service, surface.contract

    @property
    def family(self) -> Family:
        return self.operation.family

    async def body(self) -> bytes:
        """The request body (kept for the journal); a 413 past the body limit."""
        try:
            body = await read_body(self.request, self.surface.max_body_bytes)
        except BodyTooLarge:
            limit = self.surface.max_body_bytes
            raise Refusal.site(413, self.family.texts.too_large, f"the body is larger than {limit} bytes") from None
        self.call.request_body = body
        return body

    def note(self, findings: list[Finding]) -> None:
        """Keep contract findings for the call; in strict mode a finding of the mistake class is a 400."""
        if findings:
            self.call.note(findings)
            refuse_if_strict(self.surface.strict, findings)


def refuse_if_strict(strict: bool, findings: Sequence[Finding]) -> None:
    """In strict mode, a finding of the mistake class refuses the call (a 400, or the status its rule names)."""
    mistakes = [f for f in findings if f.kind == "mistake"]
    if strict and mistakes:
        reason = "strict mode: " + ", ".join(f.rule for f in mistakes)
        status = max(RULES[f.rule].strict_status for f in mistakes)
        raise Refusal.site(status, [f.strict_message() for f in mistakes], reason)
