"""The jobs of seed 004 §10. Each runs inside its run's transaction (``JobContext.uow``), for one org,
with ``ctx.now`` as "now"; each returns a small summary stored in ``job_runs.result``.

- ``deal_rotting``: an open deal rots when its last progress — entering its stage, or the newest
  activity logged on it — is older than the stage's ``rot_period_days`` (the org's
  ``rot_period_days`` when the stage has none). Each rot *episode* is flagged once: a
  ``deal.rotting`` event; each owner gets one notification per run (the deal, or a digest of
  many). The episode is identified by the last progress time; once the deal progresses (stage
  move, activity) and rots again, that is a new one.
- ``follow_up_reminders``: at 08:00 in each assignee's timezone (``users.timezone``, else the
  org's, else UTC), one ``task.due`` notification per assignee listing their open tasks due that
  local day or overdue. A reminder not sent by local midnight (worker down) is skipped, not sent at
  night. Claims are per (assignee, local date) rows of ``job_runs`` (job ``follow-up-reminders:owner``).
- ``lead_score_decay``: open leads (new, contacted, qualified) older than 30 days with no activity
  in the last 30 days (on the lead or its contact) lose ``DECAY_POINTS``, floor 0; each writes
  ``lead.score-decayed``.
- ``campaign_stats_sync``: no campaigns exist yet: logs and does nothing.
- ``analytics_snapshot``: ``kith.analytics.snapshot.take_snapshot`` for the UTC day that just ended.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from kith.activities.tables import activities
from kith.core.db import UTCDateTime
from kith.core.outbox import insert_ignoring_duplicates, upsert
from kith.core.uow import UnitOfWork
from kith.deals.tables import deals
from kith.jobs.base import JobContext
from kith.jobs.model import Daily, zone
from kith.jobs.tables import deal_rot_alerts, job_runs
from kith.leads.tables import leads
from kith.notifications.service import notify
from kith.orgs.tables import orgs, users
from kith.pipelines.tables import pipelines, stages

log = logging.getLogger("kith.jobs")

a, d, ld = activities.c, deals.c, leads.c
DEFAULT_ROT_DAYS = 30  # OrgSettings.rot_period_days' default, when an org has none stored
REMINDER_AT = time(8, 0)
OWNER_JOB = "follow-up-reminders:owner"
# Per-owner claims are kept this long: long enough to explain "why no reminder", short enough to stay small.
OWNER_CLAIMS_KEPT = timedelta(days=14)
# Listed in a reminder's data; the title carries the full count.
REMINDER_LIST_MAX = 20
DECAY_POINTS = 10  # per weekly run: a lead untouched for months fades out over ~10 weeks
INACTIVE_DAYS = 30
OPEN_LEAD_STATUSES = ("new", "contacted", "qualified")
BATCH = 500


async def _org_setting(uow: UnitOfWork, org_id: str, name: str) -> Any:
    raw = (await uow.execute(sa.select(orgs.c.settings).where(orgs.c.id == org_id))).scalar_one_or_none()
    return (raw or {}).get(name)


# --- deal rotting --------------------------------------------------------------------------------------

async def deal_rotting(ctx: JobContext) -> dict[str, Any]:
    """Flag the rot episodes not flagged yet: stale deals are read a stage at a time in keyset batches
    of ``BATCH``, each batch's flags written as one upsert (events go out as multi-row inserts), and
    the event loop gets a turn between batches (on SQLite statements run in its thread: reads keep
    being served while a run flags 200,000 deals). Each owner is told once per run: the deal itself
    when one of theirs started rotting, else one ``deal.rotting`` digest with the count and the first
    ``REMINDER_LIST_MAX`` deals (an import of old deals would otherwise leave thousands in one inbox)."""
    uow = ctx.uow
    default_days = int(await _org_setting(uow, ctx.org_id, "rot_period_days") or DEFAULT_ROT_DAYS)
    s, p = stages.c, pipelines.c
    open_stages = list(await uow.execute(
        sa.select(s.id, s.pipeline_id, s.rot_period_days)
        .join(pipelines, sa.and_(p.org_id == s.org_id, p.id == s.pipeline_id))
        .where(s.org_id == ctx.org_id, p.kind == "deal", s.outcome.is_(None)).order_by(s.id)))
    flagged = checked = 0
    told: dict[str, list[dict[str, Any]]] = {}  # owner -> the deals flagged for them this run
    for stage in open_stages:
        days = stage.rot_period_days or default_days
        after: tuple[datetime, str] | None = None
        while True:
            batch = await _stale_deals(uow, ctx, stage, ctx.now - timedelta(days=days), after)
            if not batch:
                break
            checked, after = checked + len(batch), (batch[-1].created_at, batch[-1].id)
            for deal in await _flag(uow, ctx, batch, days):
                flagged += 1
                if deal["owner_id"]:
                    told.setdefault(deal["owner_id"], []).append(deal)
            await asyncio.sleep(0)
            if len(batch) < BATCH:
                break
    for owner_id, flags in told.items():
        await _tell_owner(uow, ctx, owner_id, flags)
    return {"deals_flagged": flagged, "deals_rotting": checked}


async def _stale_deals(uow: UnitOfWork, ctx: JobContext, stage: Any, cutoff: datetime,
                       after: tuple[datetime, str] | None) -> list[Any]:
    """The next ``BATCH`` open deals of the stage, in ``ix_deals_stage`` order (created_at, id) after
    ``after``, that entered it before ``cutoff`` and have no activity since, with the progress time
    their last flagged episode had (the activity checks use ``ix_activities_deal``). The keyset
    follows the index, so each batch resumes the scan where the last one stopped; by id instead,
    PostgreSQL filtered and sorted every remaining deal of the stage per batch (minutes at 300k)."""
    on_deal = (a.org_id == d.org_id, a.deal_id == d.id, a.deleted_at.is_(None), a.occurred_at <= ctx.now)
    recent = sa.exists().where(*on_deal, a.occurred_at > cutoff)
    last_activity = sa.select(sa.func.max(a.occurred_at)).where(*on_deal).scalar_subquery()
    r = deal_rot_alerts.c
    q = (sa.select(d.id, d.created_at, d.title, d.owner_id, d.stage_id, d.stage_changed_at,
                   last_activity.label("last_activity_at"), r.progress_at.label("flagged_progress_at"))
         .outerjoin(deal_rot_alerts, sa.and_(r.org_id == d.org_id, r.deal_id == d.id))
         .where(d.org_id == ctx.org_id, d.pipeline_id == stage.pipeline_id, d.stage_id == stage.id,
                d.status == "open", d.deleted_at.is_(None), d.stage_changed_at < cutoff, ~recent)
         .order_by(d.created_at, d.id).limit(BATCH))
    if after is not None:
        q = q.where(sa.tuple_(d.created_at, d.id) > sa.tuple_(sa.literal(after[0], UTCDateTime()), after[1]))
    return list(await uow.execute(q))


async def _flag(uow: UnitOfWork, ctx: JobContext, batch: list[Any], days: int) -> list[dict[str, Any]]:
    """Flag the batch's new episodes: one upsert for their alerts, a ``deal.rotting`` event each."""
    out: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    for deal in batch:
        progress = max(t for t in (deal.stage_changed_at, deal.last_activity_at) if t is not None)
        if deal.flagged_progress_at == progress and not ctx.force:
            continue  # this episode was flagged already
        alerts.append({"org_id": ctx.org_id, "deal_id": deal.id, "progress_at": progress, "alerted_at": ctx.now})
        data = {"deal_id": deal.id, "owner_id": deal.owner_id, "stage_id": deal.stage_id, "rot_period_days": days,
                "days_idle": (ctx.now - progress).days, "last_progress_at": progress.isoformat()}
        await uow.record(ctx.org_id, "deal.rotting", subject_type="deal", subject_id=deal.id, actor_id=None,
                         actor_type="system", data=data)
        out.append({**data, "title": deal.title})
    if alerts:
        await uow.execute(upsert(uow.backend, deal_rot_alerts, ["org_id", "deal_id"], ["progress_at", "alerted_at"]),
                          alerts)
    return out


