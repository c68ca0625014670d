"""Where the read models live: shared by the projector (writer) and the API (reader).

The tables themselves are defined by the projector's migrations; this module only
names the PostgreSQL schema and the version the services expect.
"""

from __future__ import annotations

from typing import Final

SCHEMA: Final = "playledger"
"""The PostgreSQL schema holding the live read models (rebuild swaps a fresh one in)."""

READ_MODEL_VERSION: Final = 2
"""The latest migration; the API's /ready requires ``schema_migrations`` to have reached it."""

MIGRATIONS_TABLE: Final = "schema_migrations"
"""``<SCHEMA>.schema_migrations(version integer primary key, applied_at timestamptz)``."""

PROJECTION: Final = "jobs"
"""The name of the projection in ``projection_checkpoint``."""
