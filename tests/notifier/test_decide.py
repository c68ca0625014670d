"""The notifier's pure decisions and its address rules."""

from __future__ import annotations

import ipaddress

import pytest
from playledger_notifier.decide import after_failure, backoff_s, callback_event, trigger_filters, wants
from playledger_notifier.guard import parse_allow, refusal

pytestmark = pytest.mark.unit


def test_what_triggers_a_callback() -> None:
    assert callback_event("job.succeeded") == "terminal"
    assert callback_event("job.rejected") == "terminal"
    assert callback_event("job.started") == "job.started"
    assert callback_event("runner.runner_on_failed") == "runner_on_failed"
    assert callback_event("runner.runner_on_ok") is None
    assert callback_event("job.queued") is None
    assert wants("job.failed", "https://ci/hook", ["terminal"])
    assert not wants("job.started", "https://ci/hook", ["terminal"])
    assert wants("job.started", "https://ci/hook", ["terminal", "job.started"])
    assert not wants("job.failed", None, ["terminal"])
    filters = trigger_filters()
    assert "playledger.append.job.*.job.succeeded" in filters
    assert "playledger.append.job.*.runner.runner_on_failed" in filters
    assert "playledger.append.job.*.job.queued" not in filters


def test_backoff_doubles_up_to_the_cap_and_jitter_stays_within_half() -> None:
    waits = [backoff_s(n, first_s=90, cap_s=6 * 3600, jitter=1.0) for n in range(1, 10)]
    assert waits[:3] == [90, 180, 360]
    assert waits[-1] == 6 * 3600
    assert sum(waits) / 3600 > 12  # ten attempts span about half a day or more
    assert backoff_s(3, first_s=90, cap_s=3600, jitter=0.0) == 180  # jitter never below half
    assert after_failure(9, 10) == "retry"
    assert after_failure(10, 10) == "dead"


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("169.254.169.254", "link-local"),
        ("10.0.0.1", "private"),
        ("192.168.1.10", "private"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
    ],
)
def test_private_loopback_and_metadata_addresses_are_refused(address: str, words: str) -> None:
    why = refusal(ipaddress.ip_address(address), [])
    assert why is not None
    assert words in why
    assert "PLAYLEDGER_WEBHOOK_ALLOW" in why


def test_the_allow_list_opens_exactly_what_it_names() -> None:
    allow = parse_allow("127.0.0.1, 10.1.0.0/16")
    assert refusal(ipaddress.ip_address("127.0.0.1"), allow) is None
    assert refusal(ipaddress.ip_address("10.1.2.3"), allow) is None
    assert refusal(ipaddress.ip_address("10.2.0.1"), allow) is not None
    assert refusal(ipaddress.ip_address("93.184.216.34"), []) is None
