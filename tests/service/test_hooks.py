"""Python hooks for embedders (DESIGN §5.4, seed 001 "Verb Lifecycle"), through the real service
layer and over HTTP.

A ``before`` hook runs after Kith's own checks and before anything is written; raising vetoes the
verb with a clear problem and nothing is written. An ``after`` hook runs once the transaction has
committed, sees what was written, and a failing one neither undoes the commit nor stops the others.
Every test registers its hooks through the ``hook`` fixture, which removes them afterwards.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kith.auth.model import Actor
from kith.contacts import service as contacts
from kith.contacts import verbs
from kith.contacts.enrichment import DomainOnlyProvider
from kith.contacts.merge import merge_contacts
from kith.contacts.schemas import CaptureIn, ContactCreate, ContactPatch
from kith.contacts.tables import contacts as contacts_table
from kith.core import hooks
from kith.core.db import Database
from kith.core.errors import Forbidden, RuleViolation
from kith.core.events import EVENT_TYPES, events
from kith.core.uow import UnitOfWork
from kith.leads.tables import leads
from kith.orgs import service as orgs
from tests.conftest import Org, Persona, count_rows, problem

API = "/api/v1/contacts"


@dataclass
class Registrar:
    """Registers hooks for one test and remembers them, so the fixture can remove them."""

    added: list[tuple[str, hooks.Hook]] = field(default_factory=list)

    def before(self, verb: str) -> Callable[[hooks.Hook], hooks.Hook]:
        return self._wrap(hooks.before(verb), verb)

    def after(self, event_type: str) -> Callable[[hooks.Hook], hooks.Hook]:
        return self._wrap(hooks.after(event_type), event_type)

    def _wrap(self, register: Callable[[hooks.Hook], hooks.Hook], name: str) -> Callable[[hooks.Hook], hooks.Hook]:
        def add(fn: hooks.Hook) -> hooks.Hook:
            register(fn)
            self.added.append((name, fn))
            return fn
        return add


@pytest.fixture
def hook() -> Iterator[Registrar]:
    reg = Registrar()
    yield reg
    for name, fn in reg.added:
        hooks.unregister(name, fn)


async def actor_of(db: Database, who: Persona) -> Actor:
    return await orgs.authenticate(db, who.key)


async def create(client: httpx.AsyncClient, who: Persona, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Someone")
    r = await client.post(API, json=body, headers=who.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def contact_row(db: Database, contact_id: str) -> dict[str, Any] | None:
    async with db.engine.connect() as conn:
        row = (await conn.execute(sa.select(contacts_table).where(contacts_table.c.id == contact_id))).first()
    return None if row is None else dict(row._mapping)


async def event_types(db: Database) -> list[str]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(sa.select(events.c.type).order_by(events.c.id))).scalars())


class Veto(Exception):
    pass


# --- registering -----------------------------------------------------------------------------------

def test_hooks_are_named_after_known_verbs_and_event_types(hook: Registrar) -> None:
    with pytest.raises(ValueError, match="contact.qualify"):
        hook.before("contact.qualifying")
    with pytest.raises(ValueError, match="EVENT_TYPES"):
        hook.after("contact.qualify")
    for verb in ("contact.qualify", "contact.capture", "contact.assign", "contact.reassign", "contact.merge",
                 "contact.enrich", "lead.create"):
        assert verb in hooks.VERBS and hooks.VERBS[verb] in EVENT_TYPES


def test_unregistering_removes_only_that_hook(hook: Registrar) -> None:
    def a(record: dict[str, Any], cmd: hooks.Command) -> None: ...

    def b(record: dict[str, Any], cmd: hooks.Command) -> None: ...

    hook.before("contact.qualify")(a)
    hook.before("contact.qualify")(b)
    hooks.unregister("contact.qualify", a)
    hooks.unregister("contact.qualify", a)  # absent: no error
    assert hooks.registered("contact.qualify") == [b]


# --- before: veto ----------------------------------------------------------------------------------

async def test_a_before_hook_vetoes_qualify_over_http_and_nothing_is_written(
        client: httpx.AsyncClient, db: Database, org: Org, hook: Registrar) -> None:
    seen: list[tuple[dict[str, Any], hooks.Command]] = []

    @hook.before("contact.qualify")
    def needs_a_phone(record: dict[str, Any], cmd: hooks.Command) -> None:
        seen.append((record, cmd))
        if not record["phone"]:
            raise RuleViolation("acme-qualify-requires-phone", "call them first", extra={"field": "phone"})

    c = await create(client, org.rep, email="ada@example.com", lead_score=90)
    before = await count_rows(db)
    p = problem(await client.post(f"{API}/{c['id']}/qualify", headers=org.rep.h), 422)
    assert (p["rule"], p["detail"], p["field"]) == ("acme-qualify-requires-phone", "call them first", "phone")
    assert await count_rows(db) == before
    assert (await client.get(f"{API}/{c['id']}", headers=org.rep.h)).json() == c
    [(record, cmd)] = seen
    assert record["id"] == c["id"] and record["stage"] == "lead"
    assert (cmd.verb, cmd.record_id, cmd.actor.user_id) == ("contact.qualify", c["id"], org.rep.user_id)
    phoned = await create(client, org.rep, email="bob@example.com", lead_score=90, phone="+1 555 0100")
    assert (await client.post(f"{API}/{phoned['id']}/qualify", headers=org.rep.h)).json()["stage"] == "qualified"


async def test_a_before_hook_raising_any_exception_vetoes_with_a_clear_problem(
        client: httpx.AsyncClient, db: Database, org: Org, hook: Registrar) -> None:
    @hook.before("contact.qualify")
    async def lead_score_too_low(record: dict[str, Any], cmd: hooks.Command) -> None:
        raise Veto("Lead score too low for ACME's taste")

    c = await create(client, org.admin, email="ada@example.com", lead_score=90)
    before = await count_rows(db)
    p = problem(await client.post(f"{API}/{c['id']}/qualify", headers=org.admin.h), 422)
    assert p["type"].endswith("/vetoed") and p["rule"] == "before-hook"
    assert p["detail"] == "Lead score too low for ACME's taste"
    assert p["hook"].endswith("lead_score_too_low") and p["verb"] == "contact.qualify"
    assert await count_rows(db) == before


@pytest.mark.parametrize("error, status", [
    pytest.param(Forbidden("embedder says no"), 403, id="forbidden"),
    pytest.param(RuleViolation("acme-rule", "not on Sundays"), 422, id="rule"),
])
async def test_a_kith_error_from_a_before_hook_reaches_the_caller_as_it_is(
        client: httpx.AsyncClient, org: Org, hook: Registrar, error: Exception, status: int) -> None:
    @hook.before("contact.create")
    def refuse(record: dict[str, Any], cmd: hooks.Command) -> None:
        raise error

    p = problem(await client.post(API, json={"name": "X"}, headers=org.admin.h), status)
    assert p["detail"] == str(error)


async def _world(client: httpx.AsyncClient, org: Org) -> dict[str, str]:
    """A lead-stage contact with a work email and score, an unowned one, a duplicate."""
    main = await create(client, org.admin, name="Main", email="main@initech.test", lead_score=90)
    free = await create(client, org.admin, name="Free")
    r = await client.patch(f"{API}/{free['id']}", json={"owner_id": None}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    dup = await create(client, org.admin, name="Dup", phone="+1 555 0100")
    return {"main": main["id"], "free": free["id"], "dup": dup["id"]}


# verb -> (method, url template, body): each runs through HTTP against ``_world``'s records.
VERB_CALLS: dict[str, tuple[str, str, Any]] = {
    "contact.create": ("POST", API, {"name": "New"}),
    "contact.update": ("PATCH", API + "/{main}", {"title": "CEO"}),
    "contact.delete": ("DELETE", API + "/{main}", None),
    "contact.qualify": ("POST", API + "/{main}/qualify", None),
    "contact.capture": ("POST", API + "/capture", {"email": "main@initech.test", "source": "form"}),
    "contact.assign": ("POST", API + "/{free}/assign", {"owner_id": "REP"}),
    "contact.reassign": ("POST", API + "/{main}/reassign", {"owner_id": "REP"}),
    "contact.merge": ("POST", API + "/{main}/merge", {"from_ids": ["{dup}"]}),
    "contact.enrich": ("POST", API + "/{main}/enrich", None),
    "lead.create": ("POST", API + "/capture", {"email": "new@initech.test", "source": "form"}),
    "company.create": ("POST", "/api/v1/companies", {"name": "Co"}),
}


def _fill(value: Any, w: dict[str, str], org: Org) -> Any:
    if isinstance(value, str):
        return org.rep.user_id if value == "REP" else value.format(**w)
    if isinstance(value, list):
        return [_fill(v, w, org) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, w, org) for k, v in value.items()}
    return value


@pytest.mark.parametrize("verb", sorted(VERB_CALLS))
async def test_a_before_hook_vetoes_every_verb_and_nothing_is_written(
        client: httpx.AsyncClient, db: Database, org: Org, hook: Registrar, verb: str) -> None:
    w = await _world(client, org)
    calls: list[hooks.Command] = []

    @hook.before(verb)
    def no(record: dict[str, Any], cmd: hooks.Command) -> None:
        calls.append(cmd)
        raise RuleViolation("acme-frozen", "the CRM is frozen for the audit")

    method, url, body = VERB_CALLS[verb]
    watch = [f"{API}/{i}" for i in w.values()]
    before = await count_rows(db), [(await client.get(u, headers=org.admin.h)).json() for u in watch]
    r = await client.request(method, _fill(url, w, org), json=_fill(body, w, org), headers=org.admin.h)
    assert problem(r, 422)["rule"] == "acme-frozen"
    after = await count_rows(db), [(await client.get(u, headers=org.admin.h)).json() for u in watch]
    assert after == before
    assert [c.verb for c in calls] == [verb] and calls[0].actor.user_id == org.admin.user_id
    hooks.unregister(verb, no)
    r = await client.request(method, _fill(url, w, org), json=_fill(body, w, org), headers=org.admin.h)
    assert r.status_code < 300, r.text  # the same call goes through without the hook


async def test_before_hooks_run_after_kiths_own_checks(client: httpx.AsyncClient, org: Org, hook: Registrar) -> None:
    called: list[str] = []

    @hook.before("contact.qualify")
    def record_call(record: dict[str, Any], cmd: hooks.Command) -> None:
        called.append(record["id"])

    no_email = await create(client, org.admin, lead_score=90)
    problem(await client.post(f"{API}/{no_email['id']}/qualify", headers=org.admin.h), 422)  # rule first
    customer = await create(client, org.admin, email="c@c.test", lead_score=90, stage="customer")
    problem(await client.post(f"{API}/{customer['id']}/qualify", headers=org.admin.h), 409)  # machine first
    theirs = await create(client, org.admin, email="t@t.test", lead_score=90, owner_id=org.other_rep.user_id)
    problem(await client.post(f"{API}/{theirs['id']}/qualify", headers=org.rep.h), 403)  # permission first
    problem(await client.post(f"{API}/contact_nope/qualify", headers=org.admin.h), 404)
    assert called == []


async def test_what_a_before_hook_changes_in_its_arguments_is_not_written(
        client: httpx.AsyncClient, db: Database, org: Org, hook: Registrar) -> None:
    @hook.before("contact.update")
    def meddle(record: dict[str, Any], cmd: hooks.Command) -> None:
        record["title"] = "Meddled record"
        cmd.values["title"] = "Meddled command"  # type: ignore[index]

    c = await create(client, org.admin)
    r = await client.patch(f"{API}/{c['id']}", json={"title": "Asked for"}, headers=org.admin.h)
    assert r.status_code == 200 and r.json()["title"] == "Asked for"
    row = await contact_row(db, c["id"])
    assert row is not None and row["title"] == "Asked for"


async def test_before_hooks_veto_through_the_service_layer_too(db: Database, org: Org, hook: Registrar) -> None:
    @hook.before("contact.capture")
    async def no_competitors(record: dict[str, Any], cmd: hooks.Command) -> None:
        await asyncio.sleep(0)
        if str(cmd.values["email"]).endswith("@competitor.test"):
            raise RuleViolation("acme-no-competitors", "we do not sell to competitors")

    actor = await actor_of(db, org.rep)
    before = await count_rows(db)
    with pytest.raises(RuleViolation) as info:
        await verbs.capture_contact(UnitOfWork(db), actor, CaptureIn(email="spy@competitor.test", source="form"))
    assert info.value.rule == "acme-no-competitors"
    assert await count_rows(db) == before
    contact, lead, created = await verbs.capture_contact(UnitOfWork(db), actor,
                                                         CaptureIn(email="buyer@client.test", source="form"))
    assert created and lead["contact_id"] == contact["id"]


# --- after: runs after commit ----------------------------------------------------------------------

async def test_an_after_hook_runs_after_the_commit_and_sees_what_was_written(
        client: httpx.AsyncClient, db: Database, org: Org, hook: Registrar) -> None:
    seen: list[tuple[dict[str, Any], dict[str, Any] | None, list[str], hooks.Command]] = []

    @hook.after("contact.qualified")
    async def observe(record: dict[str, Any], cmd: hooks.Command) -> None:
        # A fresh connection sees the change: the transaction has committed.
        seen.append((record, await contact_row(db, record["id"]), await event_types(db), cmd))

    c = await create(client, org.rep, email="ada@example.com", lead_score=90)
    r = await client.post(f"{API}/{c['id']}/qualify", headers=org.rep.h)
    assert r.status_code == 200, r.text
    [(record, committed, types, cmd)] = seen
    assert record["stage"] == "qualified" and record["version"] == c["version"] + 1
    assert committed is not None and committed["stage"] == "qualified"
    assert types[-1] == "contact.qualified"
    assert (cmd.verb, cmd.record_id) == ("contact.qualify", c["id"])


async def test_an_after_hook_of_a_verb_that_writes_several_rows_sees_them_all(
        db: Database, org: Org, hook: Registrar) -> None:
    """capture creates the contact (contact.created) and the lead in one transaction: the
    contact.created after-hook runs only once the lead is committed too."""
    leads_seen: list[int] = []

    @hook.after("contact.created")
    async def count_leads(record: dict[str, Any], cmd: hooks.Command) -> None:
        async with db.engine.connect() as conn:
            leads_seen.append((await conn.execute(sa.select(sa.func.count()).select_from(leads).where(
                leads.c.contact_id == record["id"]))).scalar_one())

    await verbs.capture_contact(UnitOfWork(db), await actor_of(db, org.admin),
                                CaptureIn(email="new@x.test", source="form"))
    assert leads_seen == [1]


async def test_a_failing_after_hook_does_not_undo_the_commit_nor_stop_the_others(
        client: httpx.AsyncClient, db: Database, org: Org, hook: Registrar, caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    @hook.after("contact.qualified")
    def broken(record: dict[str, Any], cmd: hooks.Command) -> None:
        ran.append("broken")
        raise RuntimeError("the embedder's bug")

    @hook.after("contact.qualified")
    async def fine(record: dict[str, Any], cmd: hooks.Command) -> None:
        ran.append("fine")

    c = await create(client, org.admin, email="ada@example.com", lead_score=90)
    with caplog.at_level(logging.ERROR, logger="kith.hooks"):
        r = await client.post(f"{API}/{c['id']}/qualify", headers=org.admin.h)
    assert r.status_code == 200 and r.json()["stage"] == "qualified"
    assert ran == ["broken", "fine"]
    row = await contact_row(db, c["id"])
    assert row is not None and row["stage"] == "qualified"
    assert "contact.qualified" in await event_types(db)
    assert any("broken" in rec.getMessage() and rec.exc_info for rec in caplog.records)


async def test_after_hooks_do_not_run_when_the_verb_fails_is_vetoed_or_changes_nothing(
        client: httpx.AsyncClient, org: Org, hook: Registrar) -> None:
    ran: list[str] = []

    @hook.after("contact.qualified")
    def observe(record: dict[str, Any], cmd: hooks.Command) -> None:
        ran.append(record["id"])

    @hook.before("contact.qualify")
    def veto_vetoed(record: dict[str, Any], cmd: hooks.Command) -> None:
        if record["name"] == "Vetoed":
            raise RuleViolation("acme", "no")

    low = await create(client, org.admin, email="low@x.test", lead_score=1)
    problem(await client.post(f"{API}/{low['id']}/qualify", headers=org.admin.h), 422)
    vetoed = await create(client, org.admin, name="Vetoed", email="v@x.test", lead_score=90)
    problem(await client.post(f"{API}/{vetoed['id']}/qualify", headers=org.admin.h), 422)
    done = await create(client, org.admin, email="done@x.test", lead_score=90, stage="qualified")
    assert (await client.post(f"{API}/{done['id']}/qualify", headers=org.admin.h)).status_code == 200
    assert ran == []


async def test_an_after_hook_may_write_through_the_services(db: Database, org: Org, hook: Registrar) -> None:
    """Seed 001's after-hook creates follow-up records: here it tags the qualified contact."""
    system = Actor.system(org.id)

    @hook.after("contact.qualified")
    async def tag_for_follow_up(record: dict[str, Any], cmd: hooks.Command) -> None:
        await contacts.update_contact(UnitOfWork(db), system, record["id"],
                                      ContactPatch(tags=[*record["tags"], "follow-up"]))

    actor = await actor_of(db, org.manager)
    c = await contacts.create_contact(UnitOfWork(db), actor, ContactCreate(name="A", email="a@x.test",
                                                                           lead_score=50, tags=["vip"]))
    out = await verbs.qualify_contact(UnitOfWork(db), actor, c["id"])
    assert out["tags"] == ["vip"]  # the verb returns what it wrote; the hook wrote afterwards
    final = await contacts.get_contact(UnitOfWork(db), actor, c["id"])
    assert final["tags"] == ["vip", "follow-up"] and final["stage"] == "qualified"
    assert (await event_types(db))[-2:] == ["contact.qualified", "contact.updated"]


