"""Passwords (argon2) and API keys (random secret, stored as SHA-256, shown once).

API key format: ``kith_<key id>_<secret>``. The key id locates the row; the secret's SHA-256 is
compared in constant time. A plain hash is right here: the secret has 192 random bits, so a slow
hash would only slow every request without making a guess any harder.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError


# The argon2 cost profile, by argon2-cffi's name (``KITH_ARGON2_PROFILE``). The default is RFC 9106's
# low-memory profile; the test suite sets ``CHEAPEST`` (still argon2, verifiable by any profile, as
# the parameters travel in the hash) so that thousands of throwaway admins do not cost minutes.
def _hasher_for(profile: str) -> PasswordHasher:
    if not profile.isidentifier() or not profile.isupper() or not hasattr(profiles, profile):
        raise ValueError(f"KITH_ARGON2_PROFILE={profile!r} is not an argon2-cffi profile (argon2.profiles)")
    return PasswordHasher.from_parameters(getattr(profiles, profile))


_hasher = _hasher_for(os.environ.get("KITH_ARGON2_PROFILE", "RFC_9106_LOW_MEMORY"))


def use_profile(profile: str) -> None:
    """Hash new passwords with argon2-cffi's ``profile`` from now on (existing hashes still verify)."""
    global _hasher
    _hasher = _hasher_for(profile)

KEY_PREFIX = "kith_"
WIDGET_PREFIX = "pk_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_api_key(key_id: str) -> tuple[str, str]:
    """Return ``(full key shown once, stored hash)`` for a key row with id ``key_id``."""
    secret = secrets.token_urlsafe(24)
    return f"{KEY_PREFIX}{key_id}_{secret}", hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_api_key(key: str) -> tuple[str, str] | None:
    """``kith_<key id>_<secret>`` → ``(key id, secret)``; ``None`` when it is not of that shape."""
    if not key.startswith(KEY_PREFIX):
        return None
    rest = key[len(KEY_PREFIX) :]
    # key ids look like ``key_<26 chars>``; the secret follows the next underscore.
    if not rest.startswith("key_") or len(rest) < 4 + 26 + 2:
        return None
    key_id, sep, secret = rest[: 4 + 26], rest[4 + 26 : 4 + 26 + 1], rest[4 + 26 + 1 :]
    if sep != "_" or not secret:
        return None
    return key_id, secret


def secret_matches(stored_hash: str, secret: str) -> bool:
    return hmac.compare_digest(stored_hash, hash_secret(secret))


def new_widget_key() -> str:
    return WIDGET_PREFIX + secrets.token_urlsafe(18)
