"""Outbound webhooks, the pure part: signatures, the retry schedule, the address policy and the
auto-disable rule. No I/O here (the delivery worker and the service call these).

Invariants:
- A delivery body is signed as ``HMAC-SHA256(secret, "<t>.<raw body>")`` and sent in the header
  ``Kith-Signature: t=<unix seconds>,v1=<hex>`` (DESIGN §5.4); ``verify`` is what a receiver runs.
- Attempt ``n`` (1-based) that fails is retried after ``schedule[n-1]`` seconds; after the last
  entry the delivery is given up (``failed``): ``len(schedule) + 1`` attempts in all.
- An address is "private" when it is not globally routable (loopback, RFC 1918, link-local,
  unique-local, CGNAT, multicast, unspecified, reserved, IPv4-mapped private ...). Such targets are
  refused unless the operator sets ``KITH_WEBHOOKS_ALLOW_PRIVATE=true``.
- A subscription is disabled after ``threshold`` consecutive failed attempts; one success resets
  the count.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

SIGNATURE_HEADER = "Kith-Signature"
EVENT_ID_HEADER = "Kith-Event-Id"
EVENT_TYPE_HEADER = "Kith-Event-Type"
DELIVERY_ID_HEADER = "Kith-Delivery-Id"

# Seconds to wait after failed attempt 1, 2, ...: 10 s, 1 min, 5 min, 30 min, 2 h, 6 h (about 8.5 h
# in all), long enough to ride out a receiver's deploy or a short outage without flooding it.
DEFAULT_BACKOFF: tuple[int, ...] = (10, 60, 300, 1800, 7200, 21600)
# Consecutive failed attempts (across all of a subscription's deliveries) that disable it.
DEFAULT_DISABLE_AFTER = 50

MAX_URL_LENGTH = 2000
SCHEMES = frozenset({"http", "https"})
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})

Status = str  # pending | succeeded | failed
STATUSES: tuple[Status, ...] = ("pending", "succeeded", "failed")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, *, now: int | None = None, tolerance: int = 300) -> bool:
    """What a receiver does: recompute the HMAC and compare in constant time; with ``now``, also
    refuse a timestamp more than ``tolerance`` seconds away (replayed requests)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if now is not None and abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(parts.get("v1", ""), signature(secret, timestamp, body))


def next_delay(schedule: Sequence[int], failed_attempts: int) -> int | None:
    """Seconds until the next try after ``failed_attempts`` failures; ``None``: give up."""
    if failed_attempts < 1 or failed_attempts > len(schedule):
        return None
    return schedule[failed_attempts - 1]


def should_disable(consecutive_failures: int, threshold: int) -> bool:
    return threshold > 0 and consecutive_failures >= threshold


def is_success(status_code: int) -> bool:
    """Only a 2xx answer delivers; a 3xx is not followed (a redirect could point anywhere)."""
    return 200 <= status_code < 300


def is_private_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lower-cased; IPv6 without brackets
    port: int

    @property
    def is_ip_literal(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True


def parse_target(url: str) -> Target:
    """The scheme, host and port of a webhook URL; ``ValueError`` with a reason when unusable."""
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ValueError("the URL may not contain whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError("the URL must start with http:// or https://")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise ValueError("the URL has no host")
    if parts.fragment:
        raise ValueError("the URL may not carry a #fragment")
    return Target(scheme, host, port or (443 if scheme == "https" else 80))


def refusal(target: Target, addresses: Iterable[str], *, allow_private: bool) -> str | None:
    """Why this target may not be called (``None``: it may). ``addresses`` are what its host
    resolved to (for an IP literal, the literal itself)."""
    if allow_private:
        return None
    if target.host in LOCAL_NAMES or target.host.endswith(".localhost"):
        return f"{target.host} is a loopback name; private targets are refused"
    for address in addresses:
        if is_private_address(address):
            return (f"{target.host} resolves to the private address {address}; set "
                    "KITH_WEBHOOKS_ALLOW_PRIVATE=true to allow private targets")
    return None


def matches(subscribed: Iterable[str], event_type: str) -> bool:
    """``*`` is every type; ``deal.*`` every type of one noun; anything else an exact type."""
    noun = event_type.split(".", 1)[0]
    return any(s == "*" or s == event_type or s == f"{noun}.*" for s in subscribed)
