"""Contact verbs beyond CRUD (seed 001): qualify, capture, assign/reassign and enrich; merge lives in
``kith.contacts.merge``.

Every verb is one transaction: load (and on PostgreSQL lock) the contact, decide the actor's grant
through ``kith.auth.access``, apply Kith's own state machine and rules, then the embedders'
before-hooks (``kith.core.hooks``), and only then write rows plus the verb's event. After-hooks run
once the transaction has committed. A refusal at any step leaves nothing written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError

from kith.auth.access import check_record, require
from kith.auth.model import Actor
from kith.auth.permissions import Grant, grant
from kith.companies.schemas import CompanyPatch
from kith.companies.tables import companies
from kith.contacts import dedupe, enrichment, model
from kith.contacts.schemas import CaptureIn, ContactCreate, ContactPatch
from kith.contacts.service import KIND, companies_of
from kith.contacts.tables import contact_companies, contacts
from kith.core import clock, hooks, ids
from kith.core.errors import Conflict, Forbidden, PreconditionFailed, RuleViolation, invalid
from kith.core.uow import UnitOfWork
from kith.leads.service import open_lead, open_lead_for
from kith.orgs.schemas import OrgSettings
from kith.orgs.tables import orgs, users
from kith.records import crud
from kith.records import service as rec
from kith.records.tables import record_tags
from kith.visitors.tables import visitors

log = logging.getLogger("kith.contacts")

# A capture that loses a race on the email index (PostgreSQL, several processes) is run again;
# the retry finds the contact the winner created, so two attempts settle it.
MAX_ATTEMPTS = 4

REASSIGN_RULE = "contact-reassign-manager-only"
ENRICH_RULE = "contact-enrich-requires-email"


# --- shared steps ----------------------------------------------------------------------------------

async def org_settings(uow: UnitOfWork, org_id: str) -> OrgSettings:
    raw = (await uow.execute(sa.select(orgs.c.settings).where(orgs.c.id == org_id))).scalar_one()
    return OrgSettings.model_validate(raw)


async def _locked(uow: UnitOfWork, actor: Actor, contact_id: str, permission: str = "contact:update"
                  ) -> dict[str, Any]:
    row = await crud.load_live(uow, KIND, actor.org_id, contact_id, for_update=True)
    check_record(actor, permission, row.owner_id, kind="contact", record_id=contact_id)
    return crud.out(row)


async def write_contact(uow: UnitOfWork, actor: Actor, contact: dict[str, Any], values: dict[str, Any]
                        ) -> dict[str, Any]:
    """Write ``values`` (and the duplicate keys they change) to a contact read in this transaction;
    bumps its version."""
    keys = dedupe.changed_keys(contact, values)
    values = {**values, "updated_at": clock.now(), "version": contact["version"] + 1}
    c = contacts.c
    res = await uow.execute(contacts.update().where(c.org_id == actor.org_id, c.id == contact["id"],
                                                    c.version == contact["version"]).values(**values, **keys))
    if res.rowcount != 1:  # a concurrent writer won the race between our read and write
        raise PreconditionFailed("the contact changed while this verb ran; try again")
    if "tags" in values:
        await rec.set_tags(uow, actor.org_id, "contact", contact["id"], values["tags"])
    return {**contact, **values}


async def _record(uow: UnitOfWork, actor: Actor, type_: str, contact_id: str, data: dict[str, Any],
                  refs: tuple[str, ...] = ()) -> None:
    await uow.record(actor.org_id, type_, subject_type="contact", subject_id=contact_id, actor_id=actor.id,
                     actor_type=actor.kind, data=data, refs=refs)


# --- qualify ---------------------------------------------------------------------------------------

async def qualify_contact(uow: UnitOfWork, actor: Actor, contact_id: str) -> dict[str, Any]:
    """lead → qualified when the qualify rules hold. Qualifying a qualified contact changes nothing."""
    async with uow.transaction(write=True):
        contact = await _locked(uow, actor, contact_id)
        model.assert_stage_change_allowed(contact["stage"], "qualified")
        if contact["stage"] == "qualified":
            return contact
        settings = await org_settings(uow, actor.org_id)
        model.assert_rules(model.QUALIFY_RULES, contact, settings.model_dump())
        cmd = hooks.Command("contact.qualify", actor, contact_id)
        await hooks.run_before(cmd.verb, contact, cmd)
        before = contact["stage"]
        contact = await write_contact(uow, actor, contact, {"stage": "qualified"})
        await _record(uow, actor, "contact.qualified", contact_id, {
            "before": {"stage": before}, "after": {"stage": "qualified"}, "lead_score": contact["lead_score"],
            "threshold": settings.qualify_score_threshold})
        hooks.run_after(uow, "contact.qualified", contact, cmd)
    return contact


# --- capture ---------------------------------------------------------------------------------------

async def capture_contact(uow: UnitOfWork, actor: Actor, cmd: CaptureIn
                          ) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """Match a contact by email or create one, fill its source when empty, and open a lead for it
    unless it has an open lead from the same source already (a form sent twice is one lead).
    Returns ``(contact, lead, created)``. A new lead belongs to the contact's owner (else the actor)."""
    require(actor, "contact:create")
    require(actor, "lead:create")
    for attempt in range(MAX_ATTEMPTS):
        try:
            return await _capture(uow, actor, cmd)
        except Conflict as exc:
            if not _lost_email_race(exc) or attempt == MAX_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _lost_email_race(exc: Conflict) -> bool:
    """Another capture created the contact between our lookup and our insert: on the unique index
    (IntegrityError) or, when it committed in between, on ``prepare``'s email check."""
    return isinstance(exc.__cause__, IntegrityError) or exc.extra.get("field") == "email"


