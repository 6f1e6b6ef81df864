"""Opening a realtime stream: which channels, whether the caller may listen, and what it missed.

Every refusal happens here, before the stream starts, as a problem: a malformed or missing channel
or ``Last-Event-ID`` answers 422; another org's channel, or (for a crm-admin) a rep channel of a
user who is not in the org, answers 404; a role with no right to the channel, or a rep channel
of someone outside the caller's team, answers 403.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from kith.auth.model import Actor
from kith.core.errors import FieldError, Forbidden, NotFound, ValidationFailed
from kith.core.uow import UnitOfWork
from kith.realtime import repo
from kith.realtime.broker import Broker, Message, Subscription, encode
from kith.realtime.model import ALL_REPS_ROLE, Channel, ChannelError, Denial, listen_denial, parse_channel

# Channels one stream may join: enough for a manager's team view, small enough to check at once.
MAX_CHANNELS = 20
# Events a resume may look through; a client further behind is told to reload (`reset`).
DEFAULT_REPLAY_LIMIT = 1000
_EVENT_ID = re.compile(r"evt_[0-9a-hjkmnp-tv-z]{26}")


@dataclass
class Opened:
    subscription: Subscription
    replay: list[Message] = field(default_factory=list)
    reset: bool = False  # the client missed more than the replay limit: it should reload its state


def parse_channels(names: Sequence[str]) -> list[Channel]:
    """The requested channels, each once, in the order given; 422 naming the bad ones."""
    if not names:
        raise ValidationFailed("name at least one channel", errors=[FieldError(
            "channel", "give ?channel=org:{orgId}:crm:pipeline (repeatable)")])
    if len(names) > MAX_CHANNELS:
        raise ValidationFailed(f"at most {MAX_CHANNELS} channels per stream",
                               errors=[FieldError("channel", f"at most {MAX_CHANNELS} channels")])
    channels: dict[Channel, None] = {}
    errors: list[FieldError] = []
    for i, name in enumerate(names):
        try:
            channels[parse_channel(name)] = None
        except ChannelError as exc:
            errors.append(FieldError(f"channel[{i}]", str(exc)))
    if errors:
        raise ValidationFailed("malformed channel name", errors=errors)
    return list(channels)


def parse_last_event_id(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not _EVENT_ID.fullmatch(value):
        raise ValidationFailed("Last-Event-ID must be the id of an event this stream sent",
                               errors=[FieldError("Last-Event-ID", "expected evt_ followed by 26 characters")])
    return value


async def authorise(uow: UnitOfWork, actor: Actor, channels: Sequence[Channel]) -> None:
    for channel in channels:
        if channel.org_id != actor.org_id:
            raise NotFound(f"channel {channel.name!r} does not exist", extra={"channel": channel.name})
    async with uow.transaction(autocommit=True):
        for channel in channels:
            if channel.kind == "rep" and ALL_REPS_ROLE in actor.roles:
                assert channel.rep_id is not None
                if await repo.user(uow, actor.org_id, channel.rep_id) is None:
                    raise NotFound(f"channel {channel.name!r} does not exist", extra={"channel": channel.name})
            _check(listen_denial(actor.roles, actor.team_ids, channel), channel)


def _check(denial: Denial | None, channel: Channel) -> None:
    if denial == "forbidden-role":
        raise Forbidden(f"your role may not listen on {channel.name!r}", extra={"channel": channel.name})
    if denial == "forbidden-rep":
        raise Forbidden(f"{channel.name!r} is the channel of someone outside your team",
                        extra={"channel": channel.name})


async def open_stream(uow: UnitOfWork, broker: Broker, actor: Actor, names: Sequence[str],
                      last_event_id: str | None, *, replay_limit: int = DEFAULT_REPLAY_LIMIT) -> Opened:
    """Check everything, subscribe, then read what the caller missed since ``last_event_id``.

    Subscribing first and replaying second leaves no gap; an event both replayed and published
    live is sent once (the replayed ids are skipped by the live feed)."""
    channels = parse_channels(names)
    after = parse_last_event_id(last_event_id)
    await authorise(uow, actor, channels)
    sub = await broker.subscribe(actor, channels)
    opened = Opened(sub)
    if after is None:
        return opened
    try:
        opened.replay, opened.reset = await _replay(uow, sub, after, replay_limit)
    except BaseException:
        broker.unsubscribe(sub)
        raise
    return opened


async def _replay(uow: UnitOfWork, sub: Subscription, after: str, limit: int) -> tuple[list[Message], bool]:
    org_id = sub.actor.org_id
    async with uow.transaction(autocommit=True):
        rows = await repo.events_after(uow, org_id, after, limit + 1)
        if len(rows) > limit:
            return [], True
        owners = await repo.owners_of(uow, org_id, rows)
    replay = []
    for row in rows:
        channel = sub.route(row, owners[row.id])
        sub.skip.add(row.id)
        if channel is not None:
            replay.append(encode(row, channel))
    return replay, False
