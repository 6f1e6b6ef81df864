"""Scheduled jobs with a frozen clock, on both backends: each job's effect, idempotency per period
(also under two concurrent runs), the worker's job step and the admin routes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kith.core import clock
from kith.core.db import Database
from kith.core.events import events
from kith.core.uow import UnitOfWork
from kith.jobs import builtin, service
from kith.jobs.scheduler import Scheduler
from kith.jobs.tables import deal_rot_alerts, job_runs
from kith.leads.tables import leads
from kith.notifications.tables import notifications
from tests.conftest import Org, Persona, problem

V1 = "/api/v1"
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # a Tuesday
PERSONAS = ("admin", "manager", "rep", "other_rep", "support", "marketing", "viewer")


def days(n: float) -> datetime:
    return T0 + timedelta(days=n)


async def post(client: httpx.AsyncClient, who: Persona, path: str, body: Any, status: int = 201) -> Any:
    r = await client.post(f"{V1}{path}", json=body, headers=who.h)
    assert r.status_code == status, r.text
    return r.json()


async def run(db: Database, org: Org, name: str, at: datetime, force: bool = False) -> dict[str, Any]:
    with clock.frozen(at):
        return await service.run_job(UnitOfWork(db), org.id, name, force=force)


async def rows(db: Database, q: Any) -> list[Any]:
    async with db.engine.connect() as conn:
        return list(await conn.execute(q))


async def events_of(db: Database, type_: str) -> list[Any]:
    return await rows(db, sa.select(events).where(events.c.type == type_).order_by(events.c.id))


async def notes_of(db: Database, user_id: str, type_: str) -> list[Any]:
    n = notifications.c
    return await rows(db, sa.select(notifications).where(n.user_id == user_id, n.type == type_).order_by(n.id))


# --- deal rotting ------------------------------------------------------------------------------------------

async def test_a_deal_rots_once_per_episode_and_its_owner_is_told(client: httpx.AsyncClient, db: Database,
                                                                   org: Org) -> None:
    with clock.frozen(T0):
        idle = await post(client, org.rep, "/deals", {"title": "Idle deal"})
        busy = await post(client, org.rep, "/deals", {"title": "Busy deal"})
        won = await post(client, org.rep, "/deals", {"title": "Closed", "expected_close_date": "2026-12-01"})
        await post(client, org.rep, f"/deals/{won['id']}/won", None, 200)
    with clock.frozen(days(20)):
        await post(client, org.rep, "/activities", {"type": "note", "subject": "call notes", "deal_id": busy["id"]})

    first = await run(db, org, "deal-rotting", days(31))
    assert first["ran"] and first["result"]["deals_flagged"] == 1
    [event] = await events_of(db, "deal.rotting")
    assert event.subject_id == idle["id"] and event.actor_type == "system"
    assert event.data["days_idle"] == 31 and event.data["rot_period_days"] == 30
    assert event.data["owner_id"] == org.rep.user_id
    [note] = await notes_of(db, org.rep.user_id, "deal.rotting")
    assert note.subject_id == idle["id"] and "Idle deal" in note.title

    again = await run(db, org, "deal-rotting", days(31) + timedelta(hours=3))
    assert again["ran"] is False and again["period_key"] == first["period_key"]
    next_day = await run(db, org, "deal-rotting", days(32))
    assert next_day["ran"] and next_day["result"]["deals_flagged"] == 0  # same episode: not again
    assert len(await events_of(db, "deal.rotting")) == 1

    with clock.frozen(days(33)):  # progress ends the episode; rotting again is a new one
        await post(client, org.rep, "/activities", {"type": "call", "subject": "chased", "deal_id": idle["id"],
                                                    "direction": "outbound"})
    assert (await run(db, org, "deal-rotting", days(40)))["result"]["deals_flagged"] == 0  # busy: idle 20 days
    later = await run(db, org, "deal-rotting", days(64))
    assert later["result"]["deals_flagged"] == 2  # idle: 31 days since the call; busy: 44 since its note
    flagged = [e.subject_id for e in await events_of(db, "deal.rotting")]
    assert sorted(flagged) == sorted([idle["id"], busy["id"], idle["id"]])
    assert won["id"] not in flagged


async def test_a_run_reads_in_batches_and_tells_each_owner_once(client: httpx.AsyncClient, db: Database, org: Org,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builtin, "BATCH", 2)  # five deals of one owner span three batches
    with clock.frozen(T0):
        mine = [await post(client, org.rep, "/deals", {"title": f"Stale {i}"}) for i in range(5)]
        theirs = await post(client, org.other_rep, "/deals", {"title": "Their stale deal"})
    first = await run(db, org, "deal-rotting", days(31))
    assert first["result"] == {"deals_flagged": 6, "deals_rotting": 6}
    assert sorted(e.subject_id for e in await events_of(db, "deal.rotting")) == \
        sorted([d["id"] for d in mine] + [theirs["id"]])
    assert len(await rows(db, sa.select(deal_rot_alerts))) == 6
    # the rep: one digest for five deals; the other rep: the one deal itself
    [digest] = await notes_of(db, org.rep.user_id, "deal.rotting")
    assert digest.title.startswith("5 deals rotting") and digest.subject_id == org.rep.user_id
    assert digest.data["count"] == 5
    assert sorted(x["deal_id"] for x in digest.data["deals"]) == sorted(d["id"] for d in mine)
    assert all(x["days_idle"] == 31 and x["title"].startswith("Stale") for x in digest.data["deals"])
    [single] = await notes_of(db, org.other_rep.user_id, "deal.rotting")
    assert single.subject_type == "deal" and single.subject_id == theirs["id"] and "Their stale deal" in single.title
    # the same episodes the next day: nothing flagged, nobody told again
    assert (await run(db, org, "deal-rotting", days(32)))["result"] == {"deals_flagged": 0, "deals_rotting": 6}
    assert len(await notes_of(db, org.rep.user_id, "deal.rotting")) == 1


async def test_a_stage_rot_period_overrides_the_org_default(client: httpx.AsyncClient, db: Database,
                                                             org: Org) -> None:
    pipelines = (await client.get(f"{V1}/pipelines", headers=org.admin.h)).json()["data"]
    default = next(p for p in pipelines if p["is_default"])
    first_stage = default["stages"][0]
    with clock.frozen(T0):
        deal = await post(client, org.rep, "/deals", {"title": "Quick rot"})
    assert deal["stage_id"] == first_stage["id"]
    async with db.engine.begin() as conn:
        from kith.pipelines.tables import stages

        await conn.execute(stages.update().where(stages.c.org_id == org.id, stages.c.id == first_stage["id"])
                           .values(rot_period_days=3))
    assert (await run(db, org, "deal-rotting", days(2)))["result"]["deals_flagged"] == 0
    assert (await run(db, org, "deal-rotting", days(4)))["result"]["deals_flagged"] == 1


async def test_two_concurrent_runs_of_one_period_do_the_work_once(client: httpx.AsyncClient, db: Database,
                                                                   org: Org) -> None:
    with clock.frozen(T0):
        await post(client, org.rep, "/deals", {"title": "Idle deal"})
    with clock.frozen(days(31)):
        outcomes = await asyncio.gather(*(service.run_job(UnitOfWork(db), org.id, "deal-rotting") for _ in range(3)))
    assert sorted(o["ran"] for o in outcomes) == [False, False, True]
    assert len(await events_of(db, "deal.rotting")) == 1
    assert len(await notes_of(db, org.rep.user_id, "deal.rotting")) == 1


async def test_force_runs_a_period_again(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    await run(db, org, "campaign-stats-sync", T0)
    forced = await run(db, org, "campaign-stats-sync", T0, force=True)
    assert forced["ran"]
    j = job_runs.c
    [row] = await rows(db, sa.select(job_runs).where(j.org_id == org.id, j.job == "campaign-stats-sync"))
    assert row.runs == 2 and row.forced and row.finished_at is not None


# --- follow-up reminders -------------------------------------------------------------------------------------

async def task(client: httpx.AsyncClient, who: Persona, due: str, subject: str = "Follow up") -> dict[str, Any]:
    return await post(client, who, "/activities", {"type": "task", "subject": subject, "due_at": due})  # type: ignore[no-any-return]


async def test_reminders_come_at_8_in_each_assignees_timezone_once_a_day(client: httpx.AsyncClient, db: Database,
                                                                         org: Org) -> None:
    r = await client.patch(f"{V1}/org", json={"settings": {"timezone": "America/New_York"}}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    r = await client.patch(f"{V1}/users/{org.rep.user_id}", json={"timezone": "Asia/Tokyo"}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    with clock.frozen(T0):
        await task(client, org.rep, "2026-12-02T00:00:00Z", "overdue one")
        await task(client, org.rep, "2026-12-04T10:00:00+09:00", "due today in Tokyo")
        await task(client, org.rep, "2026-12-05T10:00:00+09:00", "due tomorrow in Tokyo")
        done = await task(client, org.rep, "2026-12-02T00:00:00Z", "already done")
        await post(client, org.rep, f"/activities/{done['id']}/complete", {}, 200)
        await task(client, org.other_rep, "2026-12-03T20:00:00-05:00", "due today in New York")

    # 22:00 UTC: 17:00 in New York (other_rep, org zone) but 07:00 next morning in Tokyo (rep).
    evening = await run(db, org, "follow-up-reminders", datetime(2026, 12, 3, 22, 0, tzinfo=UTC))
    assert evening["ran"] and evening["result"]["owners_notified"] == 1
    [ny] = await notes_of(db, org.other_rep.user_id, "task.due")
    assert ny.data["count"] == 1 and ny.data["day"] == "2026-12-03"
    assert await notes_of(db, org.rep.user_id, "task.due") == []

    # 23:10 UTC: 08:10 in Tokyo.
    tokyo = await run(db, org, "follow-up-reminders", datetime(2026, 12, 3, 23, 10, tzinfo=UTC))
    assert tokyo["result"]["owners_notified"] == 1
    [jp] = await notes_of(db, org.rep.user_id, "task.due")
    assert jp.data["count"] == 2 and jp.data["overdue"] == 1 and jp.data["day"] == "2026-12-04"
    assert [t["subject"] for t in jp.data["tasks"]] == ["overdue one", "due today in Tokyo"]
    assert jp.title == "2 tasks due today or overdue"

    quiet = await run(db, org, "follow-up-reminders", datetime(2026, 12, 3, 23, 40, tzinfo=UTC))
    assert quiet["ran"] and quiet["result"]["owners_notified"] == 0
    assert len(await notes_of(db, org.other_rep.user_id, "task.due")) == 1
    forced = await run(db, org, "follow-up-reminders", datetime(2026, 12, 3, 23, 40, tzinfo=UTC), force=True)
    assert forced["result"]["owners_notified"] == 2  # forced: everyone due today is reminded again
    assert len(await notes_of(db, org.other_rep.user_id, "task.due")) == 2

    next_day = await run(db, org, "follow-up-reminders", datetime(2026, 12, 4, 22, 0, tzinfo=UTC))
    assert next_day["result"]["owners_notified"] == 1
    assert len(await notes_of(db, org.other_rep.user_id, "task.due")) == 3


async def test_a_reminder_missed_until_midnight_is_not_sent_at_night(client: httpx.AsyncClient, db: Database,
                                                                     org: Org) -> None:
    with clock.frozen(T0):
        await task(client, org.rep, "2026-12-01T12:00:00Z")
    night = await run(db, org, "follow-up-reminders", datetime(2026, 12, 2, 3, 0, tzinfo=UTC))  # 03:00 UTC
    assert night["result"]["owners_due"] == 0
    assert await notes_of(db, org.rep.user_id, "task.due") == []


# --- lead score decay --------------------------------------------------------------------------------------------

async def lead(client: httpx.AsyncClient, who: Persona, score: int) -> dict[str, Any]:
    contact = await post(client, who, "/contacts", {"name": f"Lead {score}"})
    return await post(client, who, "/leads", {"contact_id": contact["id"], "title": "Interest", "score": score})  # type: ignore[no-any-return]


async def scores(db: Database) -> dict[str, int]:
    return {r.id: r.score for r in await rows(db, sa.select(leads.c.id, leads.c.score))}


@pytest.mark.parametrize("batch", [1, 500])  # 1: every lead its own keyset chunk, none read twice
async def test_inactive_leads_lose_score_weekly_down_to_zero(client: httpx.AsyncClient, db: Database, org: Org,
                                                             monkeypatch: pytest.MonkeyPatch, batch: int) -> None:
    monkeypatch.setattr(builtin, "BATCH", batch)
    with clock.frozen(T0):
        quiet, faint, active = [await lead(client, org.rep, s) for s in (25, 5, 50)]
    with clock.frozen(days(10)):
        await post(client, org.rep, "/activities", {"type": "note", "subject": "chat",
                                                    "contact_id": active["contact_id"]})
    with clock.frozen(days(25)):
        fresh = await lead(client, org.rep, 30)

    first = await run(db, org, "lead-score-decay", days(31))
    assert first["ran"] and first["result"] == {"leads_decayed": 2, "points": 10}
    assert await scores(db) == {quiet["id"]: 15, faint["id"]: 0, active["id"]: 50, fresh["id"]: 30}
    decayed = await events_of(db, "lead.score-decayed")
    assert {(e.subject_id, e.data["before"]["score"], e.data["after"]["score"]) for e in decayed} == {
        (quiet["id"], 25, 15), (faint["id"], 5, 0)}

    assert (await run(db, org, "lead-score-decay", days(33)))["ran"] is False  # same week
    await run(db, org, "lead-score-decay", days(38))  # next week: only quiet still has points
    assert (await scores(db))[quiet["id"]] == 5
    timeline = (await client.get(f"{V1}/contacts/{quiet['contact_id']}/timeline", headers=org.admin.h)).json()
    assert "lead.score-decayed" in {e["type"] for e in timeline["data"]}


# --- campaign stats, analytics, the worker step -----------------------------------------------------------------

async def test_campaign_stats_sync_is_scheduled_but_does_nothing_yet(db: Database, org: Org) -> None:
    out = await run(db, org, "campaign-stats-sync", T0)
    assert out["ran"] and out["result"]["synced"] is False and out["period_key"] == "2026-12-01T10:00Z"
    assert (await run(db, org, "campaign-stats-sync", T0 + timedelta(minutes=29)))["ran"] is False
    assert (await run(db, org, "campaign-stats-sync", T0 + timedelta(minutes=30)))["ran"] is True


async def test_the_nightly_snapshot_covers_the_day_that_ended(db: Database, org: Org) -> None:
    pytest.importorskip("kith.analytics.snapshot")
    from kith.analytics.tables import analytics_snapshots

    out = await run(db, org, "analytics-snapshot", datetime(2026, 12, 4, 1, 0, tzinfo=UTC))
    assert out["ran"] and out["result"] == {"day": "2026-12-03"} and out["period_key"] == "2026-12-04"
    [snap] = await rows(db, sa.select(analytics_snapshots).where(analytics_snapshots.c.org_id == org.id))
    assert str(snap.day) == "2026-12-03"


async def test_the_worker_step_runs_every_due_job_once(db: Database, org: Org, other_org: Org) -> None:
    scheduler = Scheduler(lambda: UnitOfWork(db), check_seconds=60)
    with clock.frozen(T0):
        assert await scheduler.step() == 10  # 5 jobs × 2 orgs
        assert await scheduler.step() == 0  # checked less than a minute ago
        assert await scheduler.run_due() == 0  # nothing due any more
        listed = await service.list_jobs(UnitOfWork(db), org.id)
    assert all(not j["due"] and j["last_run"] is not None for j in listed)
    by_name = {j["name"]: j for j in listed}
    assert by_name["deal-rotting"]["next_run_at"] == datetime(2026, 12, 2, tzinfo=UTC)
    assert by_name["lead-score-decay"]["next_run_at"] == datetime(2026, 12, 7, tzinfo=UTC)
    assert by_name["campaign-stats-sync"]["next_run_at"] == datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
    with clock.frozen(T0 + timedelta(minutes=30)):
        assert sorted(await service.due_jobs(UnitOfWork(db), org.id, None, clock.now())) == [
            "campaign-stats-sync", "follow-up-reminders"]


async def test_unknown_jobs_and_naive_times_are_refused(db: Database, org: Org) -> None:
    from kith.core.errors import NotFound, ValidationFailed

    with pytest.raises(NotFound):
        await service.run_job(UnitOfWork(db), org.id, "no-such-job")
    with pytest.raises(ValidationFailed):
        await service.run_job(UnitOfWork(db), org.id, "deal-rotting", at=datetime(2026, 12, 1))
    with pytest.raises(NotFound):
        await service.run_job(UnitOfWork(db), "org_missing", "deal-rotting")


# --- the admin routes --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("persona", PERSONAS)
async def test_only_crm_admins_list_and_run_jobs(client: httpx.AsyncClient, org: Org, persona: str) -> None:
    who = getattr(org, persona)
    listed = await client.get(f"{V1}/jobs", headers=who.h)
    ran = await client.post(f"{V1}/jobs/campaign-stats-sync/run", headers=who.h)
    if persona == "admin":
        assert listed.status_code == 200 and len(listed.json()["data"]) == 5
        assert ran.status_code == 200 and ran.json()["ran"] is True
    else:
        problem(listed, 403)
        problem(ran, 403)


async def test_job_routes_answer_bad_input_with_problems(client: httpx.AsyncClient, org: Org) -> None:
    assert problem(await client.post(f"{V1}/jobs/nope/run", headers=org.admin.h), 404)["id"] == "nope"
    bad = problem(await client.post(f"{V1}/jobs/deal-rotting/run", json={"at": "2026-12-01T10:00:00"},
                                    headers=org.admin.h), 422)
    assert bad["errors"][0]["field"] == "at"
    problem(await client.post(f"{V1}/jobs/deal-rotting/run", json={"force": "maybe"}, headers=org.admin.h), 422)
    r = await client.post(f"{V1}/jobs/deal-rotting/run", json={"at": "2026-12-01T10:00:00Z"}, headers=org.admin.h)
    assert r.status_code == 200 and r.json()["period_key"] == "2026-12-01"
    again = await client.post(f"{V1}/jobs/deal-rotting/run", json={"at": "2026-12-01T23:00:00Z"}, headers=org.admin.h)
    assert again.json()["ran"] is False
    forced = await client.post(f"{V1}/jobs/deal-rotting/run", json={"at": "2026-12-01T23:00:00Z", "force": True},
                               headers=org.admin.h)
    assert forced.json()["ran"] is True


async def test_runs_are_per_org(client: httpx.AsyncClient, db: Database, org: Org, other_org: Org) -> None:
    await run(db, org, "deal-rotting", T0)
    assert (await run(db, other_org, "deal-rotting", T0))["ran"] is True
    with clock.frozen(T0):
        listed = (await client.get(f"{V1}/jobs", headers=other_org.admin.h)).json()["data"]
    assert next(j for j in listed if j["name"] == "deal-rotting")["due"] is False


async def test_the_worker_runs_due_jobs_only_when_its_job_step_is_on(db: Database, settings: Any, org: Org) -> None:
    from dataclasses import replace

    from kith.worker.runner import Worker

    j = job_runs.c
    off = Worker(db, settings)  # apps and workers made in tests: the job step is off by default
    try:
        with clock.frozen(T0):
            await off.run_once()
    finally:
        await off.aclose()
    assert await rows(db, sa.select(j.job).where(j.org_id == org.id)) == []
    on = Worker(db, replace(settings, jobs_check_seconds=30))
    try:
        with clock.frozen(T0):
            assert await on.run_once() >= 5
            assert await on.run_once() == 0
    finally:
        await on.aclose()
    ran = {r.job for r in await rows(db, sa.select(j.job).where(j.org_id == org.id))}
    assert ran >= {"deal-rotting", "follow-up-reminders", "lead-score-decay", "campaign-stats-sync",
                   "analytics-snapshot"}
