"""Runtime plumbing shared by the services: settings, NATS, embedded servers, CLI."""
