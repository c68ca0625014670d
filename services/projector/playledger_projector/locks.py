"""PostgreSQL advisory lock keys: who may write the read models, and when.

All keys share one class id so they never collide with another application's locks.

- ``LEADER`` (session lock, held on the active projector's connection): one active
  projector per projection; standbys poll for it and take over when PostgreSQL releases it
  (a killed process's session ends, so its lock goes with it).
- ``SWAP`` (transaction lock): every projection batch takes it shared; the rebuild's swap
  takes it exclusively, so a swap waits for the batch in flight and the next batch waits
  for the swap, then finds the new checkpoint and resumes from it.
- ``REBUILD`` (session lock): one rebuild at a time.
- ``MIGRATE`` (transaction lock): migrations are applied by one process at a time.
"""

from __future__ import annotations

import re
from typing import Final

LOCK_CLASS: Final = 0x706C6467  # "pldg"
LEADER: Final = 1
SWAP: Final = 2
REBUILD: Final = 3
MIGRATE: Final = 4

LEADER_HOLDERS_SQL: Final = (
    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
"""The ``application_name`` of whoever holds ``LEADER`` in this database (args: ``LOCK_CLASS, LEADER``).

Advisory locks are per database, but ``pg_locks`` lists every database's: without the
``database`` filter a projector of another database on the same server would show."""

_IDENTIFIER: Final = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def schema_name(name: str) -> str:
    """A PostgreSQL schema name safe to interpolate into SQL (lower-case identifier)."""
    if not _IDENTIFIER.match(name):
        msg = f"invalid schema name {name!r}: use lower-case letters, digits and _"
        raise ValueError(msg)
    return name
