"""playledger executor service."""
