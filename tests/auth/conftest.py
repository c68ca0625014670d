"""The API fixtures (real NATS, real PostgreSQL, the app with auth on and a bootstrap admin key)."""

from tests.api.conftest import (
    fx_base_url,
    fx_client,
    fx_db,
    fx_headers,
    fx_readmodel_url,
    fx_settings,
)

__all__ = ["fx_base_url", "fx_client", "fx_db", "fx_headers", "fx_readmodel_url", "fx_settings"]
