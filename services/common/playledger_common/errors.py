"""The root of playledger's own errors; each package derives its domain errors from it."""

from __future__ import annotations


class PlayledgerError(Exception):
    """Base of every error playledger raises on purpose."""


class ConfigError(PlayledgerError):
    """A setting is missing or invalid; the message names the environment variable."""
