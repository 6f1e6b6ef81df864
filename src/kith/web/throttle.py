"""Login throttling: failed ``POST /login`` attempts counted per (client IP, email) and per IP.

Invariants:
- At most ``PAIR_LIMIT`` failures per (IP, email) and ``IP_LIMIT`` per IP inside a sliding
  ``WINDOW``; past either, the login is refused with 429 and ``Retry-After`` (seconds until the
  oldest counted failure leaves the window) *before* the password is checked.
- A successful login clears its (IP, email) counter only: a valid account of its own does not let
  an attacker reset the per-IP budget while it sprays other emails.
- Process-local memory (docs/web.md): N server processes allow up to N times the budget. The table
  holds at most ``MAX_KEYS`` keys (least recently touched dropped first), so a flood of fake
  addresses cannot grow memory without bound.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kith.core import clock

PAIR_LIMIT = 10  # failures per (IP, email): enough for typos, far too few to guess a password
IP_LIMIT = 50  # failures per IP across emails: slows credential stuffing from one address
WINDOW = timedelta(minutes=15)
MAX_KEYS = 100_000  # ~100 bytes of timestamps per key at most: a few MB worst case


@dataclass
class LoginThrottle:
    pair_limit: int = PAIR_LIMIT
    ip_limit: int = IP_LIMIT
    window: timedelta = WINDOW
    max_keys: int = MAX_KEYS
    _seen: OrderedDict[tuple[str, ...], deque[datetime]] = field(default_factory=OrderedDict)

    def retry_after(self, ip: str, email: str) -> int | None:
        """Seconds to wait when (IP, email) or the IP is over its budget; None when allowed."""
        now = clock.now()
        waits = [w for key, limit in self._keys(ip, email) if (w := self._wait(key, limit, now)) is not None]
        return max(waits) if waits else None

    def failed(self, ip: str, email: str) -> None:
        now = clock.now()
        for key, limit in self._keys(ip, email):
            times = self._seen.pop(key, None) or deque(maxlen=limit)
            times.append(now)
            self._seen[key] = times  # re-inserted last: the most recently touched
        while len(self._seen) > self.max_keys:
            self._seen.popitem(last=False)

    def succeeded(self, ip: str, email: str) -> None:
        self._seen.pop(("pair", ip, email.strip().lower()), None)

    def _keys(self, ip: str, email: str) -> tuple[tuple[tuple[str, ...], int], ...]:
        return (("pair", ip, email.strip().lower()), self.pair_limit), (("ip", ip), self.ip_limit)

    def _wait(self, key: tuple[str, ...], limit: int, now: datetime) -> int | None:
        times = self._seen.get(key)
        if times is None or len(times) < limit:
            return None
        free_at = times[0] + self.window  # the deque keeps the newest `limit` failures
        return math.ceil((free_at - now).total_seconds()) if free_at > now else None
