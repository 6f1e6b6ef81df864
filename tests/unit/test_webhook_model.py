"""The pure webhook rules: signatures, the retry schedule, the address policy, subscriptions."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kith.webhooks import model


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"id":"evt_1"}'
    header = model.signature_header("whsec_x", 1700000000, body)
    expected = hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert model.verify("whsec_x", header, body)
    assert model.verify("whsec_x", header, body, now=1700000100)
    assert not model.verify("whsec_x", header, body, now=1700001000)  # too old: a replayed request
    assert not model.verify("whsec_y", header, body)
    assert not model.verify("whsec_x", header, body + b" ")
    assert not model.verify("whsec_x", "garbage", body)


@given(st.binary(max_size=200), st.text(min_size=1, max_size=40), st.integers(0, 2**40))
def test_every_signature_verifies_with_its_secret_only(body: bytes, secret: str, t: int) -> None:
    header = model.signature_header(secret, t, body)
    assert model.verify(secret, header, body)
    assert not model.verify(secret + "x", header, body)


@pytest.mark.parametrize("failed, delay", [(0, None), (1, 10), (2, 60), (6, 21600), (7, None)])
def test_the_default_schedule(failed: int, delay: int | None) -> None:
    assert model.next_delay(model.DEFAULT_BACKOFF, failed) == delay


@given(st.lists(st.integers(0, 10**6), max_size=10))
def test_a_delivery_is_tried_once_more_than_the_schedule_has_steps(schedule: list[int]) -> None:
    attempts = 1
    while model.next_delay(schedule, attempts) is not None:
        attempts += 1
    assert attempts == len(schedule) + 1


@pytest.mark.parametrize("address, private", [
    ("127.0.0.1", True), ("10.0.0.1", True), ("172.16.0.1", True), ("192.168.1.1", True),
    ("169.254.169.254", True), ("100.64.0.1", True), ("0.0.0.0", True), ("224.0.0.1", True),
    ("::1", True), ("fe80::1%eth0", True), ("fd00::1", True), ("::ffff:10.0.0.1", True), ("::", True),
    ("93.184.216.34", False), ("8.8.8.8", False), ("2606:4700:4700::1111", False),
])
def test_private_addresses(address: str, private: bool) -> None:
    assert model.is_private_address(address) is private


def test_refusal_names_the_reason_unless_private_targets_are_allowed() -> None:
    target = model.parse_target("http://hooks.example.com/x")
    assert model.refusal(target, ["93.184.216.34"], allow_private=False) is None
    assert "10.0.0.5" in (model.refusal(target, ["93.184.216.34", "10.0.0.5"], allow_private=False) or "")
    assert model.refusal(target, ["10.0.0.5"], allow_private=True) is None
    assert model.refusal(model.parse_target("http://LOCALHOST./"), [], allow_private=False)


@pytest.mark.parametrize("url", ["ftp://x.com/", "http://", "https://:80/", "http://a b/", "x" * 3000,
                                 "http://x.com:99999/", "http://x.com/#frag", "javascript:alert(1)"])
def test_unusable_urls(url: str) -> None:
    with pytest.raises(ValueError):
        model.parse_target(url)


def test_parse_target_defaults_ports() -> None:
    assert model.parse_target("https://Example.com/x") == model.Target("https", "example.com", 443)
    assert model.parse_target("http://[::1]:8080/") == model.Target("http", "::1", 8080)


@pytest.mark.parametrize("subscribed, event_type, hit", [
    (["*"], "deal.won", True), (["deal.*"], "deal.won", True), (["deal.*"], "lead.converted", False),
    (["deal.won"], "deal.won", True), (["deal.won"], "deal.lost", False), ([], "deal.won", False),
])
def test_matching(subscribed: list[str], event_type: str, hit: bool) -> None:
    assert model.matches(subscribed, event_type) is hit


def test_only_2xx_delivers_and_the_streak_threshold() -> None:
    assert [model.is_success(c) for c in (200, 204, 299, 301, 302, 404, 500)] == [True] * 3 + [False] * 4
    assert not model.should_disable(49, 50) and model.should_disable(50, 50)
    assert not model.should_disable(10**6, 0)  # 0 turns auto-disable off
