"""The pure core of SSE delivery: exactly once, in order, whatever the sources overlap."""

from __future__ import annotations

import random

import pytest

from playledger_api.backlog import Entry, Ring, feed_floor, take
from playledger_api.sse import entry

pytestmark = pytest.mark.unit


def ev(seq: int, *, terminal: bool = False) -> Entry:
    return Entry(seq=seq, message=b"<%d>" % seq, terminal=terminal)


def test_take_skips_what_was_sent_and_joins_the_rest_in_one_chunk() -> None:
    piece = take([ev(3), ev(5), ev(8), ev(9)], after=5)
    assert piece is not None
    assert (piece.chunk, piece.last, piece.count, piece.finished) == (b"<8><9>", 9, 2, False)
    assert take([ev(3), ev(5)], after=5) is None
    assert take([], after=0) is None


def test_take_ends_at_the_terminal_event_and_respects_the_limit() -> None:
    piece = take([ev(1), ev(2, terminal=True), ev(3)], after=0)
    assert piece is not None
    assert (piece.chunk, piece.last, piece.finished) == (b"<1><2>", 2, True)
    limited = take([ev(n) for n in range(1, 10)], after=0, limit=4)
    assert limited is not None
    assert (limited.last, limited.count) == (4, 4)


def test_take_ignores_a_replayed_overlap_after_a_consumer_reset() -> None:
    piece = take([ev(4), ev(6), ev(4), ev(6), ev(7)], after=0)
    assert piece is not None
    assert piece.chunk == b"<4><6><7>"


def test_the_terminal_entry_carries_the_end_event() -> None:
    done = entry("j1", 42, "playledger.append.job.j1.job.succeeded", b'{"x":1}')
    assert done.terminal
    assert done.message.startswith(b'id: 42\nevent: job.succeeded\ndata: {"x":1}\n\nevent: end\n')
    assert b'"last_event_id":42' in done.message
    ok = entry("j1", 7, "playledger.append.job.j1.runner.runner_on_ok", b"{}")
    assert (ok.terminal, ok.message) == (False, b"id: 7\nevent: runner_on_ok\ndata: {}\n\n")


def test_a_ring_covers_everything_above_its_floor_and_drops_the_oldest_when_full() -> None:
    ring = Ring(capacity=8, floor=10)
    assert ring.covers(10)
    assert ring.covers(500)
    assert not ring.covers(9)
    assert ring.after(10) is None
    for seq in range(11, 19):
        assert ring.append(ev(seq))
    assert (len(ring), ring.floor) == (8, 10)
    assert ring.append(ev(19))  # one over: the oldest eighth (at least one) goes
    assert (len(ring), ring.floor) == (8, 11)
    assert not ring.covers(10)
    with pytest.raises(ValueError, match="below the ring's floor"):
        ring.after(10)
    piece = ring.after(11)
    assert piece is not None
    assert piece.chunk == b"".join(b"<%d>" % n for n in range(12, 20))


def test_a_ring_ignores_events_it_already_holds() -> None:
    ring = Ring(capacity=4, floor=0)
    assert ring.append(ev(3))
    assert not ring.append(ev(3))
    assert not ring.append(ev(2))
    assert (ring.head, len(ring)) == (3, 1)


def test_clients_in_step_share_one_chunk_until_the_ring_changes() -> None:
    ring = Ring(capacity=16, floor=0)
    ring.append(ev(1))
    ring.append(ev(2))
    first = ring.after(1)
    assert first is not None
    assert ring.after(1) is first
    ring.append(ev(3))
    second = ring.after(1)
    assert second is not None
    assert second.chunk == b"<2><3>"


def test_a_new_feed_starts_at_the_client_when_the_history_fits_else_at_the_latest_event() -> None:
    assert feed_floor(0, 100, capacity=256) == 0
    assert feed_floor(40, 100, capacity=256) == 40
    assert feed_floor(500, 100, capacity=256) == 100  # resuming past the job's end
    assert feed_floor(0, 10_000, capacity=256) == 10_000


@pytest.mark.parametrize("seed", range(20))
def test_backlog_then_live_with_overlaps_and_lag_yields_every_event_once_in_order(seed: int) -> None:
    """A client joins at a random point, replays the gap, reads the ring, falls behind, catches up."""
    rnd = random.Random(seed)
    stream = sorted(rnd.sample(range(1, 2000), 300))  # the job's events among other jobs' sequences
    events = [ev(seq, terminal=seq == stream[-1]) for seq in stream]
    start = rnd.choice([0, *stream[:50]])
    ring = Ring(capacity=rnd.randint(1, 40), floor=feed_floor(start, stream[20], 40))
    published = 21  # the feed starts with the job's history up to stream[20] in the stream
    for event in events[:published]:
        if event.seq > ring.floor:
            ring.append(event)
    sent: list[int] = []
    position = start
    while not sent or sent[-1] != stream[-1]:
        arriving = events[published : published + rnd.randint(0, 30)]
        for event in arriving:
            ring.append(event)
        published += len(arriving)
        if ring.covers(position):
            piece = ring.after(position, limit=rnd.randint(1, 10))
        else:  # its own consumer: from the position, possibly replaying a little of what was sent
            replay_from = max(0, len([s for s in stream if s <= position]) - rnd.randint(0, 3))
            piece = take(events[replay_from:published], position, limit=rnd.randint(1, 10))
        if piece is not None:
            sent += [int(part) for part in piece.chunk.strip(b"<>").split(b"><")]
            position = piece.last
    assert sent == [s for s in stream if s > start]
