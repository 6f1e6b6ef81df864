"""Lead → Deal conversion (seed 004 "Lead Converted to Deal", DESIGN §5.3).

One transaction: the deal (default pipeline unless one is named, the lead's contact and owner,
``lead_id`` set), the sales-process workflow started on it, a note activity "Lead converted to
Deal" on the contact and the deal, the owner's ``lead.converted`` notification, and the lead moved
to ``converted`` with ``converted_to_deal_id``/``converted_at`` and its ``lead.converted`` event
(data.deal_id). Every step joins this transaction, so any refusal (the deal's rules, the
workflow, the activity) leaves nothing written, the lead included.
"""

from __future__ import annotations

from typing import Any

from kith.activities.schemas import ActivityCreate
from kith.activities.service import log_activity
from kith.auth.model import Actor
from kith.core import clock
from kith.core.uow import UnitOfWork
from kith.deals.schemas import DealCreate
from kith.deals.service import create_deal
from kith.leads import model
from kith.leads.schemas import ConvertIn
from kith.leads.service import access_lead, move
from kith.notifications.service import notify
from kith.pipelines.repo import default_deal_pipeline
from kith.workflows.service import start_process

NOTE_SUBJECT = "Lead converted to Deal"


async def convert_lead(uow: UnitOfWork, actor: Actor, lead_id: str, cmd: ConvertIn
                       ) -> tuple[dict[str, Any], dict[str, Any]]:
    """qualified → converted (lead:convert). Returns ``(lead, deal)``."""
    async with uow.transaction(write=True):
        lead = await access_lead(uow, actor, lead_id, "lead:convert", for_update=True)
        model.assert_status_change_allowed(lead["status"], "converted")
        pipeline_id = cmd.pipeline_id or (await default_deal_pipeline(uow, actor.org_id))[0]
        deal_cmd = DealCreate(title=cmd.title or lead["title"], contact_id=lead["contact_id"], pipeline_id=pipeline_id,
                              value=cmd.value, expected_close_date=cmd.expected_close_date,
                              **({"owner_id": lead["owner_id"]} if lead["owner_id"] else {}))
        deal = await create_deal(uow, actor, deal_cmd, extra={"lead_id": lead_id})
        await start_process(uow, actor, deal["id"])
        note = await log_activity(uow, actor, ActivityCreate(
            type="note", subject=NOTE_SUBJECT, contact_id=lead["contact_id"], deal_id=deal["id"], lead_id=lead_id))
        refs = {"lead_id": lead_id, "deal_id": deal["id"], "contact_id": lead["contact_id"]}
        await notify(uow, actor.org_id, lead["owner_id"], "lead.converted", f"Lead converted to deal: {deal['title']}",
                     subject_type="deal", subject_id=deal["id"], data=refs)
        lead = await move(uow, actor, lead, "convert",
                           {"converted_to_deal_id": deal["id"], "converted_at": clock.now()},
                           {"deal_id": deal["id"], "activity_id": note["id"]}, (deal["id"],))
    return lead, deal