async def _capture(uow: UnitOfWork, actor: Actor, cmd: CaptureIn) -> tuple[dict[str, Any], dict[str, Any], bool]:
    c = contacts.c
    async with uow.transaction(write=True):
        q = sa.select(*KIND.columns).where(c.org_id == actor.org_id, c.email == cmd.email, c.deleted_at.is_(None))
        if uow.backend == "postgresql":  # concurrent captures of one contact queue here, not on its version
            q = q.with_for_update()
        row = (await uow.execute(q)).first()
        command = hooks.Command("contact.capture", actor, row.id if row else None, cmd.model_dump(exclude_unset=True))
        created = row is None
        if row is None:
            fields = cmd.model_dump(exclude_unset=True, exclude={"lead_title"})
            if not fields.get("name"):  # absent or sent as null
                fields["name"] = cmd.email.split("@")[0][:200]
            new = ContactCreate.model_validate(fields)
            await hooks.run_before(command.verb, {"id": None, **new.model_dump()}, command)
            contact = await crud.create(uow, actor, KIND, new)
            source_before = None
        else:
            contact = crud.out(row)
            await hooks.run_before(command.verb, contact, command)
            source_before = contact["source"]
            if not contact["source"]:
                contact = await write_contact(uow, actor, contact, {"source": cmd.source})
        lead = None if created else await open_lead_for(uow, actor.org_id, contact["id"], cmd.source)
        lead_created = lead is None
        if lead is None:
            title = cmd.lead_title or f"{contact['name']} ({cmd.source})"
            lead = await open_lead(uow, actor, contact["id"], title, cmd.source,
                                   owner_id=contact["owner_id"] or actor.user_id, score=contact["lead_score"])
        await _record(uow, actor, "contact.captured", contact["id"], {
            "created": created, "lead_id": lead["id"], "lead_created": lead_created, "source": cmd.source,
            "before": {"source": source_before}, "after": {"source": contact["source"]}}, refs=(lead["id"],))
        hooks.run_after(uow, "contact.captured", {**contact, "lead": lead}, command)
    return contact, lead, created


# --- assign / reassign -----------------------------------------------------------------------------

def _may_assign(actor: Actor) -> None:
    """Seed 004 rule ``contact-reassign-manager-only``: choosing a contact's owner is
    contact:reassign (crm-admin, sales-manager), for ``assign`` as for ``reassign``. A sales-rep
    has no claim on an unowned contact: the matrix gives them update rights on their own only."""
    if grant(actor.roles, "contact:reassign") is not Grant.ALL:
        raise Forbidden("only a manager may choose a contact's owner",
                        extra={"permission": "contact:reassign", "rule": REASSIGN_RULE})


async def _active_user(uow: UnitOfWork, org_id: str, user_id: str) -> None:
    q = sa.select(users.c.id).where(users.c.org_id == org_id, users.c.id == user_id, users.c.is_active.is_(True))
    if (await uow.execute(q)).first() is None:
        raise invalid("owner_id", f"no active user {user_id!r} in this org")


