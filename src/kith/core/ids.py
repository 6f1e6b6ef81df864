"""Record ids: ``<type>_<26 chars>``, time-ordered (48-bit ms clock + 80 random bits, Crockford base32).

Time order keeps inserts at the right edge of every index and makes ``id`` a stable tie-breaker
for keyset pagination.
"""

from __future__ import annotations

import re
import secrets
import threading

from kith.core import clock

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_ID_RE = re.compile(r"^([a-z]+(?:_[a-z]+)*)_([0-9a-hjkmnp-tv-z]{26})$")


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


_lock = threading.Lock()
_last: tuple[int, int] = (-1, 0)  # (ms, random part) of the previous id made in this process


def new(prefix: str) -> str:
    """Ids made within the same millisecond stay in creation order (the random part counts up,
    as in monotonic ULIDs), so "newest first by id" holds for a burst of events too."""
    global _last
    ms = int(clock.now().timestamp() * 1000)
    with _lock:
        rand = _last[1] + 1 if ms == _last[0] and _last[1] + 1 < 1 << 80 else secrets.randbits(79)
        _last = (ms, rand)
    return f"{prefix}_{_encode((ms << 80) | rand, 26)}"


def has_prefix(value: str, prefix: str) -> bool:
    m = _ID_RE.match(value)
    return bool(m) and m is not None and m.group(1) == prefix


def token(nbytes: int = 24) -> str:
    """A random url-safe secret."""
    return secrets.token_urlsafe(nbytes)
