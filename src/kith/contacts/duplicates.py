"""Likely duplicate contacts: groups of live contacts that share a duplicate key (``dedupe``).

Reasons, in list order:
- ``email``: the same ``email_key``;
- ``phone``: the same phone key, from any of the contacts' ``phone`` or ``mobile``;
- ``name_company``: the same ``name_key`` and a link to the same real (not placeholder, not
  trashed) company.

Invariants:
- A group counts and lists only contacts the caller may read (``visible_owner_ids``), so it needs
  two of those; trashed contacts are in no group; no query leaves the caller's org.
- Groups are ordered by (reason, key, company id) and paged by keyset: the cursor holds the last
  group's position and the reason filter it was made for.
- No query reads the whole org: each walks a partial index (``tables._dedupe_index``) in key order
  and stops once the page is full, so a page costs the index entries between it and the previous
  one. ``name_company`` looks among names shared by two or more contacts, ``NAME_CHUNK`` names
  per query and at most ``NAME_CHUNKS`` queries per page; a page that used them up ends early,
  with a ``next_cursor`` to resume from (a short page is not the last one: follow the cursor).
- A group lists its ``MAX_MEMBERS`` oldest contacts (ids are time-ordered) and counts all of them
  in ``size``: one junk value shared by thousands must not make a page huge.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from kith.auth.access import visible_owner_ids
from kith.auth.model import Actor
from kith.auth.permissions import Grant, grant
from kith.companies.tables import companies
from kith.contacts.tables import contact_companies, contacts
from kith.core.errors import BadRequest, FieldError
from kith.core.listing import Page
from kith.core.uow import UnitOfWork

REASONS = ("email", "phone", "name_company")
ALL = "all"  # the cursor scope of an unfiltered list

MAX_MEMBERS = 25
NAME_CHUNK = 200  # shared names examined per query for name_company groups
NAME_CHUNKS = 10  # queries per page at most: bounds a page's work where many names are shared
BIG_GROUP_ARMS = 100  # limited member queries per UNION ALL (SQLite allows 500 arms)
MAX_CURSOR_KEY = 320  # the longest key (email_key)

c, cc, co = contacts.c, contact_companies.c, companies.c
MEMBER_COLUMNS = (c.id, c.name, c.email, c.phone, c.mobile, c.title, c.stage, c.owner_id, c.created_at,
                  c.updated_at)
KEY_COLUMNS: dict[str, tuple[sa.Column[Any], ...]] = {
    "email": (c.email_key,),
    "phone": (c.phone_key, c.mobile_key),
    "name_company": (c.name_key,),
}


@dataclass(frozen=True)
class Position:
    """Where a group sits in the list; a page starts after one."""

    reason: str
    key: str
    company_id: str | None = None  # name_company: None stands after every company of ``key``


@dataclass(frozen=True)
class Group:
    reason: str
    key: str
    company_id: str | None
    company_name: str | None
    size: int

    @property
    def position(self) -> Position:
        return Position(self.reason, self.key, self.company_id)


@dataclass(frozen=True)
class Scope:
    """Whose contacts and companies the caller sees (``None``: every one of the org's)."""

    org_id: str
    owners: frozenset[str] | None
    company_owners: frozenset[str] | None

    def contacts(self, t: sa.FromClause = contacts) -> list[sa.ColumnElement[bool]]:
        where = [t.c.org_id == self.org_id, t.c.deleted_at.is_(None)]
        if self.owners is not None:
            where.append(t.c.owner_id.in_(sorted(self.owners)))
        return where

    def companies(self) -> list[sa.ColumnElement[bool]]:
        where = [co.org_id == self.org_id, co.deleted_at.is_(None), co.is_placeholder == sa.false()]
        if self.company_owners is not None:
            where.append(co.owner_id.in_(sorted(self.company_owners)))
        return where


# --- the cursor -------------------------------------------------------------------------------------

def encode_cursor(scope: str, position: Position) -> str:
    raw = json.dumps([scope, position.reason, position.key, position.company_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _storable(text: str) -> bool:
    """PostgreSQL compares no text holding NUL or a lone surrogate (a tampered cursor may)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text and len(text) <= MAX_CURSOR_KEY


def decode_cursor(cursor: str, scope: str) -> Position:
    bad = BadRequest("the cursor is not valid for this list", errors=[FieldError("cursor", "malformed cursor")])
    try:
        made_for, reason, key, company_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(made_for, str) or not isinstance(key, str) or not _storable(key):
        raise bad
    if reason not in REASONS or (company_id is not None and (
            reason != "name_company" or not isinstance(company_id, str) or not _storable(company_id))):
        raise bad
    if made_for != scope or scope not in (ALL, reason):
        raise BadRequest("the cursor was made for another reason filter",
                         errors=[FieldError("cursor", "cursor does not match reason")])
    return Position(reason, key, company_id)


# --- finding groups ---------------------------------------------------------------------------------

def _key_stream(scope: Scope, reason: str, i: int, after: Position | None, n: int) -> sa.Select[Any]:
    """The first ``n`` keys after ``after`` held in key column ``i`` of the reason (and in none
    before it) that two or more visible contacts share, counted over all the reason's columns.

    One stream per column walks that column's index in key order, probing the other columns'
    indexes per key, so it stops after ``n`` groups; a UNION of the columns would be sorted whole
    first. A contact holds a key in one column at most (``dedupe.keys``), so counts are contacts.
    """
    cols = KEY_COLUMNS[reason]
    col = cols[i]
    size: sa.ColumnElement[int] = sa.func.count()
    for later in cols[i + 1:]:
        other = contacts.alias("o")
        size = size + (sa.select(sa.func.count()).select_from(other)
                       .where(*scope.contacts(other), other.c[later.name] == col).scalar_subquery())
    q = sa.select(col.label("k"), size.label("n")).where(*scope.contacts(), col.is_not(None))
    for earlier in cols[:i]:
        other = contacts.alias("o")
        q = q.where(~sa.select(other.c.id).where(*scope.contacts(other), other.c[earlier.name] == col).exists())
    if after is not None:
        q = q.where(col > after.key)
    return q.group_by(col).having(size > 1).order_by(col).limit(n)


async def _key_groups(uow: UnitOfWork, scope: Scope, reason: str, after: Position | None, n: int) -> list[Group]:
    """The first ``n`` groups after ``after``: the column streams' keys are disjoint, merged here
    (phone keys are ASCII digits and ``x``, ordered alike by Python and any database collation)."""
    found = [Group(reason, r.k, None, None, r.n)
             for i in range(len(KEY_COLUMNS[reason]))
             for r in await uow.execute(_key_stream(scope, reason, i, after, n))]
    return sorted(found, key=lambda g: g.key)[:n]


def _shared_names(scope: Scope, after: str | None, inclusive: bool) -> sa.Select[Any]:
    """The next ``NAME_CHUNK`` names two or more visible contacts share, in key order."""
    q = (sa.select(c.name_key).where(*scope.contacts(), c.name_key.is_not(None)).group_by(c.name_key)
         .having(sa.func.count() > 1).order_by(c.name_key).limit(NAME_CHUNK))
    if after is not None:
        q = q.where(c.name_key >= after if inclusive else c.name_key > after)
    return q


async def _name_company_groups(uow: UnitOfWork, scope: Scope, after: Position | None, n: int
                               ) -> tuple[list[Group], Position | None]:
    """The first ``n`` (name, company) groups after ``after``, and where to resume when the page's
    budget of name chunks ran out first (else ``None``)."""
    groups: list[Group] = []
    name_from = after.key if after else None
    inclusive = after is not None and after.company_id is not None  # more companies of that name may follow
    joined = contacts.join(contact_companies, sa.and_(cc.org_id == c.org_id, cc.contact_id == c.id)).join(
        companies, sa.and_(co.org_id == cc.org_id, co.id == cc.company_id))
    for _ in range(NAME_CHUNKS):
        names = list((await uow.execute(_shared_names(scope, name_from, inclusive))).scalars())
        if not names:
            return groups, None
        q = (sa.select(c.name_key, cc.company_id, co.name, sa.func.count().label("n")).select_from(joined)
             .where(*scope.contacts(), *scope.companies(), c.name_key.in_(names))
             .group_by(c.name_key, cc.company_id, co.name).having(sa.func.count() > 1)
             .order_by(c.name_key, cc.company_id).limit(n - len(groups)))
        if after is not None and after.company_id is not None:
            q = q.where(sa.tuple_(c.name_key, cc.company_id) > sa.tuple_(sa.literal(after.key), after.company_id))
        groups += [Group("name_company", r.name_key, r.company_id, r.name, r.n) for r in await uow.execute(q)]
        if len(groups) >= n or len(names) < NAME_CHUNK:
            return groups, None
        name_from, inclusive = names[-1], False
    return groups, Position("name_company", names[-1])


async def _groups(uow: UnitOfWork, scope: Scope, reasons: tuple[str, ...], start: Position | None, n: int
                  ) -> tuple[list[Group], Position | None]:
    found: list[Group] = []
    for reason in reasons:
        after = start if start is not None and start.reason == reason else None
        if reason == "name_company":
            more, resume = await _name_company_groups(uow, scope, after, n - len(found))
            return found + more, resume
        found += await _key_groups(uow, scope, reason, after, n - len(found))
        if len(found) >= n:
            break
    return found, None


# --- the groups' contacts ---------------------------------------------------------------------------

def _labels(reason: str, key: Any, company_id: Any) -> list[Any]:
    """Columns naming the group a member row was fetched for."""
    return [sa.literal(reason).label("r"), key.label("k"), company_id.label("co")]


def _small_groups_members(visible: list[sa.ColumnElement[bool]], reason: str, groups: list[Group]
                          ) -> list[sa.Select[Any]]:
    """Every contact of ``groups`` (each within ``MAX_MEMBERS``): one IN query per key column."""
    if reason == "name_company":
        pairs = [(g.key, g.company_id) for g in groups]
        return [sa.select(*MEMBER_COLUMNS, *_labels(reason, c.name_key, cc.company_id))
                .select_from(contacts.join(contact_companies, sa.and_(cc.org_id == c.org_id, cc.contact_id == c.id)))
                .where(*visible, c.name_key.in_(sorted({k for k, _ in pairs})),
                       sa.tuple_(c.name_key, cc.company_id).in_(pairs))]
    keys = [g.key for g in groups]
    return [sa.select(*MEMBER_COLUMNS, *_labels(reason, col, sa.null())).where(*visible, col.in_(keys))
            for col in KEY_COLUMNS[reason]]


def _big_group_members(visible: list[sa.ColumnElement[bool]], group: Group) -> list[sa.Select[Any]]:
    """The oldest ``MAX_MEMBERS`` contacts of a bigger group: a limited range per key column, so a
    key shared by thousands reads 25 index entries, not thousands."""
    if group.reason == "name_company":
        linked = sa.select(cc.company_id).where(cc.org_id == c.org_id, cc.contact_id == c.id,
                                                cc.company_id == group.company_id).exists()
        matches = [[c.name_key == group.key, linked]]
    else:
        matches = [[col == group.key] for col in KEY_COLUMNS[group.reason]]
    labels = _labels(group.reason, sa.literal(group.key), sa.literal(group.company_id, sa.String))
    return [sa.select(*MEMBER_COLUMNS, *labels).where(*visible, *match).order_by(c.id).limit(MAX_MEMBERS)
            for match in matches]


async def _members(uow: UnitOfWork, scope: Scope, groups: list[Group]) -> list[list[dict[str, Any]]]:
    """Each group's oldest ``MAX_MEMBERS`` visible contacts (``size`` tells which groups are bigger)."""
    visible = scope.contacts()
    queries: list[sa.Executable] = []
    for reason in REASONS:
        small = [g for g in groups if g.reason == reason and g.size <= MAX_MEMBERS]
        if small:
            queries += _small_groups_members(visible, reason, small)
    big = [q for g in groups if g.size > MAX_MEMBERS for q in _big_group_members(visible, g)]
    for start in range(0, len(big), BIG_GROUP_ARMS):
        queries.append(sa.union_all(*(sa.select(q.subquery()) for q in big[start:start + BIG_GROUP_ARMS])))
    found: dict[tuple[str, str, str | None], dict[str, dict[str, Any]]] = {
        (g.reason, g.key, g.company_id): {} for g in groups}
    for q in queries:
        for row in await uow.execute(q):
            member = dict(row._mapping)
            found[(member.pop("r"), member.pop("k"), member.pop("co"))][member["id"]] = member
    return [[m[i] for i in sorted(m)][:MAX_MEMBERS] for m in (found[(g.reason, g.key, g.company_id)] for g in groups)]


# --- the use case -----------------------------------------------------------------------------------

async def list_duplicates(uow: UnitOfWork, actor: Actor, *, reason: str | None = None, limit: int = 50,
                          cursor: str | None = None) -> Page:
    """A page of duplicate groups (contact:read): ``{reason, key, company, size, contacts}``."""
    scope_name = reason or ALL
    # Without company:read a caller sees no company, so no name_company group.
    company_owners = (visible_owner_ids(actor, "company") if grant(actor.roles, "company:read") is not Grant.NONE
                      else frozenset[str]())
    scope = Scope(actor.org_id, visible_owner_ids(actor, "contact"), company_owners)
    start = decode_cursor(cursor, scope_name) if cursor else None
    reasons: tuple[str, ...] = (reason,) if reason else REASONS
    if start is not None:
        reasons = reasons[reasons.index(start.reason):]
    async with uow.transaction():
        groups, resume = await _groups(uow, scope, reasons, start, limit + 1)
        if len(groups) > limit:
            groups, resume = groups[:limit], groups[limit - 1].position
        members = await _members(uow, scope, groups) if groups else []
    data = [{"reason": g.reason, "key": g.key, "size": g.size, "contacts": m,
             "company": None if g.company_id is None else {"id": g.company_id, "name": g.company_name}}
            for g, m in zip(groups, members, strict=True)]
    return Page(data, None if resume is None else encode_cursor(scope_name, resume))
