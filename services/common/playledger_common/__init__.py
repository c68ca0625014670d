"""Runtime every service shares: settings, NATS, streams, errors, logging, paths, read-model schema."""
