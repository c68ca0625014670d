"""One controller per resource: jobs, their live stream, and operations (health, readiness, metrics)."""
