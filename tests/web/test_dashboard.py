"""The dashboard: tasks and overdue follow-ups, funnel and forecast charts, rotting deals, recent
activity, the team for a manager; escaping and a fixed number of queries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from kith.core import clock
from kith.core.db import Database
from kith.web.dashboard import forecast_window
from tests.conftest import Org
from tests.web.conftest import Browser, count_statements


async def _post(client, persona, path: str, body: dict) -> dict:
    resp = await client.post(path, json=body, headers=persona.h)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_tasks_overdue_and_recent_activity(web, org: Org, client) -> None:
    past = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    await _post(client, org.rep, "/api/v1/activities", {"type": "task", "subject": "Call back Alice", "due_at": past})
    await _post(client, org.rep, "/api/v1/activities", {"type": "task", "subject": "Send deck", "due_at": future})
    await _post(client, org.rep, "/api/v1/activities", {"type": "note", "subject": "Met at fair"})
    b: Browser = await web(org.rep)
    page = (await b.get("/")).text
    overdue = page.split('id="overdue"')[1].split("</ul>")[0]
    tasks = page.split('id="tasks"')[1].split("</ul>")[0]
    assert "Call back Alice" in overdue and "Send deck" in tasks and "Send deck" not in overdue
    assert "Met at fair" in page.split('id="recent"')[1]


async def test_the_funnel_is_an_svg_of_the_visible_deals(web, org: Org, client) -> None:
    await _post(client, org.rep, "/api/v1/deals", {"title": "Mine", "value": {"amount": "1000.00"}})
    await _post(client, org.other_rep, "/api/v1/deals", {"title": "Theirs", "value": {"amount": "5000.00"}})
    rep: Browser = await web(org.rep)
    page = (await rep.get("/")).text
    assert "<svg" in page and 'role="img"' in page
    assert "1 · 1,000" in page and "5,000" not in page  # only the rep's team's deals
    admin: Browser = await web(org.admin)
    page = (await admin.get("/")).text
    assert "2 · 6,000" in page  # from the analytics service
    assert 'id="forecast-t"' not in page  # no deal expected to close in the next 12 months


async def test_the_forecast_shows_this_month_and_the_next_eleven(web, org: Org, client) -> None:
    today = datetime.now(UTC).date()
    soon, late = today + timedelta(days=40), today.replace(year=today.year + 2)
    await _post(client, org.admin, "/api/v1/deals", {"title": "Soon", "value": {"amount": "700.00"},
                                                     "expected_close_date": soon.isoformat()})
    await _post(client, org.admin, "/api/v1/deals", {"title": "Late", "value": {"amount": "900.00"},
                                                     "expected_close_date": late.isoformat()})
    page = (await (await web(org.admin)).get("/")).text
    table = page.split('id="forecast-h"')[1].split("</section>")[0]
    assert soon.isoformat()[:7] in table and late.isoformat()[:7] not in table


def test_the_forecast_window_ends_on_the_last_day_of_the_eleventh_month_after_this_one() -> None:
    assert forecast_window(date(2026, 12, 3)) == (date(2026, 12, 1), date(2027, 11, 30))
    assert forecast_window(date(2027, 1, 31)) == (date(2027, 1, 1), date(2027, 12, 31))


async def test_rotting_deals_are_listed(web, org: Org, client) -> None:
    with clock.frozen(datetime.now(UTC) - timedelta(days=90)):
        await _post(client, org.rep, "/api/v1/deals", {"title": "Stale deal"})
    await _post(client, org.rep, "/api/v1/deals", {"title": "Fresh deal"})
    b: Browser = await web(org.rep)
    rotting = (await b.get("/")).text.split('id="rotting"')[1].split("</ul>")[0]
    assert "Stale deal" in rotting and "Fresh deal" not in rotting


async def test_a_manager_sees_the_team(web, org: Org, client) -> None:
    await _post(client, org.rep, "/api/v1/deals", {"title": "Rep deal", "value": {"amount": "300.00"}})
    b: Browser = await web(org.manager)
    team = (await b.get("/")).text.split('id="team"')[1].split("</table>")[0]
    assert "Rep" in team and "300.00" in team and "Other Rep" not in team
    rep: Browser = await web(org.rep)
    assert 'id="team"' not in (await rep.get("/")).text


@pytest.mark.parametrize("persona", ["admin", "manager", "rep", "other_rep", "support", "marketing", "viewer"])
async def test_every_role_gets_a_dashboard(web, org: Org, persona: str) -> None:
    b: Browser = await web(getattr(org, persona))
    resp = await b.get("/")
    assert resp.status_code == 200
    assert ('href="/admin"' in resp.text) is (persona == "admin")


async def test_the_dashboard_escapes_what_it_shows(web, org: Org, client) -> None:
    await _post(client, org.rep, "/api/v1/activities", {"type": "task", "subject": "<script>alert(1)</script>",
                                                        "due_at": (datetime.now(UTC) - timedelta(days=1)).isoformat()})
    await _post(client, org.rep, "/api/v1/deals", {"title": "<b>bold</b>"})
    b: Browser = await web(org.rep)
    page = (await b.get("/")).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


async def test_the_dashboard_runs_a_fixed_number_of_queries(web, org: Org, client, db: Database) -> None:
    b: Browser = await web(org.admin)
    with count_statements(db) as few:
        assert (await b.get("/")).status_code == 200
    for i in range(10):
        await _post(client, org.admin, "/api/v1/deals", {"title": f"D{i}", "value": {"amount": "10.00"}})
        await _post(client, org.admin, "/api/v1/activities", {"type": "task", "subject": f"T{i}"})
    with count_statements(db) as many:
        assert (await b.get("/")).status_code == 200
    assert len(many) == len(few) <= 25, many


async def test_figures_count_every_open_deal_not_a_first_page(web, org: Org, client, db: Database) -> None:
    """The team table and a rep's funnel are GROUP BYs over all visible open deals (they once read only
    the 500 oldest), and a rotting deal is found however many older healthy deals there are."""
    import sqlalchemy as sa

    from kith.core import ids
    from kith.deals.tables import deals

    first = await _post(client, org.rep, "/api/v1/deals", {"title": "Template", "value": {"amount": "2.00"}})
    url = f"/api/v1/pipelines/{first['pipeline_id']}"
    stages = [{k: v for k, v in s.items() if k != "order"}  # read-only in the PATCH body
              for s in (await client.get(url, headers=org.admin.h)).json()["stages"]]
    slow, quick = stages[0], stages[1]  # a year to rot in the first stage, 30 days in the second
    resp = await client.patch(f"{url}/stages", headers=org.admin.h, json={"stages": [
        {**s, "rot_period_days": 365} if s["id"] == slow["id"] else s for s in stages]})
    assert resp.status_code == 200, resp.text
    async with db.engine.begin() as conn:
        row = dict((await conn.execute(sa.select(deals).where(deals.c.id == first["id"]))).mappings().one())
        # 600 healthy deals, moved into the slow stage 300 days ago: older than the rotting one below
        moved = datetime.now(UTC) - timedelta(days=300)
        await conn.execute(deals.insert(), [
            {**row, "id": ids.new("deal"), "title": f"Bulk {i}", "stage_id": slow["id"], "stage_changed_at": moved}
            for i in range(600)])
    with clock.frozen(datetime.now(UTC) - timedelta(days=200)):
        stale = await _post(client, org.rep, "/api/v1/deals", {"title": "Stale one", "stage_id": quick["id"]})
    assert stale["stage_id"] == quick["id"]
    team = (await (await web(org.manager)).get("/")).text.split('id="team"')[1].split("</table>")[0]
    assert "<td>602</td>" in team and "1,202.00" in team, team  # 601 × 2.00 + the stale deal's 0
    rotting = (await (await web(org.rep)).get("/")).text.split('id="rotting"')[1].split("</ul>")[0]
    assert "Stale one" in rotting and "Bulk" not in rotting and "Template" not in rotting, rotting