async def assign_contact(uow: UnitOfWork, actor: Actor, contact_id: str, owner_id: str,
                         verb: Literal["assign", "reassign"]) -> dict[str, Any]:
    """``assign`` gives an unowned contact its owner (409 ``already-assigned`` when it has another
    one); ``reassign`` moves any contact to another owner. Same owner again: nothing changes."""
    async with uow.transaction(write=True):
        contact = await _locked(uow, actor, contact_id, "contact:read")
        _may_assign(actor)
        current = contact["owner_id"]
        if verb == "assign" and current not in (None, owner_id):
            raise Conflict("the contact already has an owner: reassign it instead",
                           extra={"code": "already-assigned", "owner_id": current})
        await _active_user(uow, actor.org_id, owner_id)
        if owner_id == current:
            return contact
        cmd = hooks.Command(f"contact.{verb}", actor, contact_id, {"owner_id": owner_id})
        await hooks.run_before(cmd.verb, contact, cmd)
        contact = await write_contact(uow, actor, contact, {"owner_id": owner_id})
        await _record(uow, actor, "contact.assigned", contact_id, {
            "verb": verb, "before": {"owner_id": current}, "after": {"owner_id": owner_id}})
        if owner_id != actor.user_id:  # the new owner hears of it (in-app inbox)
            from kith.notifications.service import notify

            await notify(uow, actor.org_id, owner_id, "contact.assigned", f"Contact assigned to you: {contact['name']}",
                         subject_type="contact", subject_id=contact_id,
                         data={"contact_id": contact_id, "verb": verb, "assigned_by": actor.user_id,
                               "previous_owner_id": current})
        hooks.run_after(uow, "contact.assigned", contact, cmd)
    return contact


async def owner_patched(uow: UnitOfWork, actor: Actor, existing: Any, owner_id: str | None) -> None:
    """A plain ``PATCH`` is about to give the contact ``existing`` another owner (its rights were
    checked by ``crud.check_owner``): the same ``contact.assigned`` event (verb ``patch``) and the
    same notification to the new owner as the assign verb, in the PATCH's transaction. Clearing the
    owner assigns nobody: ``contact.updated`` alone tells it."""
    current = existing.owner_id
    if owner_id is None or owner_id == current:
        return
    await _record(uow, actor, "contact.assigned", existing.id, {
        "verb": "patch", "before": {"owner_id": current}, "after": {"owner_id": owner_id}})
    if owner_id != actor.user_id:
        from kith.notifications.service import notify

        await notify(uow, actor.org_id, owner_id, "contact.assigned", f"Contact assigned to you: {existing.name}",
                     subject_type="contact", subject_id=existing.id,
                     data={"contact_id": existing.id, "verb": "patch", "assigned_by": actor.user_id,
                           "previous_owner_id": current})


# --- company links shared by enrich and merge --------------------------------------------------------

async def tidy_company_links(uow: UnitOfWork, actor: Actor, contact_id: str, cmd: hooks.Command) -> None:
    """Once a contact has a real company its placeholders go (deleted when no contact uses them);
    a contact with only placeholders keeps one. Exactly one link stays primary. ``cmd`` is the
    verb doing it, handed to the after-hooks of the events written here."""
    cc = contact_companies.c
    rows = list(await uow.execute(
        sa.select(cc.company_id, cc.is_primary, companies.c.is_placeholder)
        .select_from(contact_companies.join(companies, sa.and_(companies.c.org_id == cc.org_id,
                                                               companies.c.id == cc.company_id)))
        .where(cc.org_id == actor.org_id, cc.contact_id == contact_id)
        .order_by(companies.c.is_placeholder, cc.is_primary.desc(), cc.created_at, cc.company_id)))
    if not rows:
        return
    keep = [r for r in rows if not r.is_placeholder] or rows[:1]
    for r in rows:
        if r not in keep:
            await drop_placeholder(uow, actor, contact_id, r.company_id, cmd)
    if not any(r.is_primary for r in keep):
        await uow.execute(contact_companies.update().where(
            cc.org_id == actor.org_id, cc.contact_id == contact_id, cc.company_id == keep[0].company_id)
            .values(is_primary=True))


