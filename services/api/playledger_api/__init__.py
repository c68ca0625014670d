"""playledger api service."""
