"""Contacts over HTTP: fields, email rules, PATCH semantics, the stage machine, filters, search,
sorting, events and the timeline (DESIGN §4, §5.3, §5.4, §6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kith.core import clock
from kith.core.db import Database
from kith.core.events import events
from tests.conftest import Org, count_rows, problem

API = "/api/v1/contacts"


async def create(client: httpx.AsyncClient, who: Any, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Someone")
    r = await client.post(API, json=body, headers=who.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def patch(client: httpx.AsyncClient, who: Any, contact_id: str, **body: Any) -> httpx.Response:
    return await client.patch(f"{API}/{contact_id}", json=body, headers=who.h)


async def ids_of(client: httpx.AsyncClient, who: Any, **params: Any) -> list[str]:
    r = await client.get(API, params={"limit": 500, **params}, headers=who.h)
    assert r.status_code == 200, r.text
    assert r.json()["next_cursor"] is None
    return [c["id"] for c in r.json()["data"]]


async def events_about(db: Database, subject_id: str) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(sa.select(events).where(events.c.subject_id == subject_id)
                                  .order_by(events.c.occurred_at, events.c.id))
        return [dict(r._mapping) for r in rows]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- create and read ---------------------------------------------------------------------------

async def test_a_contact_created_with_every_field_reads_back_the_same(client: httpx.AsyncClient, org: Org) -> None:
    manager = await create(client, org.admin, name="Grace Hopper")
    body = {
        "name": "Ada Lovelace", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
        "phone": "+44 20 7946 0958", "mobile": "+44 7700 900123", "avatar": "https://img.example.com/ada.png",
        "title": "CTO", "department": "Engineering", "role": "decision_maker", "stage": "qualified",
        "status": "inactive", "source": "conference", "lead_score": 73, "preferred_channel": "phone",
        "timezone": "Europe/London", "language": "en-GB", "manager_id": manager["id"],
        "linkedin_url": "https://www.linkedin.com/in/ada", "twitter_handle": "@ada",
        "marketing_consent": "granted", "last_engagement_at": "2024-05-01T12:30:00Z",
        "last_contacted_at": "2024-05-02T08:00:00+02:00", "owner_id": org.rep.user_id,
        "tags": ["vip", "beta"], "notes": "Met at the analytical engine meetup.",
        "metadata": {"plan": "enterprise", "seats": 40, "flags": {"beta": True}}, "automation_enabled": False,
    }
    r = await client.post(API, json=body, headers=org.admin.h)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["id"].startswith("contact_")
    assert r.headers["location"] == f"{API}/{created['id']}"
    got = await client.get(f"{API}/{created['id']}", headers=org.admin.h)
    assert got.status_code == 200
    for source in (created, got.json()):
        for field, value in body.items():
            if field.endswith("_at"):
                assert when(source[field]) == when(value), field
            else:
                assert source[field] == value, field
        assert source["version"] == 1
        assert source["custom_fields"] == {}
        assert when(source["created_at"]) == when(source["updated_at"])
        assert "org_id" not in source and "deleted_at" not in source


async def test_a_contact_gets_defaults_for_what_is_not_sent(client: httpx.AsyncClient, org: Org) -> None:
    c = await create(client, org.rep, name="Bare")
    assert (c["stage"], c["status"], c["lead_score"], c["tags"], c["metadata"]) == ("lead", "active", 0, [], {})
    assert c["automation_enabled"] is True
    assert c["owner_id"] == org.rep.user_id
    assert c["email"] is None and c["phone"] is None


@pytest.mark.parametrize("body, field", [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "X", "email": "not-an-email"}, "email"),
    ({"name": "X", "lead_score": 101}, "lead_score"),
    ({"name": "X", "stage": "prospect"}, "stage"),
    ({"name": "X", "status": "gone"}, "status"),
    ({"name": "X", "timezone": "Mars/Olympus"}, "timezone"),
    ({"name": "X", "is_placeholder": True}, "is_placeholder"),
    ({"name": "X", "metadata": ["not", "an", "object"]}, "metadata"),
])
async def test_invalid_contact_input_is_refused_with_the_field_named(
        client: httpx.AsyncClient, db: Database, org: Org, body: dict[str, Any], field: str) -> None:
    before = await count_rows(db, "contacts", "events")
    body_ = problem(await client.post(API, json=body, headers=org.admin.h), 422)
    assert field in {e["field"] for e in body_["errors"]}
    assert await count_rows(db, "contacts", "events") == before


async def test_an_unknown_manager_is_refused(client: httpx.AsyncClient, org: Org) -> None:
    body = problem(await client.post(API, json={"name": "X", "manager_id": "contact_nope"}, headers=org.admin.h),
                   422)
    assert body["errors"][0]["field"] == "manager_id"


# --- email ---------------------------------------------------------------------------------------

async def test_email_is_stored_lower_cased(client: httpx.AsyncClient, org: Org) -> None:
    c = await create(client, org.admin, email="  Mixed.Case@Example.COM ")
    assert c["email"] == "mixed.case@example.com"
    r = await patch(client, org.admin, c["id"], email="OTHER@Example.com")
    assert r.json()["email"] == "other@example.com"


async def test_a_duplicate_email_in_the_same_org_is_a_conflict_naming_the_field(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    first = await create(client, org.admin, name="A", email="dup@example.com")
    before = await count_rows(db, "contacts", "events")
    body = problem(await client.post(API, json={"name": "B", "email": "DUP@Example.com"}, headers=org.rep.h), 409)
    assert body["field"] == "email"
    assert body["existing_id"] == first["id"]
    assert await count_rows(db, "contacts", "events") == before


async def test_changing_email_to_one_already_taken_is_a_conflict(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    await create(client, org.admin, name="A", email="taken@example.com")
    other = await create(client, org.admin, name="B", email="free@example.com")
    before = await count_rows(db, "contacts", "events")
    body = problem(await patch(client, org.admin, other["id"], email="Taken@example.com"), 409)
    assert body["field"] == "email"
    assert await count_rows(db, "contacts", "events") == before
    assert (await client.get(f"{API}/{other['id']}", headers=org.admin.h)).json()["email"] == "free@example.com"


async def test_the_same_email_is_allowed_in_another_org(client: httpx.AsyncClient, org: Org, other_org: Org) -> None:
    a = await create(client, org.admin, email="shared@example.com")
    b = await create(client, other_org.admin, email="Shared@Example.com")
    assert a["email"] == b["email"] == "shared@example.com"
    assert a["id"] != b["id"]


async def test_several_contacts_may_have_no_email(client: httpx.AsyncClient, org: Org) -> None:
    await create(client, org.admin, name="No mail 1")
    await create(client, org.admin, name="No mail 2")
    assert len(await ids_of(client, org.admin)) == 2


async def test_another_orgs_contact_is_not_found(client: httpx.AsyncClient, org: Org, other_org: Org) -> None:
    c = await create(client, org.admin)
    problem(await client.get(f"{API}/{c['id']}", headers=other_org.admin.h), 404)
    problem(await patch(client, other_org.admin, c["id"], name="Hijack"), 404)
    assert await ids_of(client, other_org.admin) == []


# --- PATCH ---------------------------------------------------------------------------------------

async def test_metadata_merges_on_patch_and_null_removes_a_key(client: httpx.AsyncClient, org: Org) -> None:
    c = await create(client, org.admin, metadata={"plan": "pro", "limits": {"seats": 5, "projects": 3}, "old": 1})
    r = await patch(client, org.admin, c["id"],
                    metadata={"limits": {"seats": 10, "projects": None}, "old": None, "new": {"a": [1, 2]}})
    assert r.status_code == 200, r.text
    expected = {"plan": "pro", "limits": {"seats": 10}, "new": {"a": [1, 2]}}
    assert r.json()["metadata"] == expected
    assert (await client.get(f"{API}/{c['id']}", headers=org.admin.h)).json()["metadata"] == expected


async def test_tags_are_replaced_on_patch_and_filterable(client: httpx.AsyncClient, org: Org) -> None:
    c = await create(client, org.admin, name="Tagged", tags=["vip", "beta"])
    other = await create(client, org.admin, name="Other", tags=["beta"])
    assert set(await ids_of(client, org.admin, tag="beta")) == {c["id"], other["id"]}
    assert await ids_of(client, org.admin, tag="vip") == [c["id"]]
    r = await patch(client, org.admin, c["id"], tags=["churn-risk"])
    assert r.json()["tags"] == ["churn-risk"]
    assert await ids_of(client, org.admin, tag="vip") == []
    assert await ids_of(client, org.admin, tag="beta") == [other["id"]]
    assert await ids_of(client, org.admin, tag="churn-risk") == [c["id"]]
    r = await patch(client, org.admin, c["id"], tags=[])
    assert r.json()["tags"] == []
    assert await ids_of(client, org.admin, tag="churn-risk") == []


async def test_patch_writes_only_the_fields_sent(client: httpx.AsyncClient, org: Org) -> None:
    c = await create(client, org.admin, name="Partial", phone="+1 555 0100", title="Engineer", source="web",
                     tags=["x"], metadata={"k": "v"})
    r = await patch(client, org.admin, c["id"], title="Staff engineer")
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["title"] == "Staff engineer"
    assert after["version"] == 2
    unchanged = {k: v for k, v in c.items() if k not in {"title", "version", "updated_at"}}
    assert {k: after[k] for k in unchanged} == unchanged
    got = (await client.get(f"{API}/{c['id']}", headers=org.admin.h)).json()
    assert got == after


async def test_patch_with_null_clears_an_optional_field(client: httpx.AsyncClient, org: Org) -> None:
    c = await create(client, org.admin, phone="+1 555 0100")
    r = await patch(client, org.admin, c["id"], phone=None)
    assert r.status_code == 200
    assert r.json()["phone"] is None


@pytest.mark.parametrize("field", ["name", "stage", "status", "lead_score", "tags", "metadata"])
async def test_patch_refuses_null_for_a_required_field(client: httpx.AsyncClient, org: Org, field: str) -> None:
    c = await create(client, org.admin)
    body = problem(await patch(client, org.admin, c["id"], **{field: None}), 422)
    assert body["errors"][0]["field"] == field
    assert (await client.get(f"{API}/{c['id']}", headers=org.admin.h)).json()["version"] == 1


async def test_a_patch_that_changes_nothing_keeps_the_version_and_emits_no_event(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await create(client, org.admin, name="Same", title="CEO", tags=["a"], metadata={"k": 1})
    changed = await patch(client, org.admin, c["id"], title="CFO")
    assert changed.json()["version"] == 2
    n_events = len(await events_about(db, c["id"]))
    for body in ({"title": "CFO"}, {"name": "Same", "tags": ["a"]}, {"metadata": {"k": 1}}, {},
                 {"metadata": {"absent": None}}):
        r = await patch(client, org.admin, c["id"], **body)
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 2, body
        assert r.json()["updated_at"] == changed.json()["updated_at"]
        assert r.headers["etag"] == '"v2"'
    assert len(await events_about(db, c["id"])) == n_events


async def test_a_patch_that_changes_something_bumps_version_and_updated_at(
        client: httpx.AsyncClient, org: Org) -> None:
    with clock.frozen(datetime(2024, 1, 1, tzinfo=UTC)):
        c = await create(client, org.admin, name="Old")
    with clock.frozen(datetime(2024, 1, 2, tzinfo=UTC)):
        r = await patch(client, org.admin, c["id"], name="New")
    assert r.json()["version"] == 2
    assert when(r.json()["updated_at"]) == datetime(2024, 1, 2, tzinfo=UTC)
    assert when(r.json()["created_at"]) == datetime(2024, 1, 1, tzinfo=UTC)


async def test_patching_an_unknown_field_is_refused(client: httpx.AsyncClient, org: Org) -> None:
    c = await create(client, org.admin)
    body = problem(await patch(client, org.admin, c["id"], favourite_colour="blue"), 422)
    assert body["errors"][0]["field"] == "favourite_colour"


async def test_a_contact_cannot_be_its_own_manager(client: httpx.AsyncClient, org: Org) -> None:
    c = await create(client, org.admin)
    body = problem(await patch(client, org.admin, c["id"], manager_id=c["id"]), 422)
    assert body["errors"][0]["field"] == "manager_id"


# --- stage machine -------------------------------------------------------------------------------

async def test_stage_follows_lead_qualified_customer_churned_partner(client: httpx.AsyncClient, org: Org) -> None:
    c = await create(client, org.admin)
    assert c["stage"] == "lead"
    for stage in ("qualified", "customer", "churned", "partner"):
        r = await patch(client, org.admin, c["id"], stage=stage)
        assert r.status_code == 200, r.text
        assert r.json()["stage"] == stage


@pytest.mark.parametrize("start", ["lead", "qualified", "customer", "churned"])
async def test_any_stage_may_become_partner(client: httpx.AsyncClient, org: Org, start: str) -> None:
    c = await create(client, org.admin, stage=start)
    r = await patch(client, org.admin, c["id"], stage="partner")
    assert r.status_code == 200 and r.json()["stage"] == "partner"


@pytest.mark.parametrize("start, target", [
    ("lead", "customer"), ("lead", "churned"), ("qualified", "lead"), ("customer", "qualified"),
    ("churned", "customer"), ("churned", "lead"), ("partner", "lead"), ("partner", "customer"),
])
async def test_an_illegal_stage_change_is_an_invalid_transition_and_changes_nothing(
        client: httpx.AsyncClient, db: Database, org: Org, start: str, target: str) -> None:
    c = await create(client, org.admin, stage=start, title="Before")
    before = await count_rows(db, "events")
    body = problem(await patch(client, org.admin, c["id"], stage=target, title="After"), 409)
    assert body["type"].endswith("invalid-transition")
    assert (body["from"], body["to"]) == (start, target)
    got = (await client.get(f"{API}/{c['id']}", headers=org.admin.h)).json()
    assert (got["stage"], got["title"], got["version"]) == (start, "Before", 1)
    assert await count_rows(db, "events") == before


async def test_setting_the_same_stage_again_is_allowed_and_changes_nothing(
        client: httpx.AsyncClient, org: Org) -> None:
    c = await create(client, org.admin, stage="partner")
    r = await patch(client, org.admin, c["id"], stage="partner")
    assert r.status_code == 200 and r.json()["version"] == 1


# --- filters, search, sort -----------------------------------------------------------------------

async def test_lists_filter_by_each_supported_field(client: httpx.AsyncClient, org: Org) -> None:
    boss = await create(client, org.admin, name="Boss")
    a = await create(client, org.admin, name="A", stage="qualified", status="inactive", role="champion",
                     preferred_channel="sms", source="webinar", email="a@one.test", tags=["vip"],
                     manager_id=boss["id"], automation_enabled=False, owner_id=org.rep.user_id)
    b = await create(client, org.admin, name="B", stage="customer", status="bounced", role="blocker",
                     preferred_channel="email", source="referral", email="b@two.test", tags=["vip", "eu"])
    c = await create(client, org.admin, name="C", source="webinar", tags=["eu"], owner_id=org.rep.user_id)
    company = (await client.post("/api/v1/companies", json={"name": "Co"}, headers=org.admin.h)).json()
    r = await client.post(f"{API}/{b['id']}/companies", json={"company_id": company["id"]}, headers=org.admin.h)
    assert r.status_code == 201
    cases: list[tuple[dict[str, str], set[str]]] = [
        ({"stage": "qualified"}, {a["id"]}),
        ({"stage": "lead"}, {boss["id"], c["id"]}),
        ({"status": "bounced"}, {b["id"]}),
        ({"status": "active"}, {boss["id"], c["id"]}),
        ({"role": "champion"}, {a["id"]}),
        ({"preferred_channel": "email"}, {b["id"]}),
        ({"owner_id": org.rep.user_id}, {a["id"], c["id"]}),
        ({"owner_id": org.admin.user_id}, {boss["id"], b["id"]}),
        ({"manager_id": boss["id"]}, {a["id"]}),
        ({"source": "webinar"}, {a["id"], c["id"]}),
        ({"email": "B@Two.TEST"}, {b["id"]}),
        ({"tag": "eu"}, {b["id"], c["id"]}),
        ({"company_id": company["id"]}, {b["id"]}),
        ({"automation_enabled": "false"}, {a["id"]}),
        ({"stage": "lead", "source": "webinar"}, {c["id"]}),
        ({"tag": "vip", "status": "inactive"}, {a["id"]}),
        ({"source": "nowhere"}, set()),
    ]
    for params, expected in cases:
        got = await ids_of(client, org.admin, **params)
        assert len(got) == len(set(got))
        assert set(got) == expected, params


async def test_lists_filter_by_creation_and_update_time(client: httpx.AsyncClient, org: Org) -> None:
    t0 = datetime(2024, 3, 1, tzinfo=UTC)
    made = []
    for day in range(4):
        with clock.frozen(t0 + timedelta(days=day)):
            made.append((await create(client, org.admin, name=f"Day {day}"))["id"])
    with clock.frozen(t0 + timedelta(days=10)):
        assert (await patch(client, org.admin, made[0], title="touched")).status_code == 200
    iso = lambda d: (t0 + timedelta(days=d)).isoformat()  # noqa: E731
    assert set(await ids_of(client, org.admin, created_after=iso(2))) == set(made[2:])
    assert set(await ids_of(client, org.admin, created_before=iso(2))) == set(made[:2])
    assert set(await ids_of(client, org.admin, created_after=iso(1), created_before=iso(3))) == set(made[1:3])
    assert await ids_of(client, org.admin, updated_after=iso(5)) == [made[0]]
    assert set(await ids_of(client, org.admin, updated_before=iso(5))) == set(made[1:])


@pytest.mark.parametrize("params, field", [
    ({"stage": "prospect"}, "stage"),
    ({"favourite_colour": "blue"}, "favourite_colour"),
    ({"created_after": "yesterday"}, "created_after"),
    ({"created_after": "2024-01-01T00:00:00"}, "created_after"),
    ({"automation_enabled": "maybe"}, "automation_enabled"),
    ({"sort": "phone"}, "sort"),
])
async def test_a_bad_filter_or_sort_is_refused_with_the_parameter_named(
        client: httpx.AsyncClient, org: Org, params: dict[str, str], field: str) -> None:
    body = problem(await client.get(API, params=params, headers=org.admin.h), 422)
    assert field in {e["field"] for e in body["errors"]}


async def test_q_searches_name_and_email_case_insensitively(client: httpx.AsyncClient, org: Org) -> None:
    ada = await create(client, org.admin, name="Ada Lovelace", email="ada@engine.test")
    grace = await create(client, org.admin, name="Grace Hopper", email="grace@navy.test")
    pct = await create(client, org.admin, name="100% Legit_Name")
    assert await ids_of(client, org.admin, q="lovelace") == [ada["id"]]
    assert await ids_of(client, org.admin, q="LOVE") == [ada["id"]]
    assert await ids_of(client, org.admin, q="navy") == [grace["id"]]
    assert await ids_of(client, org.admin, q="grace@navy.test") == [grace["id"]]
    assert await ids_of(client, org.admin, q="zzz") == []
    assert await ids_of(client, org.admin, q="ada", stage="customer") == []
    for wildcard in ("%", "_", "%%"):  # LIKE wildcards never match everything
        assert set(await ids_of(client, org.admin, q=wildcard)) <= {pct["id"]}, wildcard


SORTS = ["created_at", "updated_at", "name", "lead_score", "id"]


@pytest.mark.parametrize("field", SORTS)
@pytest.mark.parametrize("descending", [False, True])
async def test_lists_sort_by_each_sortable_field(client: httpx.AsyncClient, org: Org, field: str,
                                                 descending: bool) -> None:
    t0 = datetime(2024, 6, 1, tzinfo=UTC)
    specs = [("Mallory", 10), ("alice", 90), ("Bob", 50), ("Carol", 50), ("Bob", 20), ("Zed", 0)]
    for i, (name, score) in enumerate(specs):
        # creation order differs from update order, which differs from name and score order
        with clock.frozen(t0 + timedelta(minutes=i)):
            c = await create(client, org.admin, name=name, lead_score=score)
        with clock.frozen(t0 + timedelta(hours=1, minutes=(7 * i) % len(specs))):
            assert (await patch(client, org.admin, c["id"], title=f"t{i}")).status_code == 200
    r = await client.get(API, params={"sort": f"-{field}" if descending else field}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    rows = r.json()["data"]
    assert len(rows) == len(specs)
    keyed = [((when(c[field]) if field.endswith("_at") else c[field]), c["id"]) for c in rows]
    assert keyed == sorted(keyed, reverse=descending)


async def test_the_default_order_is_newest_first(client: httpx.AsyncClient, org: Org) -> None:
    t0 = datetime(2024, 6, 1, tzinfo=UTC)
    made = []
    for i in range(3):
        with clock.frozen(t0 + timedelta(seconds=i)):
            made.append((await create(client, org.admin, name=f"N{i}"))["id"])
    assert await ids_of(client, org.admin) == made[::-1]


# --- events and timeline -------------------------------------------------------------------------

async def test_each_contact_write_emits_exactly_its_event(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await create(client, org.admin, name="Evented", title="CEO", email="ev@example.com")
    await patch(client, org.admin, c["id"], title="CTO", lead_score=5)
    assert (await client.delete(f"{API}/{c['id']}", headers=org.admin.h)).status_code == 204
    assert (await client.post(f"{API}/{c['id']}/restore", headers=org.admin.h)).status_code == 200
    evs = await events_about(db, c["id"])
    assert [e["type"] for e in evs] == ["contact.created", "contact.updated", "contact.deleted", "contact.restored"]
    assert all(e["actor_id"] == org.admin.user_id and e["actor_type"] == "user" for e in evs)
    assert all(e["subject_type"] == "contact" and e["org_id"] == org.id for e in evs)
    created, updated, deleted, _restored = (e["data"] for e in evs)
    assert created["after"]["name"] == "Evented" and created["after"]["email"] == "ev@example.com"
    assert created["after"]["id"] == c["id"]
    assert updated == {"before": {"title": "CEO", "lead_score": 0}, "after": {"title": "CTO", "lead_score": 5}}
    assert deleted["before"]["name"] == "Evented" and deleted["permanent"] is False


async def test_the_event_records_the_acting_user(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await create(client, org.rep, name="Mine")
    await patch(client, org.manager, c["id"], title="Set by my manager")
    assert [(e["type"], e["actor_id"]) for e in await events_about(db, c["id"])] == [
        ("contact.created", org.rep.user_id), ("contact.updated", org.manager.user_id)]


async def test_a_refused_write_leaves_no_event(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await create(client, org.admin, email="one@example.com")
    await create(client, org.admin, name="Two", email="two@example.com")
    before = await count_rows(db)
    problem(await client.post(API, json={"name": "Dup", "email": "one@example.com"}, headers=org.admin.h), 409)
    problem(await patch(client, org.admin, c["id"], email="two@example.com"), 409)
    problem(await patch(client, org.admin, c["id"], stage="churned"), 409)
    problem(await patch(client, org.admin, c["id"], owner_id="user_nobody"), 422)
    problem(await client.post(API, json={"name": "X", "manager_id": "contact_nope"}, headers=org.admin.h), 422)
    problem(await client.delete(f"{API}/{c['id']}", headers=org.rep.h), 403)
    assert await count_rows(db) == before


async def test_the_timeline_lists_a_contacts_events_newest_first(client: httpx.AsyncClient, org: Org) -> None:
    t0 = datetime(2024, 2, 1, tzinfo=UTC)
    with clock.frozen(t0):
        c = await create(client, org.admin, name="T")
    for i in range(1, 6):
        with clock.frozen(t0 + timedelta(minutes=i)):
            assert (await patch(client, org.admin, c["id"], lead_score=i)).status_code == 200
    r = await client.get(f"{API}/{c['id']}/timeline", headers=org.admin.h)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert [e["type"] for e in data] == ["contact.updated"] * 5 + ["contact.created"]
    assert [e["data"]["after"].get("lead_score") for e in data[:5]] == [5, 4, 3, 2, 1]
    assert [when(e["occurred_at"]) for e in data] == [t0 + timedelta(minutes=i) for i in range(5, -1, -1)]
    assert data[0]["actor_id"] == org.admin.user_id and data[0]["subject_id"] == c["id"]
    assert r.json()["next_cursor"] is None


async def test_the_timeline_paginates(client: httpx.AsyncClient, org: Org) -> None:
    t0 = datetime(2024, 2, 1, tzinfo=UTC)
    with clock.frozen(t0):
        c = await create(client, org.admin, name="T")
    for i in range(1, 7):
        with clock.frozen(t0 + timedelta(minutes=i)):
            await patch(client, org.admin, c["id"], lead_score=i)
    whole = (await client.get(f"{API}/{c['id']}/timeline", headers=org.admin.h)).json()["data"]
    assert len(whole) == 7
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"{API}/{c['id']}/timeline", params=params, headers=org.admin.h)).json()
        assert len(page["data"]) <= 3
        seen += [e["id"] for e in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["id"] for e in whole]


async def test_events_of_the_same_moment_appear_in_the_timeline_in_the_order_they_happened(
        client: httpx.AsyncClient, org: Org) -> None:
    """Several writes within one clock tick (a burst, or a frozen clock) still list newest first."""
    with clock.frozen(datetime(2024, 2, 1, tzinfo=UTC)):
        c = await create(client, org.admin, name="Burst")
        for i in range(1, 9):
            await patch(client, org.admin, c["id"], lead_score=i)
    data = (await client.get(f"{API}/{c['id']}/timeline", headers=org.admin.h)).json()["data"]
    assert [e["data"]["after"].get("lead_score") for e in data] == [8, 7, 6, 5, 4, 3, 2, 1, 0]


async def test_the_timeline_of_a_missing_contact_is_not_found(client: httpx.AsyncClient, org: Org,
                                                              other_org: Org) -> None:
    c = await create(client, org.admin)
    problem(await client.get(f"{API}/contact_nope/timeline", headers=org.admin.h), 404)
    problem(await client.get(f"{API}/{c['id']}/timeline", headers=other_org.admin.h), 404)
    problem(await client.get(f"{API}/{c['id']}/timeline", params={"cursor": "garbage"}, headers=org.admin.h), 400)