async def drop_placeholder(uow: UnitOfWork, actor: Actor, contact_id: str, company_id: str, cmd: hooks.Command
                           ) -> None:
    """Unlink a placeholder company; delete it for good when no other contact uses it (seed 000)."""
    org_id, cc = actor.org_id, contact_companies.c
    await uow.execute(contact_companies.delete().where(
        cc.org_id == org_id, cc.contact_id == contact_id, cc.company_id == company_id))
    link = {"contact_id": contact_id, "company_id": company_id, "placeholder": True}
    await _record(uow, actor, "contact.company-unlinked", contact_id,
                  {"company_id": company_id, "placeholder": True}, refs=(company_id,))
    hooks.run_after(uow, "contact.company-unlinked", link, cmd)
    if (await uow.execute(sa.select(cc.contact_id).where(cc.org_id == org_id, cc.company_id == company_id)
                          .limit(1))).first() is not None:
        return
    t = companies.c
    company = (await uow.execute(sa.select(*[c for c in t if c.name != "org_id"]).where(
        t.org_id == org_id, t.id == company_id))).one()
    await uow.execute(visitors.update().where(visitors.c.org_id == org_id, visitors.c.active_company_id == company_id)
                      .values(active_company_id=None))
    await uow.execute(record_tags.delete().where(record_tags.c.org_id == org_id, record_tags.c.record_id == company_id))
    await uow.execute(companies.delete().where(t.org_id == org_id, t.id == company_id))
    await uow.record(org_id, "company.deleted", subject_type="company", subject_id=company_id, actor_id=actor.id,
                     actor_type=actor.kind,
                     data={"permanent": True, "reason": "placeholder replaced by a real company"})
    hooks.run_after(uow, "company.deleted", dict(company._mapping), cmd)


# --- enrich ----------------------------------------------------------------------------------------

def _valid(schema: type[BaseModel], facts: dict[str, Any]) -> dict[str, Any]:
    """The provider's facts that pass ``schema``'s validation; the others are logged and dropped."""
    while facts:
        try:
            return schema.model_validate(facts).model_dump(exclude_unset=True)
        except ValidationError as exc:
            bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
            log.warning("enrichment provider gave invalid %s; dropped", sorted(bad))
            facts = {k: v for k, v in facts.items() if k not in bad} if bad else {}
    return {}


def _gaps(record: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in facts.items() if k in record and record[k] in (None, "")}


async def enrich_contact(uow: UnitOfWork, actor: Actor, contact_id: str,
                         provider: enrichment.EnrichmentProvider) -> dict[str, Any]:
    """Company from the email domain (free-mail domains and what is no valid domain name skipped):
    found by domain or created and named after it, linked (replacing a placeholder), its empty
    fields filled from the provider; the contact's empty fields filled from the provider's person
    facts. The provider is asked outside the transaction, so a slow provider never holds the
    database."""
    async with uow.transaction():
        row = await crud.load_live(uow, KIND, actor.org_id, contact_id)
        check_record(actor, "contact:update", row.owner_id, kind="contact", record_id=contact_id)
    email = row.email
    if not email:
        raise RuleViolation(ENRICH_RULE, "a contact needs an email to be enriched", extra={"field": "email"})
    domain, skipped = enrichment.company_domain(email)
    company_facts, person_facts, provider_error = {}, {}, False
    try:
        if skipped is None:
            company_facts = enrichment.facts_dict(await enrichment.ask(provider.lookup, domain))
        person_facts = enrichment.facts_dict(await enrichment.ask(provider.person, email))
    except Exception:  # a provider outage degrades enrichment to what the domain tells
        log.exception("enrichment provider failed for %s", domain)
        provider_error = True
    facts = Facts(domain, skipped, _valid(CompanyPatch, company_facts),
                  _valid(ContactPatch, {k: v for k, v in person_facts.items() if k != "email"}), provider_error)
    for attempt in range(MAX_ATTEMPTS):
        try:
            return await _enrich(uow, actor, contact_id, email, facts)
        except Conflict as exc:  # another enrich created the domain's company first: link that one
            if not isinstance(exc.__cause__, IntegrityError) or attempt == MAX_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Facts:
    domain: str
    skipped: str | None  # why no company is derived: "free-mail" | "invalid-domain"
    company: dict[str, Any]
    person: dict[str, Any]
    provider_error: bool


