"""What a person types: the ``playledger`` CLI, its HTTP client and live view, replay, ``playledger dev``."""
