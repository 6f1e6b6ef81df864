"""Small validators shared by schemas: email normalisation, ISO codes, timezones.

Email: a CRM stores the addresses people give it, including special-use domains such as
``.test`` or ``.local`` (pydantic's EmailStr refuses those). We require one ``@``, no spaces, a
dot in the domain, and at most 320 characters, and store it lower-cased.
"""

from __future__ import annotations

import re
import zoneinfo

_EMAIL_RE = re.compile(r"^[^@\s<>(),;:\"]+@[^@\s<>(),;:\"]+\.[^@\s<>(),;:\".]+$")
CURRENCIES = frozenset(
    "AED ARS AUD BDT BGN BRL CAD CHF CLP CNY COP CZK DKK EGP EUR GBP HKD HUF IDR ILS INR ISK JPY KES "
    "KRW MAD MXN MYR NGN NOK NZD PEN PHP PKR PLN QAR RON RSD RUB SAR SEK SGD THB TRY TWD UAH USD "
    "VND ZAR".split()
)


def normalise_email(value: str) -> str:
    email = value.strip().lower()
    if len(email) > 320 or not _EMAIL_RE.match(email):
        raise ValueError("not a valid email address")
    return email


def check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA timezone {value!r}") from exc
    return value


def check_currency(value: str) -> str:
    code = value.strip().upper()
    if code not in CURRENCIES:
        raise ValueError(f"unknown ISO 4217 currency {value!r}")
    return code


def check_storable(value: object) -> object:
    """Refuse what no backend can store or JSON cannot carry, anywhere inside ``value``: U+0000
    (PostgreSQL text and jsonb refuse it), lone surrogates (not UTF-8) and NaN/Infinity (not JSON)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text may not contain NUL (U+0000) characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("NaN and Infinity are not JSON numbers")
    elif isinstance(value, dict):
        for k, v in value.items():
            check_storable(k)
            check_storable(v)
    elif isinstance(value, list | tuple):
        for v in value:
            check_storable(v)
    return value
