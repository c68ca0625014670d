"""Validation messages a person can act on, the same on both doors (HTTP 422 and ``job.rejected``).

msgspec reports a failed ``pattern`` as the regex itself; each pattern of the contract has
its rule in words here.
"""

from __future__ import annotations

from typing import Final

from playledger_schemas.commands import GROUP_NAME_PATTERN, HOST_NAME_PATTERN, PLAYBOOK_PATH_PATTERN
from playledger_schemas.ids import JOB_ID_PATTERN

PATTERN_RULES: Final = {
    PLAYBOOK_PATH_PATTERN: "must end in .yml or .yaml",
    JOB_ID_PATTERN: "must be 1-128 characters of A-Z a-z 0-9 _ -, starting with a letter or digit",
    HOST_NAME_PATTERN: "must be a host name or address (A-Z a-z 0-9 _ . : [ ] -, at most 253)",
    GROUP_NAME_PATTERN: "must be an Ansible group name (A-Z a-z 0-9 _, not starting with a digit)",
}
_BY_MSGSPEC_TEXT: Final = {f"Expected `str` matching regex {p!r}": rule for p, rule in PATTERN_RULES.items()}


def readable(message: str) -> str:
    """msgspec's message, with a regex replaced by the rule it encodes."""
    return _BY_MSGSPEC_TEXT.get(message, message)
