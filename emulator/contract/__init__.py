"""Contract findings: what Jira accepts but is a mistake or a risk in an integration.

Each call is checked against the rules (``rules.py``); a finding goes into the journal, the
``X-Emulator-Findings`` response header, the log line and the per-provider contract report. In strict mode
a finding of the ``mistake`` class turns the call into a 400 that names the rule. ``checks.py`` holds the
checks of one entity that need no memory, ``checker.py`` the checker that remembers what the others need.
"""

from emulator.contract.checker import ContractChecker
from emulator.contract.rules import FINDINGS_HEADER, RULES, Finding, Rule

__all__ = ["FINDINGS_HEADER", "RULES", "ContractChecker", "Finding", "Rule"]