async def _tell_owner(uow: UnitOfWork, ctx: JobContext, owner_id: str, flags: list[dict[str, Any]]) -> None:
    if len(flags) == 1:
        [one] = flags
        await notify(uow, ctx.org_id, owner_id, "deal.rotting",
                     f"Deal rotting: {one['title']} (no progress for {one['days_idle']} days)", subject_type="deal",
                     subject_id=one["deal_id"], data={k: v for k, v in one.items() if k != "title"})
        return
    listed = [{k: f[k] for k in ("deal_id", "title", "stage_id", "days_idle")} for f in flags[:REMINDER_LIST_MAX]]
    await notify(uow, ctx.org_id, owner_id, "deal.rotting", f"{len(flags)} deals rotting (no recent progress)",
                 subject_type="user", subject_id=owner_id, data={"count": len(flags), "deals": listed})


# --- follow-up reminders ----------------------------------------------------------------------------------

async def follow_up_reminders(ctx: JobContext) -> dict[str, Any]:
    uow = ctx.uow
    org_tz = await _org_setting(uow, ctx.org_id, "timezone")
    people = list(await uow.execute(sa.select(users.c.id, users.c.timezone).where(
        users.c.org_id == ctx.org_id, users.c.is_active.is_(True)).order_by(users.c.id)))
    due: dict[str, tuple[str, str, datetime]] = {}  # claim key -> (user id, local date, end of that day)
    for person in people:
        tz = zone(person.timezone, org_tz)
        period = Daily(REMINDER_AT).period(ctx.now, tz)
        assert period.day is not None
        if ctx.now.astimezone(tz).date() == period.day:  # 08:00 to midnight on the period's own day
            end_of_day = datetime.combine(period.day + timedelta(days=1), time(0), tzinfo=tz)
            due[f"{period.key}/{person.id}"] = (person.id, period.key, end_of_day)
    by_day: dict[datetime, dict[str, str]] = {}  # assignees sharing a local midnight: one query each
    for key in await _claim_owners(uow, ctx, sorted(due)):
        user_id, day, end_of_day = due[key]
        by_day.setdefault(end_of_day, {})[user_id] = day
    notified = tasks = 0
    for end_of_day, days_by_user in by_day.items():
        for user_id, (count, overdue, items) in (await _due_tasks(uow, ctx, end_of_day, sorted(days_by_user))).items():
            await notify(uow, ctx.org_id, user_id, "task.due",
                         f"{count} task{'s' if count != 1 else ''} due today or overdue", subject_type="user",
                         subject_id=user_id, data={"day": days_by_user[user_id], "count": count, "overdue": overdue,
                                                   "tasks": items})
            notified, tasks = notified + 1, tasks + count
    j = job_runs.c
    await uow.execute(job_runs.delete().where(j.org_id == ctx.org_id, j.job == OWNER_JOB,
                                              j.started_at < ctx.now - OWNER_CLAIMS_KEPT))
    return {"owners_due": len(due), "owners_notified": notified, "tasks": tasks}


