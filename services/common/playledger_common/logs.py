"""One log format for every service; secrets never reach it because nothing logs settings or env."""

from __future__ import annotations

import logging
import sys


def setup_logging(level: str = "INFO", service: str = "playledger") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
