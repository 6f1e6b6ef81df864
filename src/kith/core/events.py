"""The append-only event log, which is also the transactional outbox.

Every verb writes its event(s) through ``UnitOfWork.record`` inside the verb's own transaction,
so an event exists if and only if the change it describes was committed. Event types are a
registry: recording an unregistered type is a programming error caught by the tests.
Each event is indexed under every record it concerns (``event_refs``), which is what a record's
timeline reads.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from kith.core.db import JSONType, UTCDateTime, metadata

events = sa.Table(
    "events",
    metadata,
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("type", sa.String(80), nullable=False),
    sa.Column("subject_type", sa.String(40), nullable=False),
    sa.Column("subject_id", sa.String(64), nullable=False),
    sa.Column("actor_type", sa.String(20), nullable=False),
    sa.Column("actor_id", sa.String(64)),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("data", JSONType, nullable=False),
    sa.Index("ix_events_org_type", "org_id", "type", "id"),
)

event_refs = sa.Table(
    "event_refs",
    metadata,
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("record_id", sa.String(64), primary_key=True),
    sa.Column("event_id", sa.String(40), primary_key=True),
)

# type -> what it means. Names are <noun>.<past-tense verb>, never reused.
EVENT_TYPES: dict[str, str] = {
    "org.created": "An org was created (kith init).",
    "org.updated": "Org settings changed.",
    "user.created": "A user was added to the org.",
    "user.updated": "A user's name, roles, manager or status changed.",
    "api_key.created": "An API key was issued to a user.",
    "api_key.revoked": "An API key was revoked; it fails from that moment.",
    "contact.created": "A contact was created.",
    "contact.updated": "Contact fields changed (before/after carry only the changed fields).",
    "contact.deleted": "A contact was moved to the trash (or erased when data.permanent is true).",
    "contact.restored": "A contact was restored from the trash.",
    "company.created": "A company was created.",
    "company.updated": "Company fields changed.",
    "company.deleted": "A company was moved to the trash (or erased when data.permanent is true).",
    "company.restored": "A company was restored from the trash.",
    "company.stage-changed": "A company moved to another stage (data.mode: advance_only or exact).",
    "visitor.identified": "The widget identified a visitor (data: contact_id, active_company_id, changes).",
    "contact.company-linked": "A contact was linked to a company (or the link's role/primary changed).",
    "contact.company-unlinked": "A contact was unlinked from a company.",
    "contact.qualified": "A contact moved to stage qualified through the qualify verb (data: before/after stage).",
    "contact.captured": "A lead capture was recorded for a contact created or matched by email (data: lead_id).",
    "contact.assigned": "A contact was given an owner (data: verb assign|reassign|patch, before/after owner_id).",
    "contact.merged": "Duplicate contacts were merged into this one and erased (data: merged_ids, before/after).",
    "contact.enriched": "A contact was enriched from its email domain and a provider (data: domain, company_id).",
    "lead.created": "A lead was opened for a contact.",
    "lead.updated": "Lead fields changed (before/after carry only the changed fields).",
    "lead.contacted": "A new lead was contacted (explicitly, or by an outbound activity logged on it).",
    "lead.qualified": "A lead was qualified (its score met the org's threshold).",
    "lead.disqualified": "A lead was disqualified (data.reason).",
    "lead.reopened": "A disqualified lead was reopened (status new again).",
    "lead.converted": "A lead was converted: a deal was created for it (data: deal_id).",
    "lead.deleted": "A lead was deleted.",
    "pipeline.created": "A pipeline was created.",
    "pipeline.updated": "A pipeline's name or default flag changed.",
    "pipeline.stages-changed": ("A pipeline's stages were added, renamed, reordered or deleted "
                                "(data: before/after, moved deals)."),
    "pipeline.deleted": "A pipeline was deleted.",
    "product.created": "A product was added to the catalog.",
    "product.updated": "A product changed.",
    "product.deleted": "A product was removed from the catalog.",
    "price_list.created": "A price list was created.",
    "price_list.updated": "A price list or its prices changed.",
    "price_list.deleted": "A price list was deleted.",
    "deal.created": "A deal was created.",
    "deal.updated": "Deal fields changed (before/after carry only the changed fields).",
    "deal.stage-moved": "A deal moved to another stage (data: from_stage_id, to_stage_id).",
    "deal.won": "A deal was marked won.",
    "deal.lost": "A deal was marked lost (data.reason).",
    "deal.abandoned": "A deal was abandoned.",
    "deal.reopened": "A closed deal was reopened (won deals within 30 days of closing).",
    "deal.deleted": "A deal was moved to the trash (or erased when data.permanent is true).",
    "deal.restored": "A deal was restored from the trash.",
    "deal.assigned": "A deal was given another owner (data: before/after owner_id).",
    "deal.contact-linked": "A contact was added to a deal (or its role label changed; data: contact_id, role).",
    "deal.contact-unlinked": "A contact was removed from a deal (data: contact_id).",
    "approval.cancelled": "A pending or approved request was cancelled because the deal's value changed.",
    "approval.requested": "Approval to close a high-value deal was requested.",
    "approval.approved": "An approval request was approved.",
    "approval.rejected": "An approval request was rejected.",
    "activity.created": "An activity (call, email, meeting, note, task, demo, sms, chat) was logged.",
    "activity.updated": "An activity changed.",
    "activity.completed": "An activity or task was marked complete.",
    "activity.deleted": "An activity was deleted.",
    "workflow.started": "A sales-process workflow was started on a deal.",
    "workflow.stage-advanced": "A workflow moved to its next stage (data: from, to).",
    "workflow.completed": "A workflow's last stage was completed.",
    "workflow.guard-confirmed": ("A confirmation guard of a workflow (e.g. verbal-agreement) was confirmed "
                                 "(data.guard)."),
    "workflow.cancelled": "A workflow was cancelled because its deal was lost, abandoned or deleted by hand.",
    "workflow_template.created": "An org's own workflow template was created (data.after: the definition).",
    "workflow_template.updated": "An org's own workflow template changed (data: before/after).",
    "workflow_template.deleted": "An org's own workflow template was deleted (running workflows keep their copy).",
    "custom_field.created": "A custom field was defined (data.after: the definition).",
    "custom_field.updated": "A custom field's label, description, required flag or options changed.",
    "custom_field.deleted": "A custom field was deleted; its values are then removed from records (data: before).",
    "webhook.created": "A webhook subscription was created (data.after: url, events, description; never the secret).",
    "webhook.updated": "A webhook's url, events, description or enabled flag changed (data: before/after).",
    "webhook.deleted": "A webhook subscription was deleted with its delivery log (data.before).",
    "webhook.secret-rotated": "A webhook's signing secret was replaced; the old one stops at once.",
    "webhook.disabled": "A webhook was disabled after too many failed attempts in a row (data: failures, threshold).",
    "webhook.delivery-replayed": "A delivery was queued again by hand (data: delivery_id, replay_id, event_id).",
    "currency_rates.updated": "The org's currency rates were replaced (data: before/after {currency: rate}).",
    "import.completed": ("A CSV/XLSX import finished (data: object, mode, dry_run, counts); per-record events "
                         "are written only for imports of at most 10,000 rows (docs/imports.md)."),
    "import.reverted": ("An import was reverted: its created records removed, updated ones restored "
                        "(data: deleted, restored)."),
    # automation rules (docs/automations.md); events their actions cause carry data.automation
    "automation.created": "An automation rule was created (data.after: name, enabled, trigger, conditions, actions).",
    "automation.updated": "An automation rule changed (data: before/after of the changed fields).",
    "automation.deleted": "An automation rule was deleted with its run log (data.before).",
    # scheduled jobs (docs/jobs.md) and inbound telephony (docs/telephony.md)
    "deal.rotting": ("An open deal had no progress (stage move or activity) for longer than its stage's rot period; "
                     "flagged once per rot episode by the deal-rotting job (data: deal_id, owner_id, stage_id, "
                     "rot_period_days, days_idle, last_progress_at)."),
    "lead.score-decayed": ("The weekly lead-score-decay job lowered an inactive lead's score (data: before/after "
                           "score, points, inactive_days)."),
    "telephony.secret-rotated": ("The org's inbound telephony signing secret was created or replaced; the old one "
                                 "stops at once."),
    # support desk tickets (docs/tickets.md); indexed under the ticket, its contact and its company
    "ticket.created": "A support ticket was opened for a contact (data.after: the ticket, with its number).",
    "ticket.updated": ("Ticket fields changed (before/after carry only the changed fields; a priority change "
                       "moves due_at)."),
    "ticket.assigned": "A ticket was given to another agent or unassigned (data: before/after assignee_id).",
    "ticket.marked-pending": "A ticket now waits on the customer (data: before/after status, first_response_at).",
    "ticket.resolved": "A ticket was resolved (data: before/after status, resolved_at, resolution).",
    "ticket.reopened": "A pending or resolved ticket was reopened (status open again).",
    "ticket.closed": "A resolved ticket was closed; closed is final.",
    "ticket.deleted": "A ticket was erased (crm-admin; data.before keeps what it held).",
    # the in-app inbox: POST /notifications/{id}/read and /notifications/read-all (docs/events.md)
    "notification.read": ("A user read their notification(s): one event per notification marked read, or one "
                          "event for a read-all (data: all, count, read_at)."),
}

_TYPE_RE = re.compile(r"^[a-z_]+\.[a-z]+(?:-[a-z]+)*$")


def check_registry() -> None:
    bad = [t for t in EVENT_TYPES if not _TYPE_RE.match(t)]
    if bad:
        raise AssertionError(f"event types not of the form <noun>.<past-tense verb>: {bad}")


check_registry()