async def _enrich(uow: UnitOfWork, actor: Actor, contact_id: str, email: str, facts: Facts) -> dict[str, Any]:
    async with uow.transaction(write=True):
        contact = await _locked(uow, actor, contact_id)
        if contact["email"] != email:
            raise Conflict("the contact's email changed while it was being enriched; try again")
        cmd = hooks.Command("contact.enrich", actor, contact_id, {"domain": facts.domain, "skipped": facts.skipped})
        await hooks.run_before(cmd.verb, contact, cmd)
        company_id = None
        if facts.skipped is None:
            company_id = await _company_for_domain(uow, actor, facts.domain, facts.company)
            await _link(uow, actor, contact_id, company_id, cmd)
        values = _gaps(contact, facts.person)
        before, after = rec.diff(contact, values)
        if values:
            contact = await write_contact(uow, actor, contact, values)
        await _record(uow, actor, "contact.enriched", contact_id, {
            "domain": facts.domain, "free_mail": facts.skipped == "free-mail", "skipped": facts.skipped,
            "company_id": company_id, "provider_error": facts.provider_error, "before": before, "after": after},
            refs=(company_id,) if company_id else ())
        contact["companies"] = await companies_of(uow, actor.org_id, contact_id)
        hooks.run_after(uow, "contact.enriched", contact, cmd)
    return contact


async def _company_for_domain(uow: UnitOfWork, actor: Actor, domain: str, facts: dict[str, Any]) -> str:
    """The live company with ``domain`` (its empty fields filled from ``facts``), else a new one.
    Both run the company's own before- and after-hooks, as a create or update through the API would."""
    t = companies.c
    row = (await uow.execute(sa.select(*[c for c in companies.c if c.name != "org_id"]).where(
        t.org_id == actor.org_id, t.domain == domain, t.deleted_at.is_(None)))).first()
    now = clock.now()
    if row is None:
        require(actor, "company:create")
        company: dict[str, Any] = {c.name: None for c in companies.c if c.name not in {"org_id", "deleted_at"}}
        company.update(facts)
        company.update(id=ids.new("company"), name=facts.get("name") or enrichment.name_from_domain(domain),
                       domain=domain, owner_id=actor.user_id, metadata={}, custom_fields={}, tags=[],
                       is_placeholder=False, enriched_at=now, created_at=now, updated_at=now, version=1)
        cmd = hooks.Command("company.create", actor, None, {"domain": domain, **facts})
        await hooks.run_before(cmd.verb, company, cmd)
        await uow.execute(companies.insert(), {"org_id": actor.org_id, **company})
        await uow.record(actor.org_id, "company.created", subject_type="company", subject_id=company["id"],
                         actor_id=actor.id, actor_type=actor.kind,
                         data={"after": {k: rec.jsonable(v) for k, v in company.items()}, "via": "contact.enrich"})
        hooks.run_after(uow, "company.created", company, cmd)
        return str(company["id"])
    check_record(actor, "company:update", row.owner_id, kind="company", record_id=row.id)
    current = dict(row._mapping)
    values = _gaps(current, {k: v for k, v in facts.items() if k != "name"})
    if values:
        cmd = hooks.Command("company.update", actor, row.id, dict(values))
        await hooks.run_before(cmd.verb, current, cmd)
        before, after = rec.diff(current, values)
        values.update(enriched_at=now, updated_at=now, version=row.version + 1)
        await uow.execute(companies.update().where(t.org_id == actor.org_id, t.id == row.id).values(**values))
        await uow.record(actor.org_id, "company.updated", subject_type="company", subject_id=row.id,
                         actor_id=actor.id, actor_type=actor.kind,
                         data={"before": before, "after": after, "via": "contact.enrich"})
        hooks.run_after(uow, "company.updated", {**current, **values}, cmd)
    return str(row.id)


async def _link(uow: UnitOfWork, actor: Actor, contact_id: str, company_id: str, cmd: hooks.Command) -> None:
    cc = contact_companies.c
    mine = (cc.org_id == actor.org_id, cc.contact_id == contact_id)
    if (await uow.execute(sa.select(cc.company_id).where(*mine, cc.company_id == company_id))).first() is None:
        link = {"org_id": actor.org_id, "contact_id": contact_id, "company_id": company_id, "is_primary": False,
                "role": None, "title": None, "created_at": clock.now()}
        await uow.execute(contact_companies.insert(), link)
        await _record(uow, actor, "contact.company-linked", contact_id, {
            "company_id": company_id, "before": None, "after": {"is_primary": False}, "via": "contact.enrich"},
            refs=(company_id,))
        hooks.run_after(uow, "contact.company-linked", {k: v for k, v in link.items() if k != "org_id"}, cmd)
    await tidy_company_links(uow, actor, contact_id, cmd)
