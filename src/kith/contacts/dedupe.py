"""Duplicate keys: the normalised email, phones and name ``GET /contacts/duplicates`` groups by.

Pure (no I/O). The keys are stored on the contact row (``email_key``, ``phone_key``,
``mobile_key``, ``name_key``) by every write that changes their sources, so finding duplicates is
an index scan, never a recomputation. Changing a rule here means a migration that re-keys the
existing rows (see migration 0006's backfill).

Email (``email_key``): trimmed and lower-cased; ``googlemail.com`` is ``gmail.com``; for Gmail the
dots of the local part are dropped (Gmail ignores them). A ``+tag`` is dropped for every domain:
Gmail, Outlook/Exchange Online, iCloud, Fastmail and Proton deliver ``local+tag`` to ``local``,
so two contacts that differ only in a tag reach one mailbox. This list only proposes groups for a
person to review (nothing merges by itself), so the rare provider where ``+`` is part of a
distinct mailbox name costs one look, while missing the common case hides real duplicates. Dots
stay significant outside Gmail (``jo.ann@acme.com`` and ``joann@acme.com`` are two mailboxes).

Phone (``phone_key``, ``mobile_key``): the digits only (any Unicode decimal digit, as ASCII).
- An extension (``x12``, ``ext. 12``, ``#12`` at the end) is kept as ``x12`` after the number, so
  colleagues behind one switchboard are not proposed as duplicates.
- Written internationally (a leading ``+`` or ``00``), the key is the country code and number:
  ``+1 (555) 010-2030``, ``001 555 010 2030`` and ``15550102030`` all key to ``15550102030``;
  a trunk ``(0)`` inside an international number (``+44 (0)20 …``) is dropped, as are zeros
  right after the international prefix (country codes never start with 0).
- A national number (no ``+``/``00``) keys to its digits as written: Kith knows no country for it,
  so ``(555) 010-2030`` does *not* match ``+1 555 010 2030``. Guessing a country would group
  numbers of different countries that share their national digits; a per-org default calling
  code is the way to close this gap.
- Fewer than 7 digits, one digit repeated (``000 000 0000``) or over 64 characters is no key:
  too weak to identify a person, or not a phone number.
- ``mobile_key`` is left empty when it equals ``phone_key``, so a contact counts once per number.
  Duplicates by phone match any of a contact's numbers against any of another's.

Name (``name_key``): case-folded, accents removed (NFKD, combining marks dropped, and
ø→o, ł→l, đ→d, æ→ae, œ→oe, þ→th, ı→i), anything not a letter or digit is a space, and runs of
spaces become one: ``"  José  O'Brien-Smith"`` keys to ``"jose o brien smith"``. Alone it is not a
reason (names are common); with a shared company it is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

KEY_COLUMNS: tuple[str, ...] = ("email_key", "phone_key", "mobile_key", "name_key")
SOURCES: frozenset[str] = frozenset({"email", "phone", "mobile", "name"})

# Column widths (tables.py): the keys never exceed them.
EMAIL_KEY_MAX = 320
PHONE_KEY_MAX = 64
NAME_KEY_MAX = 200

GMAIL = "gmail.com"
_GMAIL_ALIASES = {"gmail.com": GMAIL, "googlemail.com": GMAIL}

MIN_PHONE_DIGITS = 7  # shorter is an internal extension or a placeholder, not a person's number
_EXTENSION = re.compile(r"(?:ext(?:ension)?\.?|x|#|;ext=)\s*(\d+)\s*$", re.IGNORECASE)
_TRUNK_IN_INTERNATIONAL = re.compile(r"\(\s*0\s*\)")

# Letters NFKD does not decompose, folded to what a person typing without them would write.
_FOLD = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ħ": "h", "ı": "i", "ŧ": "t", "ŀ": "l",
                       "æ": "ae", "œ": "oe", "þ": "th"})


def email_key(email: str | None) -> str | None:
    if email is None:
        return None
    text = email.strip().lower()
    if len(text) > EMAIL_KEY_MAX:
        return None  # not an address any mail system accepts
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        return text or None  # not an address: it matches only itself
    domain = domain.rstrip(".") or domain
    domain = _GMAIL_ALIASES.get(domain, domain)
    local = local.split("+", 1)[0] or local  # "+tag@…" alone: nothing to drop it from
    if domain == GMAIL:
        local = local.replace(".", "") or local
    return f"{local}@{domain}"


def _ascii_digits(text: str) -> str:
    return "".join(str(d) for d in (unicodedata.decimal(ch, None) for ch in text) if d is not None)


def phone_key(phone: str | None) -> str | None:
    if phone is None:
        return None
    text, extension = phone.strip(), ""
    match = _EXTENSION.search(text)
    if match is not None and _ascii_digits(text[: match.start()]):
        text, extension = text[: match.start()], "x" + _ascii_digits(match.group(1))
    first = next((ch for ch in text if ch == "+" or unicodedata.decimal(ch, None) is not None), "")
    international = first == "+"
    if international:
        text = _TRUNK_IN_INTERNATIONAL.sub("", text)
    digits = _ascii_digits(text)
    if international or digits.startswith("00"):
        digits = digits.lstrip("0")
    key = digits + extension
    if len(digits) < MIN_PHONE_DIGITS or len(set(digits)) == 1 or len(key) > PHONE_KEY_MAX:
        return None
    return key


def name_key(name: str | None) -> str | None:
    if name is None:
        return None
    # casefold before NFKD ("İ" folds to i + a combining dot, dropped next) and after it (NFKD
    # turns some caseless symbols into capitals: "ℌ" → "H").
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().translate(_FOLD)
    words = "".join(ch if ch.isalnum() else " " for ch in bare).split()
    return " ".join(words)[:NAME_KEY_MAX].rstrip() or None


def keys(record: Mapping[str, Any]) -> dict[str, str | None]:
    """Every key column's value for a contact with these fields (absent fields count as empty)."""
    phone, mobile = phone_key(record.get("phone")), phone_key(record.get("mobile"))
    return {
        "email_key": email_key(record.get("email")),
        "phone_key": phone,
        "mobile_key": None if mobile == phone else mobile,
        "name_key": name_key(record.get("name")),
    }


def changed_keys(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, str | None]:
    """The key columns to write with ``changes`` to a contact now holding ``current``: none unless
    a source field changes (then all of them, as their values depend on each other)."""
    if SOURCES.isdisjoint(changes):
        return {}
    return keys({**current, **changes})