async def _claim_owners(uow: UnitOfWork, ctx: JobContext, keys: list[str]) -> list[str]:
    """Claim (assignee, day) keys in batches; the keys not claimed before (all of them when forced)."""
    j, claimed = job_runs.c, list[str]()
    for start in range(0, len(keys), BATCH):
        chunk = keys[start:start + BATCH]
        if ctx.force:
            await uow.execute(job_runs.delete().where(j.org_id == ctx.org_id, j.job == OWNER_JOB,
                                                      j.period_key.in_(chunk)))
        rows = [{"org_id": ctx.org_id, "job": OWNER_JOB, "period_key": key, "started_at": ctx.now,
                 "finished_at": ctx.now, "runs": 1, "forced": ctx.force, "result": {}} for key in chunk]
        stmt = insert_ignoring_duplicates(uow.backend, job_runs).values(rows).returning(j.period_key)
        claimed.extend((await uow.execute(stmt)).scalars())
    return claimed


async def _due_tasks(uow: UnitOfWork, ctx: JobContext, end_of_day: datetime, user_ids: list[str]
                     ) -> dict[str, tuple[int, int, list[dict[str, Any]]]]:
    """Per assignee with open tasks due before ``end_of_day``: (count, overdue, the first
    ``REMINDER_LIST_MAX``), from ``ix_activities_open_tasks``."""
    out: dict[str, tuple[int, int, list[dict[str, Any]]]] = {}
    for start in range(0, len(user_ids), BATCH):
        where = (a.org_id == ctx.org_id, a.assignee_id.in_(user_ids[start:start + BATCH]), a.completed_at.is_(None),
                 a.deleted_at.is_(None), a.due_at.is_not(None), a.due_at < end_of_day)
        overdue = sa.func.sum(sa.case((a.due_at < ctx.now, 1), else_=0))
        counts = {r.assignee_id: (int(r.n), int(r.overdue)) for r in await uow.execute(
            sa.select(a.assignee_id, sa.func.count().label("n"), overdue.label("overdue"))
            .where(*where).group_by(a.assignee_id))}
        rank = sa.func.row_number().over(partition_by=a.assignee_id, order_by=(a.due_at, a.id)).label("n")
        ranked = sa.select(a.assignee_id, a.id, a.subject, a.due_at, rank).where(*where).subquery()
        items: dict[str, list[dict[str, Any]]] = {}
        for r in await uow.execute(sa.select(ranked).where(ranked.c.n <= REMINDER_LIST_MAX)
                                   .order_by(ranked.c.assignee_id, ranked.c.n)):
            items.setdefault(r.assignee_id, []).append(
                {"id": r.id, "subject": r.subject, "due_at": r.due_at.isoformat()})
        out.update({user: (n, late, items.get(user, [])) for user, (n, late) in counts.items()})
    return out


