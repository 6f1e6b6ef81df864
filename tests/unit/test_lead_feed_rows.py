"""The feed's fast paths give exactly what the slow ones gave: a new contact's row is what
``ContactCreate`` makes of the feed's person (the feed no longer validates it a second time), and a
batch validated in one call parses to the same leads and per-lead errors as leads validated alone."""

from __future__ import annotations

from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kith.contacts.schemas import ContactCreate
from kith.contacts.service import KIND as CONTACT
from kith.leads import feed
from kith.leads.schemas import FeedContact

text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=0, max_size=12)
local = st.from_regex(r"\A[a-z0-9._+-]{1,12}\Z")
emails = st.builds(lambda lp, d: f"{lp}@{d}.example", local, st.from_regex(r"\A[a-z]{1,8}\Z"))
phones = st.from_regex(r"\A[0-9+()./ x#*-]{3,20}\Z")
people = st.fixed_dictionaries({"email": emails}, optional={
    "name": text.filter(lambda s: s.strip()), "first_name": text, "last_name": text, "phone": phones,
    "mobile": phones, "title": text})


def slow_row(person: FeedContact, source: str | None, owner: str | None) -> dict[str, Any]:
    """What the feed did before: ContactCreate over the person's fields, onto every column."""
    fields = person.model_dump(exclude_none=True)
    fields.setdefault("name", person.email.split("@")[0][:200])
    values = ContactCreate.model_validate({**fields, "source": source, "owner_id": owner}).model_dump()
    row: dict[str, Any] = {c.name: None for c in CONTACT.columns}
    row.update({k: v for k, v in values.items() if k in row})
    row.update(custom_fields={})
    return row


@settings(max_examples=300, deadline=None)
@given(people, st.one_of(st.none(), st.sampled_from(["scraper", "form"])), st.one_of(st.none(), st.just("user_1")))
def test_a_new_contacts_row_is_what_contact_create_makes_of_the_person(body: dict[str, Any], source: str | None,
                                                                      owner: str | None) -> None:
    try:
        person = FeedContact.model_validate(body)
    except ValidationError:
        assume(False)  # the feed refuses the lead before any contact is made
    fast = feed.new_contact_row(person, source, owner)
    slow = slow_row(person, source, owner)
    assert fast == slow
    assert list(fast) == list(slow)  # the contact.created event's "after" keeps its key order


def test_new_contact_rows_share_no_mutable_defaults() -> None:
    person = FeedContact.model_validate({"email": "a@b.example"})
    one, two = feed.new_contact_row(person, None, None), feed.new_contact_row(person, None, None)
    for k in ("tags", "metadata", "custom_fields"):
        assert one[k] == two[k] and one[k] is not two[k]


lead = st.fixed_dictionaries({"contact": st.fixed_dictionaries({"email": st.one_of(emails, st.just("nope"))})},
                             optional={"external_key": st.one_of(text, st.just("")),
                                       "score": st.integers(-5, 105), "title": text, "colour": st.just("red"),
                                       "payload": st.dictionaries(text, st.integers(), max_size=2)})
batches = st.lists(st.one_of(lead, st.just("not an object"), st.just({"contact_id": "c", "contact": {}})),
                   min_size=1, max_size=8)


def outcome(items: list[feed.Item]) -> list[Any]:
    return [(it.index, it.cmd.model_dump() if it.cmd else None, it.result() if it.error else None) for it in items]


@settings(max_examples=200, deadline=None)
@given(batches)
def test_a_batch_parses_as_its_leads_parsed_alone(raw: list[Any]) -> None:
    assert outcome(feed.parse(raw)) == outcome([feed._item(i, body) for i, body in enumerate(raw)])
