"""Checking a presented key: parse, look up (cached briefly), compare the keyed hash.

A verified key is cached per process for ``auth_cache_s`` so a busy client costs no database
round trip per request; revoking through this process evicts it at once, other API processes
stop accepting it within ``auth_cache_s``. ``last_used_at`` is written at most once per
cache period per key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from playledger_api.auth.keys import KeyRecord, hash_matches, key_hash, parse_key, unusable_reason
from playledger_api.auth.keystore import KeyStore
from playledger_api.errors import UnauthorizedError

MISSING: Final = "an API key is required (Authorization: Bearer <key> or X-API-Key: <key>)"
INVALID: Final = "the API key is not valid"


@dataclass
class _Cached:
    record: KeyRecord
    key_hash: str
    until: float


class Authenticator:
    def __init__(self, store: KeyStore, server_secret: bytes, cache_s: float) -> None:
        self.store = store
        self._secret = server_secret
        self._cache_s = cache_s
        self._cache: dict[str, _Cached] = {}

    async def verify(self, presented: str | None) -> KeyRecord:
        """The key's record, or :class:`UnauthorizedError` saying why not (never echoing the key)."""
        if not presented:
            raise UnauthorizedError(MISSING)
        key_id = parse_key(presented)
        if key_id is None:
            raise UnauthorizedError(INVALID, invalid=True)
        now = time.monotonic()
        cached = self._cache.get(key_id)
        fresh = cached is None or cached.until <= now
        if cached is None or fresh:
            cached = await self._load(key_id, now)
        if not hash_matches(self._secret, presented, cached.key_hash):
            raise UnauthorizedError(INVALID, invalid=True)
        wall = datetime.now(UTC)
        reason = unusable_reason(cached.record, wall)
        if reason is not None:
            raise UnauthorizedError(reason, invalid=True)
        if fresh:
            await self.store.touch(key_id, wall)
        return cached.record

    async def _load(self, key_id: str, now: float) -> _Cached:
        found = await self.store.lookup(key_id)
        if found is None:
            self._cache.pop(key_id, None)
            raise UnauthorizedError(INVALID, invalid=True)
        record, stored = found
        cached = _Cached(record=record, key_hash=stored, until=now + self._cache_s)
        self._cache[key_id] = cached
        return cached

    def hash(self, key: str) -> str:
        """The keyed hash to store for a new key."""
        return key_hash(self._secret, key)

    def forget(self, key_id: str) -> None:
        self._cache.pop(key_id, None)
