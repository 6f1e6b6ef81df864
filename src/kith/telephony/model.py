"""Inbound telephony, the pure part: phone numbers to E.164 and the signature check. No I/O.

- Numbers are accepted written internationally only (``+``/``00`` then the country code): a
  provider always knows the country; guessing one for a national number could match a contact of
  another country. ``e164`` reuses the duplicate-detection phone key (``kith.contacts.dedupe``),
  so a call matches exactly the contacts the duplicate finder would group with that number
  (``phone_key``/``mobile_key``). An extension (``x12``) is dropped: a call reaches the line.
- Signatures are the outgoing webhooks' scheme (``Kith-Signature: t=<unix s>,v1=<hex
  HMAC-SHA256(secret, "<t>.<raw body>")>``) with a replay window of ``TOLERANCE_SECONDS``.
"""

from __future__ import annotations

import re

from kith.contacts.dedupe import phone_key
from kith.webhooks.model import signature
from kith.webhooks.model import verify as verify_signature

SIGNATURE_HEADER = "Kith-Signature"
TOLERANCE_SECONDS = 300  # a signed request older (or newer) than 5 minutes is refused as a replay
E164_MAX_DIGITS = 15
E164_MIN_DIGITS = 8  # country code + the shortest national numbers in use
_INTERNATIONAL = re.compile(r"^\s*(?:\+|00)")


def e164(raw: str) -> str | None:
    """``+<digits>`` for an internationally written number, else ``None``."""
    if not _INTERNATIONAL.match(raw):
        return None
    key = phone_key(raw)
    if key is None:
        return None
    digits = key.split("x", 1)[0]
    if not E164_MIN_DIGITS <= len(digits) <= E164_MAX_DIGITS:
        return None
    return f"+{digits}"


def match_key(number: str) -> str:
    """The ``phone_key`` an E.164 number has on a contact."""
    return number.lstrip("+")


def check_signature(secret: str, header: str | None, body: bytes, now: int) -> str | None:
    """Why the request is refused (``None``: it is authentic and fresh)."""
    if not header:
        return f"sign the request: {SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256>"
    parts = dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return f"{SIGNATURE_HEADER} must be t=<unix seconds>,v1=<hex>"
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return f"the signature timestamp is more than {TOLERANCE_SECONDS} s away from now (replay?)"
    if not verify_signature(secret, header, body):
        return "the signature does not match the body"
    return None


__all__ = ["SIGNATURE_HEADER", "check_signature", "e164", "match_key", "signature"]
