"""A 3-node nats-server cluster on loopback: each node its own client, route and monitoring port
and its own JetStream store, routes to every node; a node can be killed (-9) and restarted on
the same ports and store, and each node's own copy of a stream is read from its ``/jsz``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from playledger_cli.embedded import ClusterNode, NatsServer, free_port, wait_for_port
from playledger_schemas.subjects import EVENTS_STREAM

NODE_COMPONENTS: Final = ("nats-follower", "nats-leader")
"""Fault targets in a cluster: a follower, or the leader, of the events stream at that moment."""


@dataclass(frozen=True)
class StreamCopy:
    """One node's copy of a stream, as that node reports it."""

    node: str
    messages: int
    last_seq: int
    leader: str


class NatsCluster:
    """``size`` nats-server nodes named ``n1`` … under ``root``."""

    def __init__(self, root: Path, size: int = 3) -> None:
        routes = tuple(free_port() for _ in range(size))
        self.nodes = [
            NatsServer(
                store_dir=root / f"n{i + 1}",
                port=free_port(),
                cluster=ClusterNode(
                    name=f"n{i + 1}", route_port=routes[i], route_ports=routes, monitor_port=free_port()
                ),
            )
            for i in range(size)
        ]

    @property
    def url(self) -> str:
        """Every node's URL, comma-separated (``PLAYLEDGER_NATS_URL``)."""
        return ",".join(node.url for node in self.nodes)

    def node(self, name: str) -> NatsServer:
        return next(n for n in self.nodes if n.cluster is not None and n.cluster.name == name)

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        self.wait_ready()

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until every node answers ``/healthz?js-enabled-only=true`` (JetStream up, meta leader known)."""
        deadline = time.monotonic() + timeout_s
        for node in self.nodes:
            assert node.cluster is not None
            wait_for_port(node.host, node.cluster.monitor_port)
            while not _healthy(node):
                assert time.monotonic() < deadline, f"nats node {node.cluster.name} not healthy"
                time.sleep(0.1)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def copies(self, stream: str) -> list[StreamCopy]:
        """Each running node's own copy of ``stream`` (from its monitoring port)."""
        copies = []
        for node in self.nodes:
            if node.process is not None:
                copy = stream_copy(node, stream)
                if copy is not None:
                    copies.append(copy)
        return copies


def _monitor(node: NatsServer, path: str) -> httpx.Response | None:
    assert node.cluster is not None
    try:
        return httpx.get(f"http://{node.host}:{node.cluster.monitor_port}{path}", timeout=2.0)
    except httpx.TransportError:
        return None


def _healthy(node: NatsServer) -> bool:
    response = _monitor(node, "/healthz")
    return response is not None and response.status_code == 200


def stream_copy(node: NatsServer, stream: str) -> StreamCopy | None:
    """``node``'s copy of ``stream`` (``None`` when the node does not answer or has none yet)."""
    assert node.cluster is not None
    response = _monitor(node, "/jsz?streams=true")
    if response is None or response.status_code != 200:
        return None
    for account in response.json().get("account_details") or []:
        for detail in account.get("stream_detail") or []:
            if detail["name"] == stream:
                state = detail["state"]
                return StreamCopy(
                    node=node.cluster.name,
                    messages=state["messages"],
                    last_seq=state["last_seq"],
                    leader=(detail.get("cluster") or {}).get("leader", ""),
                )
    return None


async def _events_state(js: JetStreamContext, limit_s: float = 60.0) -> tuple[int, str, list[str]]:
    """The events stream's last seq, leader and current followers, retried while it has no leader."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            info = await asyncio.wait_for(js.stream_info(EVENTS_STREAM), timeout=1.5)
        except (TimeoutError, NatsError):  # during an election: timeouts, no responders, 503s
            info = None
        cluster = info.cluster if info is not None else None
        if info is None or cluster is None or not cluster.leader:
            assert time.monotonic() < deadline, "the events stream has no leader"
            await asyncio.sleep(0.1)
            continue
        followers = [peer.name for peer in cluster.replicas or [] if peer.current]
        return info.state.last_seq, cluster.leader, followers


async def events_node(js: JetStreamContext, cluster: NatsCluster, component: str) -> NatsServer:
    """The node that leads (``nats-leader``) or follows (``nats-follower``) the events stream now."""
    _, leader, followers = await _events_state(js)
    if component == "nats-leader":
        return cluster.node(leader)
    assert followers, "the events stream has no current follower"
    return cluster.node(followers[0])


async def writes_resume(js: JetStreamContext, limit_s: float) -> float | None:
    """Seconds from now until the events stream stores a new event (``None``: not within ``limit_s``)."""
    began = time.monotonic()
    last, _, _ = await _events_state(js)
    while time.monotonic() - began < limit_s:
        await asyncio.sleep(0.05)
        with _ignored():
            now, _, _ = await _events_state(js)
            if now > last:
                return time.monotonic() - began
    return None


async def caught_up(js: JetStreamContext, node: NatsServer, limit_s: float = 120.0) -> None:
    """Until ``node``'s own copy of the events stream holds every event stored when this began."""
    target, _, _ = await _events_state(js)
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        copy = await asyncio.to_thread(stream_copy, node, EVENTS_STREAM)
        if copy is not None and copy.last_seq >= target:
            return
        await asyncio.sleep(0.1)


async def check_copies(cluster: NatsCluster, limit_s: float = 60.0) -> list[str]:
    """Every node holds the same events stream (messages and last seq), once replication settles."""
    deadline = time.monotonic() + limit_s
    while True:
        copies = await asyncio.to_thread(cluster.copies, EVENTS_STREAM)
        states = {(c.messages, c.last_seq) for c in copies}
        if len(copies) == len(cluster.nodes) and len(states) == 1:
            return []
        if time.monotonic() > deadline:
            return [f"the nodes' copies of the events stream differ: {copies}"]
        await asyncio.sleep(0.2)


def _ignored() -> contextlib.AbstractContextManager[None]:
    return contextlib.suppress(AssertionError)
