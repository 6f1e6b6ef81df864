"""The duplicate keys (kith.contacts.dedupe): examples of each rule, and properties over any input."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kith.contacts import dedupe
from kith.contacts.dedupe import email_key, name_key, phone_key

# --- email -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("email", "key"), [
    pytest.param("Ada@Example.com", "ada@example.com", id="case"),
    pytest.param("  ada@example.com ", "ada@example.com", id="spaces"),
    pytest.param("John.Smith@gmail.com", "johnsmith@gmail.com", id="gmail-dots"),
    pytest.param("j.o.h.n.smith+crm@gmail.com", "johnsmith@gmail.com", id="gmail-dots-and-tag"),
    pytest.param("john.smith@googlemail.com", "johnsmith@gmail.com", id="googlemail-is-gmail"),
    pytest.param("john.smith@gmail.com.", "johnsmith@gmail.com", id="trailing-dot-domain"),
    pytest.param("jo.ann@acme.com", "jo.ann@acme.com", id="dots-matter-elsewhere"),
    pytest.param("jo.ann+newsletter@acme.com", "jo.ann@acme.com", id="tag-dropped-everywhere"),
    pytest.param("a+b+c@acme.com", "a@acme.com", id="first-plus-starts-the-tag"),
    pytest.param("+tag@acme.com", "+tag@acme.com", id="nothing-before-the-tag"),
    pytest.param("...@gmail.com", "...@gmail.com", id="only-dots"),
    pytest.param("not-an-address", "not-an-address", id="no-at"),
    pytest.param("", None, id="empty"),
    pytest.param(None, None, id="none"),
    pytest.param("a" * 321, None, id="too-long"),
])
def test_email_keys(email: str | None, key: str | None) -> None:
    assert email_key(email) == key


def test_gmail_addresses_differing_in_dots_and_tags_share_a_key() -> None:
    assert len({email_key(e) for e in ("johnsmith@gmail.com", "John.Smith@Gmail.com", "johnsmith+work@gmail.com",
                                       "j.ohn.smith+x+y@googlemail.com")}) == 1
    assert email_key("jo.hn@acme.com") != email_key("john@acme.com")


# --- phone -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("phone", "key"), [
    pytest.param("+1 (555) 010-2030", "15550102030", id="international"),
    pytest.param("15550102030", "15550102030", id="digits-with-country-code"),
    pytest.param("001 555 010 2030", "15550102030", id="00-prefix"),
    pytest.param("+1.555.010.2030", "15550102030", id="dots"),
    pytest.param("+44 (0)20 7946 0958", "442079460958", id="trunk-zero-in-international"),
    pytest.param("+0044 20 7946 0958", "442079460958", id="zeros-after-the-prefix"),
    pytest.param("020 7946 0958", "02079460958", id="national-kept-as-written"),
    pytest.param("(555) 010-2030", "5550102030", id="national-without-country-code"),
    pytest.param("555-0100 x12", "5550100x12", id="extension-x"),
    pytest.param("555 0100 ext. 12", "5550100x12", id="extension-ext"),
    pytest.param("555 0100 #12", "5550100x12", id="extension-hash"),
    pytest.param("+١ ٥٥٥ ٠١٠ ٢٠٣٠", "15550102030", id="arabic-indic-digits"),
    pytest.param("123 45", None, id="too-short"),
    pytest.param("000 000 0000", None, id="one-digit-repeated"),
    pytest.param("x12", None, id="only-an-extension"),
    pytest.param("n/a", None, id="no-digits"),
    pytest.param("1" + "2" * 70, None, id="too-long"),
    pytest.param(None, None, id="none"),
])
def test_phone_keys(phone: str | None, key: str | None) -> None:
    assert phone_key(phone) == key


def test_a_contact_counts_once_when_phone_and_mobile_are_one_number() -> None:
    keys = dedupe.keys({"phone": "+1 555 010 2030", "mobile": "15550102030"})
    assert keys["phone_key"] == "15550102030" and keys["mobile_key"] is None
    assert dedupe.keys({"mobile": "+1 555 010 2030"})["mobile_key"] == "15550102030"


# --- name --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "key"), [
    pytest.param("  José  O'Brien-Smith ", "jose o brien smith", id="accents-punctuation-spaces"),
    pytest.param("ZOË ÅSTRÖM", "zoe astrom", id="capitals-with-accents"),
    pytest.param("Łukasz Øster Straße", "lukasz oster strasse", id="letters-nfkd-keeps"),
    pytest.param("İlkay Gündoğan", "ilkay gundogan", id="dotted-capital-i"),
    pytest.param("Æsa Œuvre", "aesa oeuvre", id="ligatures"),
    pytest.param("李小龍", "李小龍", id="no-spaces-script"),
    pytest.param(" -- ", None, id="no-letters"),
    pytest.param(None, None, id="none"),
])
def test_name_keys(name: str | None, key: str | None) -> None:
    assert name_key(name) == key


# --- which writes re-key ---------------------------------------------------------------------------------


def test_keys_change_only_when_a_source_field_changes() -> None:
    current = {"name": "Ada", "email": "ada@example.com", "phone": None, "mobile": "+44 7700 900123"}
    assert dedupe.changed_keys(current, {"stage": "qualified", "lead_score": 50}) == {}
    changed = dedupe.changed_keys(current, {"phone": "+44 7700 900123"})
    assert changed == {"email_key": "ada@example.com", "phone_key": "447700900123", "mobile_key": None,
                       "name_key": "ada"}


# --- properties -------------------------------------------------------------------------------------------

local_parts = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)
domains = st.from_regex(r"[a-z0-9-]{1,12}\.(com|org|test)", fullmatch=True) | st.sampled_from(
    ["gmail.com", "googlemail.com"])
tags = st.from_regex(r"[a-z0-9._-]{0,10}", fullmatch=True)
national = st.from_regex(r"[1-9][0-9]{6,11}", fullmatch=True).filter(lambda d: len(set(d)) > 1)
separators = st.sampled_from([" ", "-", ".", "/", "", "  "])


@given(st.text(max_size=400))
def test_every_key_is_stable_under_rekeying(text: str) -> None:
    for fn in (email_key, phone_key, name_key):
        key = fn(text)
        assert key is None or fn(key) == key


@given(st.text(max_size=400))
def test_keys_fit_their_columns(text: str) -> None:
    for fn, width in ((email_key, dedupe.EMAIL_KEY_MAX), (phone_key, dedupe.PHONE_KEY_MAX),
                      (name_key, dedupe.NAME_KEY_MAX)):
        key = fn(text)
        assert key is None or 0 < len(key) <= width


@given(local_parts, domains, tags)
def test_case_and_tags_never_split_an_email_group(local: str, domain: str, tag: str) -> None:
    plain = email_key(f"{local}@{domain}")
    assert email_key(f"{local}+{tag}@{domain}".upper()) == plain


@given(local_parts, st.sets(st.integers(0, 20)))
def test_dots_never_split_a_gmail_group(local: str, positions: set[int]) -> None:
    dotted = "".join(f".{ch}" if i in positions else ch for i, ch in enumerate(local))
    assert email_key(f"{dotted}@gmail.com") == email_key(f"{local}@googlemail.com")


@given(national, st.lists(separators, min_size=12, max_size=12))
def test_formatting_never_changes_a_phone_key(digits: str, seps: list[str]) -> None:
    formatted = "".join(d + s for d, s in zip(digits, seps, strict=False))
    assert phone_key(formatted) == phone_key(digits) == digits
    assert phone_key("+" + formatted) == phone_key("00" + digits) == phone_key("+" + digits)


@given(st.text(max_size=100))
def test_phone_keys_are_ascii_digits_with_an_optional_extension(text: str) -> None:
    key = phone_key(text)
    assert key is None or re.fullmatch(r"[0-9]{7,}(x[0-9]+)?", key)


@given(st.text(st.characters(categories=["L", "N", "Zs", "P"]), max_size=60))
def test_case_spacing_and_punctuation_never_split_a_name_group(name: str) -> None:
    assert name_key(f"  {name.upper()}  ") == name_key(name.lower()) == name_key(name.replace(" ", " ,  "))
