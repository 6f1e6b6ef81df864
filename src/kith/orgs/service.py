"""Use cases for orgs, users and API keys. Only these functions write those tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from kith.auth import keys
from kith.auth.access import require
from kith.auth.model import Actor
from kith.core import clock, ids
from kith.core.db import Database, Prepared
from kith.core.errors import Conflict, Forbidden, NotFound, PreconditionFailed, Unauthorized, invalid
from kith.core.uow import UnitOfWork
from kith.orgs.schemas import ApiKeyCreate, OrgPatch, OrgSettings, UserCreate, UserPatch
from kith.orgs.tables import api_keys, orgs, users
from kith.pipelines import repo as pipelines_repo
from kith.records import service as rec


@dataclass(frozen=True)
class InitResult:
    org_id: str
    user_id: str
    api_key: str
    widget_key: str

    def as_dict(self) -> dict[str, str]:
        return {"org_id": self.org_id, "user_id": self.user_id, "api_key": self.api_key,
                "widget_key": self.widget_key}


async def create_org(
    uow: UnitOfWork, *, name: str, admin_email: str, admin_password: str | None, admin_name: str = "Admin"
) -> InitResult:
    """A new tenant with its first crm-admin, an API key for that admin and the default stages."""
    settings = OrgSettings()
    admin = UserCreate(email=admin_email, name=admin_name, password=admin_password, roles=["crm-admin"])
    now = clock.now()
    org_id, widget_key = ids.new("org"), keys.new_widget_key()
    async with uow.transaction(write=True):
        exists = await uow.execute(sa.select(orgs.c.id).where(orgs.c.name == name))
        if exists.first() is not None:
            raise Conflict(f"an org named {name!r} already exists", extra={"field": "name"})
        await uow.execute(orgs.insert(), {
            "id": org_id, "name": name, "settings": settings.model_dump(mode="json"),
            "widget_key": widget_key, "created_at": now, "updated_at": now, "version": 1})
        await uow.record(org_id, "org.created", subject_type="org", subject_id=org_id, actor_id=None,
                         actor_type="system", data={"after": {"name": name}})
        await pipelines_repo.create_defaults(uow, org_id, settings.rot_period_days)
        system = Actor.system(org_id)
        user = await create_user(uow, system, admin)
        _, api_key = await create_api_key(uow, system, user["id"], ApiKeyCreate(name="initial admin key"))
    return InitResult(org_id=org_id, user_id=user["id"], api_key=api_key, widget_key=widget_key)


def _org_out(row: Any) -> dict[str, Any]:
    d = dict(row._mapping)
    d["settings"] = OrgSettings.model_validate(d["settings"]).model_dump(mode="json")
    return d


async def get_org(uow: UnitOfWork, actor: Actor) -> dict[str, Any]:
    require(actor, "org:read")
    async with uow.transaction():
        row = (await uow.execute(sa.select(orgs).where(orgs.c.id == actor.org_id))).first()
    if row is None:
        raise NotFound("org does not exist")
    out = _org_out(row)
    return out


async def update_org(uow: UnitOfWork, actor: Actor, patch: OrgPatch, expected_version: int | None = None
                     ) -> dict[str, Any]:
    require(actor, "org:manage")
    async with uow.transaction(write=True):
        row = (await uow.execute(sa.select(orgs).where(orgs.c.id == actor.org_id))).first()
        if row is None:
            raise NotFound("org does not exist")
        check_version(row.version, expected_version)
        before = _org_out(row)
        values: dict[str, Any] = {}
        if patch.name is not None and patch.name != row.name:
            taken = await uow.execute(sa.select(orgs.c.id).where(orgs.c.name == patch.name))
            if taken.first() is not None:
                raise Conflict(f"an org named {patch.name!r} already exists", extra={"field": "name"})
            values["name"] = patch.name
        if patch.settings is not None:
            # Merge-patch semantics: a setting sent as null goes back to its default.
            merged = rec.merge_patch(before["settings"], patch.settings.model_dump(mode="json", exclude_unset=True))
            values["settings"] = OrgSettings.model_validate(merged).model_dump(mode="json")
        if patch.rotate_widget_key:
            values["widget_key"] = keys.new_widget_key()
        if values:
            values.update(updated_at=clock.now(), version=row.version + 1)
            await uow.execute(orgs.update().where(orgs.c.id == actor.org_id).values(**values))
            changed = sorted(k for k in values if k not in {"updated_at", "version", "widget_key"})
            await uow.record(actor.org_id, "org.updated", subject_type="org", subject_id=actor.org_id,
                             actor_id=actor.id, data={
                                 "before": {k: before[k] for k in changed},
                                 "after": {k: values[k] for k in changed},
                                 "widget_key_rotated": bool(patch.rotate_widget_key)})
        row = (await uow.execute(sa.select(orgs).where(orgs.c.id == actor.org_id))).one()
    return _org_out(row)


def check_version(current: int, expected: int | None) -> None:
    if expected is not None and expected != current:
        raise PreconditionFailed(
            f"the record changed since you read it (version {current}, If-Match had {expected})",
            extra={"current_version": current})


# --- users -------------------------------------------------------------------------------------

_USER_COLS = [c for c in users.c if c.name not in {"password_hash", "org_id"}]


async def _user_row(uow: UnitOfWork, org_id: str, user_id: str) -> Any:
    q = sa.select(*_USER_COLS).where(users.c.org_id == org_id, users.c.id == user_id)
    return (await uow.execute(q)).first()


async def _check_manager(uow: UnitOfWork, org_id: str, manager_id: str | None, user_id: str | None) -> None:
    if manager_id is None:
        return
    if manager_id == user_id:
        raise invalid("manager_id", "a user cannot be their own manager")
    if await _user_row(uow, org_id, manager_id) is None:
        raise invalid("manager_id", f"no user {manager_id!r} in this org")


async def create_user(uow: UnitOfWork, actor: Actor, cmd: UserCreate) -> dict[str, Any]:
    require(actor, "user:manage")
    now = clock.now()
    user_id = ids.new("user")
    async with uow.transaction(write=True):
        await _check_manager(uow, actor.org_id, cmd.manager_id, None)
        taken = await uow.execute(sa.select(users.c.id).where(
            users.c.org_id == actor.org_id, users.c.email == cmd.email))
        if taken.first() is not None:
            raise Conflict(f"a user with email {cmd.email!r} already exists", extra={"field": "email"})
        row = {
            "org_id": actor.org_id, "id": user_id, "email": cmd.email, "name": cmd.name,
            "password_hash": keys.hash_password(cmd.password) if cmd.password else None,
            "roles": cmd.roles, "manager_id": cmd.manager_id, "timezone": cmd.timezone,
            "is_active": True, "created_at": now, "updated_at": now, "version": 1,
        }
        await uow.execute(users.insert(), row)
        out = {k: v for k, v in row.items() if k not in {"password_hash", "org_id"}}
        await uow.record(actor.org_id, "user.created", subject_type="user", subject_id=user_id,
                         actor_id=actor.id, actor_type=actor.kind,
                         data={"after": {k: _jsonable(v) for k, v in out.items()}})
    return out


async def list_users(uow: UnitOfWork, actor: Actor) -> list[dict[str, Any]]:
    require(actor, "user:read")
    async with uow.transaction():
        q = sa.select(*_USER_COLS).where(users.c.org_id == actor.org_id).order_by(users.c.id)
        return [dict(r._mapping) for r in await uow.execute(q)]


async def get_user(uow: UnitOfWork, actor: Actor, user_id: str) -> dict[str, Any]:
    require(actor, "user:read")
    async with uow.transaction():
        row = await _user_row(uow, actor.org_id, user_id)
    if row is None:
        raise NotFound(f"user {user_id!r} does not exist", extra={"id": user_id})
    return dict(row._mapping)


async def update_user(uow: UnitOfWork, actor: Actor, user_id: str, patch: UserPatch,
                      expected_version: int | None = None) -> dict[str, Any]:
    require(actor, "user:manage")
    async with uow.transaction(write=True):
        row = await _user_row(uow, actor.org_id, user_id)
        if row is None:
            raise NotFound(f"user {user_id!r} does not exist", extra={"id": user_id})
        check_version(row.version, expected_version)
        fields = patch.model_dump(exclude_unset=True)
        if "manager_id" in fields:
            await _check_manager(uow, actor.org_id, fields["manager_id"], user_id)
        for required in ("name", "roles", "is_active"):
            if required in fields and fields[required] is None:
                raise invalid(required, f"{required} cannot be null")
        values = {k: v for k, v in fields.items() if k != "password"}
        if fields.get("password"):
            values["password_hash"] = keys.hash_password(fields["password"])
        if values:
            values.update(updated_at=clock.now(), version=row.version + 1)
            await uow.execute(users.update().where(
                users.c.org_id == actor.org_id, users.c.id == user_id).values(**values))
            changed = sorted(k for k in fields if k != "password")
            await uow.record(actor.org_id, "user.updated", subject_type="user", subject_id=user_id,
                             actor_id=actor.id, actor_type=actor.kind, data={
                                 "before": {k: _jsonable(getattr(row, k)) for k in changed},
                                 "after": {k: _jsonable(fields[k]) for k in changed},
                                 "password_changed": "password" in fields})
        row = await _user_row(uow, actor.org_id, user_id)
    return dict(row._mapping)


# --- API keys ----------------------------------------------------------------------------------

def _may_manage_keys_of(actor: Actor, user_id: str) -> None:
    if actor.user_id == user_id:
        return
    require(actor, "user:manage")


async def create_api_key(uow: UnitOfWork, actor: Actor, user_id: str, cmd: ApiKeyCreate
                         ) -> tuple[dict[str, Any], str]:
    """Issue a key acting as ``user_id``; returns the row and the full key (shown only now)."""
    _may_manage_keys_of(actor, user_id)
    key_id = ids.new("key")
    full_key, secret_hash = keys.new_api_key(key_id)
    async with uow.transaction(write=True):
        target = await _user_row(uow, actor.org_id, user_id)
        if target is None:
            raise NotFound(f"user {user_id!r} does not exist", extra={"id": user_id})
        row = {"org_id": actor.org_id, "id": key_id, "user_id": user_id, "name": cmd.name,
               "secret_hash": secret_hash, "created_at": clock.now(), "revoked_at": None}
        await uow.execute(api_keys.insert(), row)
        await uow.record(actor.org_id, "api_key.created", subject_type="api_key", subject_id=key_id,
                         actor_id=actor.id, actor_type=actor.kind, refs=(user_id,),
                         data={"after": {"user_id": user_id, "name": cmd.name}})
    out = {k: v for k, v in row.items() if k not in {"secret_hash", "org_id"}}
    return out, full_key


async def list_api_keys(uow: UnitOfWork, actor: Actor, user_id: str) -> list[dict[str, Any]]:
    _may_manage_keys_of(actor, user_id)
    cols = [api_keys.c.id, api_keys.c.user_id, api_keys.c.name, api_keys.c.created_at, api_keys.c.revoked_at]
    async with uow.transaction():
        if await _user_row(uow, actor.org_id, user_id) is None:
            raise NotFound(f"user {user_id!r} does not exist", extra={"id": user_id})
        q = sa.select(*cols).where(api_keys.c.org_id == actor.org_id, api_keys.c.user_id == user_id)
        return [dict(r._mapping) for r in await uow.execute(q.order_by(api_keys.c.id))]


async def revoke_api_key(uow: UnitOfWork, actor: Actor, key_id: str) -> dict[str, Any]:
    async with uow.transaction(write=True):
        q = sa.select(api_keys).where(api_keys.c.org_id == actor.org_id, api_keys.c.id == key_id)
        row = (await uow.execute(q)).first()
        if row is None:
            raise NotFound(f"API key {key_id!r} does not exist", extra={"id": key_id})
        try:
            _may_manage_keys_of(actor, row.user_id)
        except Forbidden:
            raise NotFound(f"API key {key_id!r} does not exist", extra={"id": key_id}) from None
        revoked_at = row.revoked_at
        if revoked_at is None:
            revoked_at = clock.now()
            await uow.execute(api_keys.update().where(
                api_keys.c.org_id == actor.org_id, api_keys.c.id == key_id).values(revoked_at=revoked_at))
            await uow.record(actor.org_id, "api_key.revoked", subject_type="api_key", subject_id=key_id,
                             actor_id=actor.id, actor_type=actor.kind, refs=(row.user_id,))
    return {"id": key_id, "user_id": row.user_id, "name": row.name, "created_at": row.created_at,
            "revoked_at": revoked_at}


# --- authentication ----------------------------------------------------------------------------

_member = users.alias("member")
# The key, its user, and one row per user they manage (``member_id`` null when none): the team that
# every "own" decision and the realtime rep channels read, filled for every role in one round trip.
_KEY_LOOKUP = Prepared(
    sa.select(api_keys.c.org_id, api_keys.c.secret_hash, api_keys.c.revoked_at, users.c.id, users.c.roles,
              users.c.is_active, _member.c.id.label("member_id"))
    .select_from(api_keys.join(users, sa.and_(users.c.org_id == api_keys.c.org_id, users.c.id == api_keys.c.user_id))
                 .outerjoin(_member, sa.and_(_member.c.org_id == users.c.org_id, _member.c.manager_id == users.c.id)))
    .where(api_keys.c.id == sa.bindparam("key_id")))


async def authenticate(db: Database, api_key: str) -> Actor:
    """The actor an API key acts as; ``Unauthorized`` for malformed, unknown or revoked keys.

    Read from the database on every request (one indexed lookup through the driver, with the
    team: the caller plus the users they manage, whatever the roles), so revoking a key,
    deactivating its user or changing roles or managers takes effect on the next request in every
    process: nothing is cached."""
    parts = keys.split_api_key(api_key)
    if parts is None:
        raise Unauthorized("the API key is malformed")
    key_id, secret = parts
    uow = UnitOfWork(db)
    async with uow.transaction(autocommit=True):
        found = await uow.rows(_KEY_LOOKUP, {"key_id": key_id})
    row = found[0] if found else None
    if row is None or not keys.secret_matches(row["secret_hash"], secret):
        raise Unauthorized("the API key is not valid")
    if row["revoked_at"] is not None:
        raise Unauthorized("the API key has been revoked")
    if not row["is_active"]:
        raise Unauthorized("the key's user is deactivated")
    team_ids = frozenset([row["id"], *(r["member_id"] for r in found if r["member_id"] is not None)])
    return Actor(org_id=row["org_id"], user_id=row["id"], roles=frozenset(row["roles"]), team_ids=team_ids,
                 key_id=key_id)


_BY_WIDGET_KEY = Prepared(sa.select(orgs).where(orgs.c.widget_key == sa.bindparam("widget_key")))
# widget key -> (the org row as read, its public form): parsing the settings is the costly part.
# The row is read on every call, so a rotated key stops working at once in every process.
_widget_orgs: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}


async def org_by_widget_key(db: Database, widget_key: str) -> dict[str, Any]:
    """The org whose publishable widget key this is (treat the answer as read-only)."""
    uow = UnitOfWork(db)
    async with uow.transaction(autocommit=True):
        row = await uow.row(_BY_WIDGET_KEY, {"widget_key": widget_key})
    if row is None:
        _widget_orgs.pop(widget_key, None)
        raise Unauthorized("the widget key is not valid")
    cached = _widget_orgs.get(widget_key)
    if cached is not None and cached[0] == row:
        return cached[1]
    out = _org_out_dict(row)
    if len(_widget_orgs) > 10_000:
        _widget_orgs.clear()
    _widget_orgs[widget_key] = (row, out)
    return out


def _org_out_dict(row: dict[str, Any]) -> dict[str, Any]:
    d = dict(row)
    d["settings"] = OrgSettings.model_validate(d["settings"]).model_dump(mode="json")
    return d


async def find_org(uow: UnitOfWork, ref: str | None) -> dict[str, Any]:
    """An org by id or name; with ``ref`` None, the only org in the database."""
    async with uow.transaction():
        q = sa.select(orgs)
        if ref is not None:
            q = q.where(sa.or_(orgs.c.id == ref, orgs.c.name == ref))
        rows = (await uow.execute(q.limit(2))).all()
    if not rows:
        raise NotFound(f"no org {ref!r}" if ref else "the database holds no org: run `kith init`")
    if len(rows) > 1:
        raise Conflict("the database holds several orgs: pass --org (id or name)")
    return _org_out(rows[0])


def _jsonable(v: Any) -> Any:
    from datetime import datetime
    return v.isoformat() if isinstance(v, datetime) else v
