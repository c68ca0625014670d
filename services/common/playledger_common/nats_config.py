"""nats-server configuration for deployments, derived from ``nats_users`` (never re-typed).

Two renderings of the same users and permissions:

- ``server_config``: a complete nats-server config file (docker-compose): JetStream,
  monitoring, the role users with their passwords, optionally a cluster whose routes
  authenticate with their own password;
- ``helm_values``: values for the official NATS Helm chart (nats-io/k8s): a 3-node JetStream
  cluster with the same users, each password read from a Kubernetes Secret through an
  environment variable (``<< $VAR >>`` is the chart's syntax for an unquoted ``$VAR``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from playledger_common.nats_users import ROLES, NatsUser, Role, user_entries

CLIENT_PORT: Final = 4222
CLUSTER_PORT: Final = 6222
MONITOR_PORT: Final = 8222
MAX_PAYLOAD: Final = 1024 * 1024
"""As ``streams.MAX_MESSAGE_BYTES``: the largest event or command."""
CLUSTER_NAME: Final = "playledger"
ROUTE_USER: Final = "route"

USERS_SECRET: Final = "playledger-nats-users"  # noqa: S105 - a Secret's name
"""The Kubernetes Secret holding one key per role (its password)."""
CHART_REPLICAS: Final = 3


@dataclass(frozen=True)
class Cluster:
    """The nodes' host names (each route is ``nats://route:<password>@<host>:6222``)."""

    hosts: Sequence[str]
    route_password: str


def server_config(
    users: Mapping[Role, NatsUser],
    store_dir: str,
    cluster: Cluster | None = None,
    ports: tuple[int, int] = (CLIENT_PORT, MONITOR_PORT),
) -> str:
    """A nats-server config (client and monitoring ``ports``); each node gets its own name on the
    command line (``--server_name``)."""
    entries = user_entries({role: u.password for role, u in users.items()})
    lines = [
        f"port: {ports[0]}",
        f"http_port: {ports[1]}",
        f"max_payload: {MAX_PAYLOAD}",
        f"jetstream {{\n  store_dir: {json.dumps(store_dir)}\n}}",
        "authorization {\n  users = [\n    " + ",\n    ".join(json.dumps(e) for e in entries) + "\n  ]\n}",
    ]
    if cluster is not None:
        routes = [f"nats://{ROUTE_USER}:{cluster.route_password}@{h}:{CLUSTER_PORT}" for h in cluster.hosts]
        lines.append(
            "cluster {\n"
            f"  name: {CLUSTER_NAME}\n"
            f"  port: {CLUSTER_PORT}\n"
            f"  authorization {{ user: {ROUTE_USER}, password: {json.dumps(cluster.route_password)} }}\n"
            f"  routes: {json.dumps(routes)}\n"
            "}"
        )
    return "\n".join(lines) + "\n"


def password_variable(role: Role) -> str:
    """The nats container's environment variable holding ``role``'s password (from ``USERS_SECRET``)."""
    return f"PLAYLEDGER_NATS_{role.upper()}_PASSWORD"


def helm_values() -> dict[str, object]:
    """Values for the ``nats`` chart: 3 nodes, JetStream on persistent volumes, our role users."""
    entries = user_entries({role: f"<< ${password_variable(role)} >>" for role in ROLES})
    env = {
        password_variable(role): {"valueFrom": {"secretKeyRef": {"name": USERS_SECRET, "key": role}}}
        for role in ROLES
    }
    return {
        "config": {
            "cluster": {"enabled": True, "replicas": CHART_REPLICAS},
            "jetstream": {
                "enabled": True,
                "fileStore": {"enabled": True, "pvc": {"enabled": True, "size": "10Gi"}},
            },
            "monitor": {"enabled": True, "port": MONITOR_PORT},
            "merge": {"max_payload": MAX_PAYLOAD, "authorization": {"users": entries}},
        },
        "container": {"env": env},
        # nats-box would connect anonymously, which these users refuse; use `playledger nats-creds`
        "natsBox": {"enabled": False},
        "podDisruptionBudget": {"enabled": True},
    }
