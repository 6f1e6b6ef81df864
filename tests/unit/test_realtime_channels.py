"""Realtime channels as pure rules: the name parser, event routing, who may listen, who sees what."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kith.core.events import EVENT_TYPES
from kith.realtime import sse
from kith.realtime.model import (
    Channel,
    ChannelError,
    can_read,
    channels_for,
    listen_denial,
    owners_from_data,
    parse_channel,
    pipeline,
    rep,
    support,
)

ORG = "org_01jb"
parts = st.text(alphabet="abcdefghjkmnpqrstvwxyz0123456789_-ABC", min_size=1, max_size=64)
channels = st.one_of(
    st.builds(pipeline, parts),
    st.builds(support, parts),
    st.builds(rep, parts, parts),
)


@given(channels)
def test_every_channel_name_parses_back_to_the_same_channel(channel: Channel) -> None:
    assert parse_channel(channel.name) == channel
    assert str(channel) == channel.name


@given(st.text(max_size=300))
def test_arbitrary_text_parses_or_raises_only_a_channel_error(text: str) -> None:
    try:
        channel = parse_channel(text)
    except ChannelError:
        return
    assert channel.name == text


@given(channels, st.sampled_from(["x", ":", " ", "\n", ":crm", "é"]))
def test_a_name_with_anything_added_at_the_end_is_never_another_valid_channel_of_the_same_kind(
        channel: Channel, suffix: str) -> None:
    try:
        parsed = parse_channel(channel.name + suffix)
    except ChannelError:
        return
    assert parsed != channel and parsed.name == channel.name + suffix


@pytest.mark.parametrize("text", [
    "", "org::crm:pipeline", "org:o:crm:", "org:o:crm:rep:", "org:o:crm:rep", "org:o:crm:pipelines",
    "org:o:crm:rep:a:b", "ORG:o:crm:pipeline", "org:o:crm:support ", "org:" + "a" * 65 + ":crm:pipeline",
    "org:o:sales:pipeline", "org:o:crm:pipeline\n",
], ids=repr)
def test_malformed_names_are_refused(text: str) -> None:
    with pytest.raises(ChannelError):
        parse_channel(text)


@pytest.mark.parametrize(("event_type", "owners", "expected"), [
    pytest.param("deal.won", {"u1"}, {pipeline(ORG), rep(ORG, "u1")}, id="deal-pipeline-and-owner"),
    pytest.param("lead.created", {"u1"}, {pipeline(ORG), rep(ORG, "u1")}, id="lead-pipeline-and-owner"),
    pytest.param("deal.created", set(), {pipeline(ORG)}, id="unowned-deal-pipeline-only"),
    pytest.param("activity.created", {"u1", "u2"}, {support(ORG), rep(ORG, "u1"), rep(ORG, "u2")},
                 id="activity-writer-assignee-support"),
    pytest.param("ticket.resolved", {"u1"}, {support(ORG)}, id="ticket-support"),
    pytest.param("contact.created", {"u1"}, set(), id="contact-nowhere"),
    pytest.param("webhook.created", set(), set(), id="webhook-nowhere"),
])
def test_events_are_published_on_the_channels_of_seed_004(event_type: str, owners: set[str],
                                                           expected: set[Channel]) -> None:
    assert channels_for(ORG, event_type, owners) == expected


def test_every_deal_lead_and_activity_event_type_has_a_channel() -> None:
    for t in EVENT_TYPES:
        if t.split(".")[0] in {"deal", "lead", "activity"}:
            assert pipeline(ORG) in channels_for(ORG, t, ()) or support(ORG) in channels_for(ORG, t, ()), t


ME, TEAMMATE, STRANGER = "user_me", "user_mine", "user_other"
TEAM = frozenset({ME, TEAMMATE})


@pytest.mark.parametrize(("role", "event_type", "owner", "visible"), [
    ("crm-admin", "deal.won", STRANGER, True),
    ("sales-manager", "deal.won", STRANGER, True),
    ("sales-rep", "deal.won", ME, True),
    ("sales-rep", "deal.won", TEAMMATE, True),
    ("sales-rep", "deal.won", STRANGER, False),
    ("sales-rep", "lead.created", STRANGER, False),
    ("sales-rep", "activity.created", ME, True),
    ("support-agent", "deal.won", ME, False),
    ("support-agent", "activity.created", STRANGER, True),
    ("support-agent", "ticket.created", STRANGER, True),
    ("marketing", "deal.won", STRANGER, False),
    ("marketing", "lead.created", STRANGER, True),
    ("viewer", "deal.won", STRANGER, True),
    ("viewer", "lead.created", STRANGER, True),
    ("viewer", "ticket.created", STRANGER, False),
    ("crm-admin", "nosuch.created", STRANGER, False),
])
def test_an_event_is_visible_only_to_who_may_read_its_record(role: str, event_type: str, owner: str,
                                                             visible: bool) -> None:
    assert can_read(frozenset({role}), TEAM, event_type, {owner}) is visible


@pytest.mark.parametrize(("role", "channel", "denial"), [
    ("crm-admin", pipeline(ORG), None),
    ("sales-manager", pipeline(ORG), None),
    ("sales-rep", pipeline(ORG), None),
    ("viewer", pipeline(ORG), None),
    ("marketing", pipeline(ORG), None),
    ("support-agent", pipeline(ORG), "forbidden-role"),
    ("crm-admin", support(ORG), None),
    ("support-agent", support(ORG), None),
    ("sales-rep", support(ORG), "forbidden-role"),
    ("sales-manager", support(ORG), "forbidden-role"),
    ("sales-rep", rep(ORG, ME), None),
    ("sales-manager", rep(ORG, TEAMMATE), None),
    ("sales-manager", rep(ORG, STRANGER), "forbidden-rep"),
    ("sales-rep", rep(ORG, STRANGER), "forbidden-rep"),
    ("viewer", rep(ORG, STRANGER), "forbidden-rep"),
    ("crm-admin", rep(ORG, STRANGER), None),
    ("marketing", rep(ORG, ME), None),
])
def test_who_may_listen_on_which_channel(role: str, channel: Channel, denial: str | None) -> None:
    assert listen_denial(frozenset({role}), TEAM, channel) == denial


def test_owners_fall_back_to_the_payload() -> None:
    assert owners_from_data({"after": {"owner_id": "a"}, "before": {"owner_id": "b"}}) == {"a", "b"}
    assert owners_from_data({"after": {"actor_id": "a", "assignee_id": None}}) == {"a"}
    assert owners_from_data(None) == frozenset()


@given(st.dictionaries(st.text(max_size=5), st.text(max_size=20), max_size=4))
def test_an_sse_message_is_one_data_line(data: dict[str, str]) -> None:
    text = sse.message("evt_1", "deal.won", data).decode()
    assert text.endswith("\n\n")
    lines = text[:-2].split("\n")
    assert lines[0] == "id: evt_1" and lines[1] == "event: deal.won" and len(lines) == 3
