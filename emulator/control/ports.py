"""What the control surface needs of a running emulator: its parts, named by a small interface.

``emulator.app.Emulator`` provides them; the control surface depends on this interface only, never on
the app that builds it.
"""

from __future__ import annotations

from typing import Protocol

from emulator.contract import ContractChecker
from emulator.domain.service import DevOpsService
from emulator.faults import FaultSet, RateLimits
from emulator.journal import Journal


class EmulatorParts(Protocol):
    service: DevOpsService
    journal: Journal
    contract: ContractChecker
    faults: FaultSet
    rate_limits: RateLimits
    strict: bool  # contract mistakes are refused with a 400
    oauth_token_ttl: int  # seconds an OAuth access token the emulator mints is valid

    @property
    def ready(self) -> bool:
        """Whether the emulator serves calls (its lifespan has started)."""
        ...
