"""Password hashing: argon2id with RFC 9106's low-memory profile unless KITH_ARGON2_PROFILE says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kith.auth import keys


def test_by_default_passwords_hash_with_rfc_9106_low_memory_argon2id() -> None:
    env = {k: v for k, v in os.environ.items() if k != "KITH_ARGON2_PROFILE"}
    out = subprocess.run([sys.executable, "-c", "from kith.auth import keys; print(keys.hash_password('pw'))"],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_a_hash_made_with_one_profile_verifies_under_another() -> None:
    keys.use_profile("RFC_9106_LOW_MEMORY")
    try:
        strong = keys.hash_password("correct horse")
    finally:
        keys.use_profile(os.environ.get("KITH_ARGON2_PROFILE", "RFC_9106_LOW_MEMORY"))
    assert keys.verify_password(strong, "correct horse")
    assert not keys.verify_password(strong, "wrong horse")


@pytest.mark.parametrize("name", ["", "cheapest", "os.system", "__class__", "NOPE", "profiles"])
def test_an_unknown_profile_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="KITH_ARGON2_PROFILE"):
        keys.use_profile(name)