async def test_what_an_after_hook_changes_in_its_record_does_not_reach_the_caller_or_other_hooks(
        client: httpx.AsyncClient, org: Org, hook: Registrar) -> None:
    seen: list[str] = []

    @hook.after("contact.qualified")
    def meddle(record: dict[str, Any], cmd: hooks.Command) -> None:
        record["stage"] = "churned"

    @hook.after("contact.qualified")
    def look(record: dict[str, Any], cmd: hooks.Command) -> None:
        seen.append(record["stage"])

    c = await create(client, org.admin, email="a@x.test", lead_score=90)
    r = await client.post(f"{API}/{c['id']}/qualify", headers=org.admin.h)
    assert r.json()["stage"] == "qualified" and seen == ["qualified"]


# --- after: every event a contact verb writes reaches its after-hooks --------------------------------

async def test_every_event_the_contact_verbs_write_reaches_its_after_hooks(
        client: httpx.AsyncClient, db: Database, org: Org, hook: Registrar) -> None:
    heard: list[str] = []

    def listener(type_: str) -> hooks.Hook:
        def listen(record: dict[str, Any], cmd: hooks.Command) -> None:
            heard.append(type_)
        return listen

    for type_ in EVENT_TYPES:
        hook.after(type_)(listener(type_))
    admin = await actor_of(db, org.admin)
    written: list[str] = []

    async def run(step: Any) -> None:
        start = len(await event_types(db))
        heard.clear()
        await step
        new = (await event_types(db))[start:]
        assert sorted(heard) == sorted(new), (sorted(heard), sorted(new))
        written.extend(new)

    r = await client.post("/api/v1/widget/identify", json={"visitor_id": "v", "email": "ada@initech.test"},
                          headers={"X-Kith-Widget-Key": org.widget_key})
    assert r.status_code == 200, r.text
    ada = r.json()["contact"]["id"]
    await contacts.update_contact(UnitOfWork(db), admin, ada, ContactPatch(lead_score=90))
    await run(verbs.capture_contact(UnitOfWork(db), admin, CaptureIn(email="bob@initech.test", source="form")))
    await run(verbs.capture_contact(UnitOfWork(db), admin, CaptureIn(email="ada@initech.test", source="form")))
    await run(verbs.qualify_contact(UnitOfWork(db), admin, ada))
    await run(verbs.enrich_contact(UnitOfWork(db), admin, ada, DomainOnlyProvider()))
    await run(verbs.assign_contact(UnitOfWork(db), admin, ada, org.rep.user_id, "reassign"))
    bob = (await verbs.capture_contact(UnitOfWork(db), admin, CaptureIn(email="bob2@x.test", source="f")))[0]
    await run(verbs.enrich_contact(UnitOfWork(db), admin, bob["id"], DomainOnlyProvider()))
    await run(merge_contacts(UnitOfWork(db), admin, ada, [bob["id"]]))
    assert {"contact.created", "contact.captured", "lead.created", "contact.qualified", "contact.enriched",
            "company.created", "contact.company-linked", "contact.company-unlinked", "company.deleted",
            "contact.assigned", "contact.merged"} <= set(written)