# --- lead score decay ---------------------------------------------------------------------------------------

async def lead_score_decay(ctx: JobContext) -> dict[str, Any]:
    uow, cutoff = ctx.uow, ctx.now - timedelta(days=INACTIVE_DAYS)
    alive = (a.org_id == ld.org_id, a.deleted_at.is_(None), a.occurred_at > cutoff)
    quiet = (~sa.exists().where(*alive, a.lead_id == ld.id), ~sa.exists().where(*alive, a.contact_id == ld.contact_id))
    q = (sa.select(ld.id, ld.contact_id, ld.score)
         .where(ld.org_id == ctx.org_id, ld.status.in_(OPEN_LEAD_STATUSES), ld.score > 0, ld.created_at <= cutoff,
                *quiet).order_by(ld.id).limit(BATCH))
    decayed, after = 0, ""
    while chunk := list(await uow.execute(q.where(ld.id > after))):  # keyset: a decayed lead is not read again
        decayed, after = decayed + len(chunk), chunk[-1].id
        new_score = sa.case((ld.score > DECAY_POINTS, ld.score - DECAY_POINTS), else_=0)
        await uow.execute(leads.update().where(ld.org_id == ctx.org_id, ld.id.in_([r.id for r in chunk]))
                          .values(score=new_score, updated_at=ctx.now, version=ld.version + 1))
        for r in chunk:
            await uow.record(ctx.org_id, "lead.score-decayed", subject_type="lead", subject_id=r.id, actor_id=None,
                             actor_type="system", refs=(r.contact_id,), data={
                                 "before": {"score": r.score}, "after": {"score": max(r.score - DECAY_POINTS, 0)},
                                 "points": DECAY_POINTS, "inactive_days": INACTIVE_DAYS})
        await asyncio.sleep(0)  # the event loop's turn between chunks (SQLite runs in its thread)
    return {"leads_decayed": decayed, "points": DECAY_POINTS}


# --- campaign stats, analytics ------------------------------------------------------------------------------

async def campaign_stats_sync(ctx: JobContext) -> dict[str, Any]:
    from kith.tables import metadata

    if "campaigns" not in metadata.tables:
        log.info("campaign-stats-sync: no campaigns in this version; nothing to sync for %s", ctx.org_id)
        return {"campaigns": 0, "synced": False, "reason": "campaigns do not exist yet"}
    # TODO(campaigns): pull delivery stats from the email provider once campaigns have one.
    return {"campaigns": 0, "synced": False, "reason": "no email provider configured"}


async def analytics_snapshot(ctx: JobContext) -> dict[str, Any]:
    try:
        from kith.analytics.snapshot import take_snapshot
    except ModuleNotFoundError as exc:  # the analytics slice is optional to this one
        if exc.name not in {"kith.analytics", "kith.analytics.snapshot"}:
            raise
        return {"skipped": "kith.analytics.snapshot is not installed"}
    assert ctx.period.day is not None
    day = ctx.period.day - timedelta(days=1)  # the UTC day that just ended
    await take_snapshot(ctx.uow, ctx.org_id, day)
    return {"day": day.isoformat()}
