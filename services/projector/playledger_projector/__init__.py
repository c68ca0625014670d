"""playledger projector service."""
