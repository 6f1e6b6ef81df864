"""Custom fields over HTTP (issue 3 item 5): definitions and their permissions, values validated
on every contact and company write, filters, sorting with exact keyset pagination, the indexes
behind them, and other orgs kept out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kith.config import Settings
from kith.core.db import Database
from kith.core.events import events
from kith.customfields import sql
from kith.customfields.model import FieldType
from kith.entrypoints.app import create_app
from tests.conftest import BACKENDS, Org, count_rows, make_org, problem, template_copy

A = "/api/v1"
CF = f"{A}/custom-fields"
NON_ADMINS = ["manager", "rep", "other_rep", "support", "marketing", "viewer"]


async def define(client: httpx.AsyncClient, who: Any, **body: Any) -> dict[str, Any]:
    body.setdefault("object", "contact")
    body.setdefault("label", body["name"].replace("_", " ").title())
    r = await client.post(CF, json=body, headers=who.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def new_contact(client: httpx.AsyncClient, who: Any, name: str = "Pat", **custom: Any) -> dict[str, Any]:
    r = await client.post(f"{A}/contacts", json={"name": name, "custom_fields": custom}, headers=who.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def names_field(p: dict[str, Any], field: str) -> None:
    """The problem's ``errors[].field`` names ``field`` (or a part of it, such as ``options.0``)."""
    got = [err["field"] for err in p.get("errors", [])]
    assert any(f == field or f.startswith(field + ".") for f in got), (field, p)


async def events_of(db: Database, type_: str) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(sa.select(events).where(events.c.type == type_).order_by(events.c.id))
        return [dict(r._mapping) for r in rows]


async def index_names(db: Database) -> set[str]:
    """The custom field indexes present (on PostgreSQL: and valid, i.e. usable by the planner)."""
    q = ("SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
         "JOIN pg_class t ON t.oid = i.indrelid WHERE t.relname IN ('contacts', 'companies') AND i.indisvalid"
         if db.backend == "postgresql"
         else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('contacts', 'companies')")
    async with db.engine.connect() as conn:
        return {r[0] for r in await conn.execute(sa.text(q)) if sql.is_custom_field_index(r[0])}


# --- one org with a field of every type, shared by the tests that only read or are refused -------

FIELDS: list[dict[str, Any]] = [
    {"name": "note", "type": "text"},
    {"name": "seats", "type": "number"},
    {"name": "renewal", "type": "date"},
    {"name": "vip", "type": "boolean"},
    {"name": "site", "type": "url"},
    {"name": "billing", "type": "email"},
    {"name": "plan", "type": "select", "options": ["free", "pro", "enterprise"]},
    {"name": "features", "type": "multi_select", "options": ["sso", "api", "audit"]},
]


@dataclass
class Env:
    db: Database
    client: httpx.AsyncClient
    org: Org
    other: Org
    contact: str  # a contact of ``org`` with no custom values


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module", params=BACKENDS)
async def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[Env]:
    with template_copy(request, request.param, tmp_path_factory.mktemp("cf")) as url:
        async for env in _shared_env(url):
            yield env


async def _shared_env(url: str) -> AsyncIterator[Env]:
    db = Database(url)
    app = create_app(Settings(database_url=url, max_body_bytes=64 * 1024), db=db)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kith.test") as client:
            org, other = await make_org(db, "Acme"), await make_org(db, "Globex")
            for f in FIELDS:
                await define(client, org.admin, **f)
            await define(client, other.admin, name="galaxy", type="text")
            contact = await new_contact(client, org.admin, "Blank")
            yield Env(db, client, org, other, contact["id"])
    finally:
        await db.dispose()


async def unchanged_after(e: Env, request: Any) -> httpx.Response:
    rows = await count_rows(e.db)
    before = (await e.client.get(f"{A}/contacts/{e.contact}", headers=e.org.admin.h)).json()
    resp: httpx.Response = await request()
    assert await count_rows(e.db) == rows
    assert (await e.client.get(f"{A}/contacts/{e.contact}", headers=e.org.admin.h)).json() == before
    return resp


# --- values: every type, valid and invalid ----------------------------------------------------------

_ABSENT = object()
VALID = [
    pytest.param("note", "  hello world  ", "hello world", id="text-trimmed"),
    pytest.param("note", "x" * 2000, "x" * 2000, id="text-2000"),
    pytest.param("note", "Zoë 山田 👩‍💻 '; DROP TABLE contacts; --", "Zoë 山田 👩‍💻 '; DROP TABLE contacts; --",
                 id="text-unicode-and-sql"),
    pytest.param("note", "   ", _ABSENT, id="text-blank-is-no-value"),
    pytest.param("seats", 42, 42, id="number-int"),
    pytest.param("seats", 40.0, 40, id="number-integral-float-is-int"),
    pytest.param("seats", -3.25, -3.25, id="number-negative-fraction"),
    pytest.param("seats", 0, 0, id="number-zero"),
    pytest.param("seats", 10**15, 10**15, id="number-max"),
    pytest.param("renewal", "2024-02-29", "2024-02-29", id="date-leap-day"),
    pytest.param("vip", True, True, id="boolean-true"),
    pytest.param("vip", False, False, id="boolean-false"),
    pytest.param("site", "https://acme.test/pricing?plan=pro", "https://acme.test/pricing?plan=pro", id="url"),
    pytest.param("billing", " Billing@Acme.TEST ", "billing@acme.test", id="email-lower-cased"),
    pytest.param("plan", "pro", "pro", id="select"),
    pytest.param("features", ["sso", "audit", "sso"], ["sso", "audit"], id="multi-select-deduplicated"),
    pytest.param("features", [], _ABSENT, id="multi-select-empty-is-no-value"),
    pytest.param("plan", None, _ABSENT, id="null-is-no-value"),
]


@pytest.mark.parametrize(("name", "value", "stored"), VALID)
async def test_a_valid_value_of_every_type_is_stored_canonically(shared: Env, name: str, value: Any,
                                                                 stored: Any) -> None:
    created = await new_contact(shared.client, shared.org.admin, "Valued", **{name: value})
    got = (await shared.client.get(f"{A}/contacts/{created['id']}", headers=shared.org.admin.h)).json()
    for body in (created, got):
        if stored is _ABSENT:
            assert name not in body["custom_fields"]
        else:
            assert body["custom_fields"] == {name: stored}
            assert type(body["custom_fields"][name]) is type(stored)


INVALID = [
    pytest.param("note", 5, id="text-number"),
    pytest.param("note", ["a"], id="text-list"),
    pytest.param("note", {"a": 1}, id="text-object"),
    pytest.param("note", True, id="text-boolean"),
    pytest.param("note", "x" * 2001, id="text-2001"),
    pytest.param("seats", "42", id="number-string"),
    pytest.param("seats", True, id="number-boolean"),
    pytest.param("seats", 10**15 + 1, id="number-over-max"),
    pytest.param("seats", -1e16, id="number-under-min"),
    pytest.param("seats", 10**30, id="number-over-64-bits"),
    pytest.param("seats", [1], id="number-list"),
    pytest.param("renewal", "2024-02-30", id="date-not-a-day"),
    pytest.param("renewal", "2024-2-3", id="date-short"),
    pytest.param("renewal", "2024-02-29T00:00:00Z", id="date-time"),
    pytest.param("renewal", "20240229", id="date-basic-format"),
    pytest.param("renewal", 20240229, id="date-number"),
    pytest.param("renewal", "yesterday", id="date-words"),
    pytest.param("vip", "true", id="boolean-string"),
    pytest.param("vip", 1, id="boolean-one"),
    pytest.param("site", "ftp://acme.test", id="url-ftp"),
    pytest.param("site", "javascript:alert(1)", id="url-javascript"),
    pytest.param("site", "https://acme.test/a b", id="url-space"),
    pytest.param("site", "https://" + "a" * 2000, id="url-2008"),
    pytest.param("billing", "not-an-email", id="email-no-at"),
    pytest.param("billing", "a@b", id="email-no-dot"),
    pytest.param("billing", 5, id="email-number"),
    pytest.param("plan", "gold", id="select-not-an-option"),
    pytest.param("plan", "PRO", id="select-wrong-case"),
    pytest.param("plan", ["pro"], id="select-list"),
    pytest.param("plan", 1, id="select-number"),
    pytest.param("features", "sso", id="multi-select-string"),
    pytest.param("features", ["sso", "gold"], id="multi-select-not-an-option"),
    pytest.param("features", [1], id="multi-select-number"),
    pytest.param("features", [""], id="multi-select-empty-option"),
    pytest.param("features", [None], id="multi-select-null-option"),
    pytest.param("nope", 1, id="unknown-name"),
    pytest.param("galaxy", "x", id="another-orgs-field"),
    pytest.param("email", "a@b.test", id="built-in-field-name"),
]


@pytest.mark.parametrize(("name", "value"), INVALID)
async def test_an_invalid_value_is_refused_naming_the_field_and_nothing_is_written(
        shared: Env, name: str, value: Any) -> None:
    e = shared
    for method, url, body in [
        ("POST", f"{A}/contacts", {"name": "Refused", "custom_fields": {name: value}}),
        ("PATCH", f"{A}/contacts/{e.contact}", {"custom_fields": {name: value}}),
        ("PATCH", f"{A}/contacts/{e.contact}", {"title": "Not written", "custom_fields": {"plan": "pro", name: value}}),
    ]:
        r = await unchanged_after(e, lambda m=method, u=url, b=body: e.client.request(
            m, u, json=b, headers=e.org.admin.h))
        names_field(problem(r, 422), f"custom_fields.{name}")


async def test_every_bad_value_is_reported_at_once(shared: Env) -> None:
    r = await shared.client.post(f"{A}/contacts", headers=shared.org.admin.h, json={
        "name": "Many", "custom_fields": {"plan": "gold", "seats": "x", "nope": 1, "note": "fine"}})
    fields = {err["field"] for err in problem(r, 422)["errors"]}
    assert fields == {"custom_fields.plan", "custom_fields.seats", "custom_fields.nope"}


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"1e400"])
async def test_a_number_that_is_not_finite_is_refused(shared: Env, literal: bytes) -> None:
    raw = b'{"name": "Inf", "custom_fields": {"seats": ' + literal + b"}}"
    r = await unchanged_after(shared, lambda: shared.client.post(
        f"{A}/contacts", content=raw, headers={**shared.org.admin.h, "Content-Type": "application/json"}))
    assert any(err["field"].startswith("custom_fields") for err in problem(r, 422)["errors"])


async def test_custom_fields_null_on_patch_is_refused(shared: Env) -> None:
    r = await unchanged_after(shared, lambda: shared.client.patch(
        f"{A}/contacts/{shared.contact}", json={"custom_fields": None}, headers=shared.org.admin.h))
    assert problem(r, 422)["errors"][0]["field"] == "custom_fields"


async def test_a_contact_field_is_not_a_company_field(shared: Env) -> None:
    r = await shared.client.post(f"{A}/companies", json={"name": "Co", "custom_fields": {"plan": "pro"}},
                                 headers=shared.org.admin.h)
    assert problem(r, 422)["errors"][0]["field"] == "custom_fields.plan"


# --- PATCH merges; required fields ----------------------------------------------------------------

async def test_patch_merges_per_key_and_null_removes_a_key(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    await define(client, org.admin, name="plan", type="select", options=["free", "pro"])
    await define(client, org.admin, name="seats", type="number")
    c = await new_contact(client, org.admin, plan="free")
    r = await client.patch(f"{A}/contacts/{c['id']}", json={"custom_fields": {"seats": 5}}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    assert r.json()["custom_fields"] == {"plan": "free", "seats": 5} and r.json()["version"] == 2
    r = await client.patch(f"{A}/contacts/{c['id']}", json={"custom_fields": {"plan": None, "seats": 6}},
                           headers=org.admin.h)
    assert r.json()["custom_fields"] == {"seats": 6}
    evs = [e for e in await events_of(db, "contact.updated") if e["subject_id"] == c["id"]]
    assert evs[-1]["data"]["before"]["custom_fields"] == {"plan": "free", "seats": 5}
    assert evs[-1]["data"]["after"]["custom_fields"] == {"seats": 6}
    # the same values again change nothing: no new version, no event
    r = await client.patch(f"{A}/contacts/{c['id']}", json={"custom_fields": {"seats": 6.0}}, headers=org.admin.h)
    assert r.json()["version"] == 3
    assert len([e for e in await events_of(db, "contact.updated") if e["subject_id"] == c["id"]]) == 2


async def test_a_required_field_is_demanded_on_create_and_cannot_be_removed(client: httpx.AsyncClient, db: Database,
                                                                              org: Org) -> None:
    await define(client, org.admin, name="region", type="select", options=["emea", "amer"], required=True)
    before = await count_rows(db)
    r = await client.post(f"{A}/contacts", json={"name": "No region"}, headers=org.admin.h)
    assert problem(r, 422)["errors"] == [{"field": "custom_fields.region", "message": "is required"}]
    r = await client.post(f"{A}/contacts", json={"name": "Blank region", "custom_fields": {"region": ""}},
                          headers=org.admin.h)
    assert problem(r, 422)["errors"][0]["field"] == "custom_fields.region"
    assert await count_rows(db) == before
    c = await new_contact(client, org.admin, region="emea")
    r = await client.patch(f"{A}/contacts/{c['id']}", json={"custom_fields": {"region": None}}, headers=org.admin.h)
    assert problem(r, 422)["errors"][0]["field"] == "custom_fields.region"
    # a PATCH that leaves the field alone is fine, and so is a contact Kith captures on its own
    r = await client.patch(f"{A}/contacts/{c['id']}", json={"title": "CTO"}, headers=org.admin.h)
    assert r.status_code == 200 and r.json()["custom_fields"] == {"region": "emea"}
    r = await client.post(f"{A}/contacts/capture", json={"email": "lead@form.test", "source": "demo-form"},
                          headers=org.admin.h)
    assert r.status_code in (200, 201), r.text
    assert r.json()["contact"]["custom_fields"] == {}


async def test_companies_carry_their_own_fields(client: httpx.AsyncClient, org: Org) -> None:
    await define(client, org.admin, object="company", name="arr", type="number")
    await define(client, org.admin, object="company", name="segment", type="select", options=["smb", "ent"])
    r = await client.post(f"{A}/companies", json={"name": "Big", "custom_fields": {"arr": 1200000, "segment": "ent"}},
                          headers=org.admin.h)
    assert r.status_code == 201, r.text
    big = r.json()["id"]
    r = await client.post(f"{A}/companies", json={"name": "Small", "custom_fields": {"arr": 900}}, headers=org.admin.h)
    small = r.json()["id"]
    r = await client.patch(f"{A}/companies/{small}", json={"custom_fields": {"segment": "smb"}}, headers=org.admin.h)
    assert r.json()["custom_fields"] == {"arr": 900, "segment": "smb"}
    r = await client.get(f"{A}/companies", params={"segment": "ent"}, headers=org.admin.h)
    assert [c["id"] for c in r.json()["data"]] == [big]
    r = await client.get(f"{A}/companies", params={"sort": "-arr"}, headers=org.admin.h)
    assert [c["id"] for c in r.json()["data"]] == [big, small]
    r = await client.post(f"{A}/contacts", json={"name": "P", "custom_fields": {"arr": 1}}, headers=org.admin.h)
    assert problem(r, 422)["errors"][0]["field"] == "custom_fields.arr"


# --- definitions ---------------------------------------------------------------------------------

async def test_defining_reading_changing_and_deleting_a_field(client: httpx.AsyncClient, db: Database,
                                                              org: Org) -> None:
    r = await client.post(CF, headers=org.admin.h, json={
        "object": "contact", "name": "plan", "label": "Plan", "type": "select", "options": [" free ", "pro"],
        "description": "The subscription plan."})
    assert r.status_code == 201, r.text
    f = r.json()
    assert f["id"].startswith("custom_field_") and r.headers["location"] == f"{CF}/{f['id']}"
    assert r.headers["etag"] == '"v1"'
    assert {k: f[k] for k in ("object", "name", "label", "type", "options", "required", "description", "version")} == {
        "object": "contact", "name": "plan", "label": "Plan", "type": "select", "options": ["free", "pro"],
        "required": False, "description": "The subscription plan.", "version": 1}
    assert (await client.get(f"{CF}/{f['id']}", headers=org.admin.h)).json() == f
    seats = await define(client, org.admin, name="seats", type="number")
    arr = await define(client, org.admin, object="company", name="arr", type="number")
    listed = (await client.get(CF, headers=org.admin.h)).json()
    assert [x["id"] for x in listed["data"]] == [arr["id"], f["id"], seats["id"]] and listed["next_cursor"] is None
    only = (await client.get(CF, params={"object": "company"}, headers=org.admin.h)).json()["data"]
    assert [x["id"] for x in only] == [arr["id"]]

    r = await client.patch(f"{CF}/{f['id']}", headers={**org.admin.h, "If-Match": '"v1"'},
                           json={"label": "Plan tier", "options": ["enterprise", "pro", "free"], "required": True,
                                 "type": "select", "name": "plan"})
    assert r.status_code == 200, r.text
    assert r.json()["options"] == ["enterprise", "pro", "free"] and r.json()["label"] == "Plan tier"
    assert r.json()["required"] is True and r.json()["version"] == 2 and r.headers["etag"] == '"v2"'
    problem(await client.patch(f"{CF}/{f['id']}", json={"label": "Stale"},
                               headers={**org.admin.h, "If-Match": '"v1"'}), 412)

    assert (await client.delete(f"{CF}/{f['id']}", headers=org.admin.h)).status_code == 204
    problem(await client.get(f"{CF}/{f['id']}", headers=org.admin.h), 404)
    problem(await client.delete(f"{CF}/{f['id']}", headers=org.admin.h), 404)
    created, updated, deleted = [await events_of(db, f"custom_field.{v}") for v in ("created", "updated", "deleted")]
    assert [e["subject_id"] for e in created] == [f["id"], seats["id"], arr["id"]]
    assert [(e["subject_id"], e["actor_id"]) for e in updated] == [(f["id"], org.admin.user_id)]
    assert updated[0]["data"]["before"]["label"] == "Plan" and updated[0]["data"]["after"]["label"] == "Plan tier"
    assert [e["subject_id"] for e in deleted] == [f["id"]] and deleted[0]["data"]["before"]["name"] == "plan"


@pytest.mark.parametrize(("change", "field"), [
    pytest.param({"type": "text"}, "type", id="type"),
    pytest.param({"name": "tier"}, "name", id="name"),
    pytest.param({"object": "company"}, "object", id="object"),
])
async def test_a_fields_type_name_and_object_never_change(client: httpx.AsyncClient, db: Database, org: Org,
                                                          change: dict[str, str], field: str) -> None:
    f = await define(client, org.admin, name="plan", type="select", options=["free", "pro"])
    before = await count_rows(db)
    p = problem(await client.patch(f"{CF}/{f['id']}", json={"label": "X", **change}, headers=org.admin.h), 409)
    assert p["errors"][0]["field"] == field
    assert await count_rows(db) == before
    assert (await client.get(f"{CF}/{f['id']}", headers=org.admin.h)).json() == f


BAD_DEFINITIONS = [
    pytest.param({"name": "Plan"}, 422, "name", id="name-upper-case"),
    pytest.param({"name": "1plan"}, 422, "name", id="name-leading-digit"),
    pytest.param({"name": "_plan"}, 422, "name", id="name-leading-underscore"),
    pytest.param({"name": "plan-tier"}, 422, "name", id="name-hyphen"),
    pytest.param({"name": "plan.tier"}, 422, "name", id="name-dot"),
    pytest.param({"name": "plän"}, 422, "name", id="name-non-ascii"),
    pytest.param({"name": ""}, 422, "name", id="name-empty"),
    pytest.param({"name": "p" * 65}, 422, "name", id="name-65"),
    pytest.param({"name": "email"}, 422, "name", id="name-built-in-column"),
    pytest.param({"name": "custom_fields"}, 422, "name", id="name-the-column-itself"),
    pytest.param({"name": "tag"}, 422, "name", id="name-built-in-filter"),
    pytest.param({"name": "created_after"}, 422, "name", id="name-date-filter"),
    pytest.param({"name": "company_id"}, 422, "name", id="name-link-filter"),
    pytest.param({"name": "limit"}, 422, "name", id="name-limit"),
    pytest.param({"name": "cursor"}, 422, "name", id="name-cursor"),
    pytest.param({"name": "sort"}, 422, "name", id="name-sort"),
    pytest.param({"name": "q"}, 422, "name", id="name-q"),
    pytest.param({"name": "include"}, 422, "name", id="name-include"),
    pytest.param({"name": "relevance"}, 422, "name", id="name-relevance"),
    pytest.param({"object": "company", "name": "domain"}, 422, "name", id="name-company-column"),
    pytest.param({"object": "company", "name": "contact_id"}, 422, "name", id="name-company-filter"),
    pytest.param({"object": "deal"}, 422, "object", id="object-unknown"),
    pytest.param({"type": "currency"}, 422, "type", id="type-unknown"),
    pytest.param({"type": "multi-select", "options": ["a"]}, 422, "type", id="type-hyphenated"),
    pytest.param({"type": "select"}, 422, "options", id="select-without-options"),
    pytest.param({"type": "multi_select", "options": []}, 422, "options", id="multi-select-no-options"),
    pytest.param({"type": "select", "options": ["a", "a"]}, 422, "options", id="options-duplicated"),
    pytest.param({"type": "select", "options": ["a", " a "]}, 422, "options", id="options-duplicated-after-trim"),
    pytest.param({"type": "select", "options": [""]}, 422, "options", id="option-empty"),
    pytest.param({"type": "select", "options": ["o" * 101]}, 422, "options", id="option-101"),
    pytest.param({"type": "select", "options": [f"o{i}" for i in range(201)]}, 422, "options", id="options-201"),
    pytest.param({"type": "select", "options": "a,b"}, 422, "options", id="options-string"),
    pytest.param({"type": "text", "options": ["a"]}, 422, "options", id="options-on-text"),
    pytest.param({"required": "yes"}, 422, "required", id="required-string"),
    pytest.param({"label": ""}, 422, "label", id="label-empty"),
    pytest.param({"label": "l" * 201}, 422, "label", id="label-201"),
    pytest.param({"description": "d" * 2001}, 422, "description", id="description-2001"),
    pytest.param({"unknown": 1}, 422, "unknown", id="unknown-key"),
    pytest.param({"name": "seats"}, 409, None, id="name-taken"),
]


@pytest.mark.parametrize(("change", "status", "field"), BAD_DEFINITIONS)
async def test_a_bad_definition_is_refused_and_nothing_is_written(shared: Env, change: dict[str, Any], status: int,
                                                                  field: str | None) -> None:
    body = {"object": "contact", "name": "fresh_field", "label": "Fresh", "type": "text", **change}
    before_fields = (await shared.client.get(CF, headers=shared.org.admin.h)).json()
    r = await unchanged_after(shared, lambda: shared.client.post(CF, json=body, headers=shared.org.admin.h))
    p = problem(r, status)
    if field is not None:
        names_field(p, field)
    assert (await shared.client.get(CF, headers=shared.org.admin.h)).json() == before_fields


async def test_the_same_name_may_serve_contacts_and_companies(client: httpx.AsyncClient, org: Org) -> None:
    await define(client, org.admin, name="tier", type="text")
    await define(client, org.admin, object="company", name="tier", type="number")
    problem(await client.post(CF, json={"object": "company", "name": "tier", "label": "T", "type": "text"},
                              headers=org.admin.h), 409)


async def test_removing_an_option_a_record_holds_is_refused(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    plan = await define(client, org.admin, name="plan", type="select", options=["free", "pro", "legacy"])
    feats = await define(client, org.admin, name="features", type="multi_select", options=["sso", "api", "beta"])
    c = await new_contact(client, org.admin, plan="legacy", features=["api", "beta"])
    assert (await client.delete(f"{A}/contacts/{c['id']}", headers=org.admin.h)).status_code == 204  # trash too
    before = await count_rows(db)
    p = problem(await client.patch(f"{CF}/{plan['id']}", json={"options": ["free", "pro"]}, headers=org.admin.h), 409)
    assert p["in_use"] == ["legacy"] and p["errors"][0]["field"] == "options"
    p = problem(await client.patch(f"{CF}/{feats['id']}", json={"options": ["sso"]}, headers=org.admin.h), 409)
    assert p["in_use"] == ["api", "beta"]
    assert await count_rows(db) == before
    # an option nobody holds goes; adding one is always fine
    r = await client.patch(f"{CF}/{plan['id']}", json={"options": ["pro", "legacy", "team"]}, headers=org.admin.h)
    assert r.status_code == 200 and r.json()["options"] == ["pro", "legacy", "team"]
    problem(await client.post(f"{A}/contacts", json={"name": "F", "custom_fields": {"plan": "free"}},
                              headers=org.admin.h), 422)


async def test_options_only_on_select_types_when_patching(client: httpx.AsyncClient, org: Org) -> None:
    note = await define(client, org.admin, name="note", type="text")
    plan = await define(client, org.admin, name="plan", type="select", options=["a"])
    assert problem(await client.patch(f"{CF}/{note['id']}", json={"options": ["a"]}, headers=org.admin.h),
                   422)["errors"][0]["field"] == "options"
    for bad in ([], None):
        assert problem(await client.patch(f"{CF}/{plan['id']}", json={"options": bad}, headers=org.admin.h),
                       422)["errors"][0]["field"] == "options"
    for key in ("label", "required"):
        assert problem(await client.patch(f"{CF}/{plan['id']}", json={key: None}, headers=org.admin.h),
                       422)["errors"][0]["field"] == key


async def test_deleting_a_field_removes_its_values_everywhere(client: httpx.AsyncClient, db: Database,
                                                              org: Org) -> None:
    plan = await define(client, org.admin, name="plan", type="select", options=["free", "pro"])
    await define(client, org.admin, name="seats", type="number")
    kept = await new_contact(client, org.admin, "Kept", plan="pro", seats=3)
    # defining a name again is refused, and leaves the live field's values alone
    problem(await client.post(CF, json={"object": "contact", "name": "seats", "label": "S", "type": "number"},
                              headers=org.admin.h), 409)
    assert (await client.get(f"{A}/contacts/{kept['id']}", headers=org.admin.h)).json() == kept
    trashed = await new_contact(client, org.admin, "Trashed", plan="free")
    untouched = await new_contact(client, org.admin, "Untouched", seats=1)
    await client.delete(f"{A}/contacts/{trashed['id']}", headers=org.admin.h)
    assert (await client.delete(f"{CF}/{plan['id']}", headers=org.admin.h)).status_code == 204
    got = (await client.get(f"{A}/contacts/{kept['id']}", headers=org.admin.h)).json()
    assert got["custom_fields"] == {"seats": 3} and got["version"] == kept["version"] + 1
    got = (await client.get(f"{A}/contacts/{untouched['id']}", headers=org.admin.h)).json()
    assert got["custom_fields"] == {"seats": 1} and got["version"] == untouched["version"]
    restored = await client.post(f"{A}/contacts/{trashed['id']}/restore", headers=org.admin.h)
    assert restored.status_code == 200 and restored.json()["custom_fields"] == {}
    assert (await events_of(db, "custom_field.deleted"))[0]["data"]["before"]["name"] == "plan"
    problem(await client.get(f"{A}/contacts", params={"plan": "pro"}, headers=org.admin.h), 422)
    # the name is free again, even for another type
    await define(client, org.admin, name="plan", type="number")
    assert (await new_contact(client, org.admin, plan=2))["custom_fields"] == {"plan": 2}


async def test_values_of_a_deleted_field_are_removed_in_batches_and_a_cut_short_purge_is_finished(
        client: httpx.AsyncClient, db: Database, org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    from kith.contacts.tables import contacts
    from kith.customfields import purge

    monkeypatch.setattr(purge, "PURGE_BATCH", 2)
    seats = await define(client, org.admin, name="seats", type="number")
    made = [await new_contact(client, org.admin, f"c{i}", **({"seats": i} if i % 3 else {})) for i in range(7)]
    assert (await client.delete(f"{CF}/{seats['id']}", headers=org.admin.h)).status_code == 204
    for c in made:
        got = (await client.get(f"{A}/contacts/{c['id']}", headers=org.admin.h)).json()
        assert got["custom_fields"] == {} and got["version"] == c["version"] + (1 if c["custom_fields"] else 0)
    # a purge the process did not live to finish left a value behind (written here by hand) ...
    async with db.engine.begin() as conn:
        await conn.execute(contacts.update().where(contacts.c.id == made[1]["id"]).values(custom_fields={"seats": 1}))
    # ... defining the name again removes it first: the new field starts empty
    await define(client, org.admin, name="seats", type="text")
    got = (await client.get(f"{A}/contacts/{made[1]['id']}", headers=org.admin.h)).json()
    assert got["custom_fields"] == {}
    r = await client.get(f"{A}/contacts", params={"seats": "1"}, headers=org.admin.h)
    assert r.status_code == 200 and r.json()["data"] == []


# --- permissions and other orgs ------------------------------------------------------------------

@pytest.mark.parametrize("persona", NON_ADMINS)
async def test_only_a_crm_admin_manages_fields_but_everyone_reads_them(shared: Env, persona: str) -> None:
    who = getattr(shared.org, persona)
    seats = next(f for f in (await shared.client.get(CF, headers=shared.org.admin.h)).json()["data"]
                 if f["name"] == "seats")
    for method, url, body in [("POST", CF, {"object": "contact", "name": "mine", "label": "Mine", "type": "text"}),
                              ("PATCH", f"{CF}/{seats['id']}", {"label": "Mine"}),
                              ("DELETE", f"{CF}/{seats['id']}", None)]:
        r = await unchanged_after(shared, lambda m=method, u=url, b=body: shared.client.request(
            m, u, json=b, headers=who.h))
        assert problem(r, 403)["permission"] == "custom_field:manage"
    listed = await shared.client.get(CF, headers=who.h)
    assert listed.status_code == 200 and {f["name"] for f in listed.json()["data"]} == {f["name"] for f in FIELDS}
    assert (await shared.client.get(f"{CF}/{seats['id']}", headers=who.h)).json() == seats


async def test_without_a_key_nothing_is_answered(shared: Env) -> None:
    problem(await shared.client.get(CF), 401)
    problem(await shared.client.post(CF, json={"object": "contact", "name": "x", "label": "X", "type": "text"}), 401)


async def test_another_orgs_fields_are_not_found_and_not_listed(shared: Env) -> None:
    theirs = (await shared.client.get(CF, headers=shared.other.admin.h)).json()["data"]
    assert [f["name"] for f in theirs] == ["galaxy"]
    fid = theirs[0]["id"]
    for method, body in [("GET", None), ("PATCH", {"label": "Mine now"}), ("DELETE", None)]:
        r = await unchanged_after(shared, lambda m=method, b=body: shared.client.request(
            m, f"{CF}/{fid}", json=b, headers=shared.org.admin.h))
        problem(r, 404)
    assert (await shared.client.get(CF, headers=shared.other.admin.h)).json()["data"] == theirs
    assert "galaxy" not in {f["name"] for f in (await shared.client.get(CF, headers=shared.org.admin.h)).json()["data"]}
    # the name filters nothing here
    problem(await shared.client.get(f"{A}/contacts", params={"galaxy": "x"}, headers=shared.org.admin.h), 422)


@pytest.mark.parametrize("bad_id", ["custom_field_nobody", "x" * 41])
async def test_an_unknown_or_overlong_id_is_refused(shared: Env, bad_id: str) -> None:
    r = await shared.client.get(f"{CF}/{bad_id}", headers=shared.org.admin.h)
    problem(r, 404 if len(bad_id) <= 40 else 422)


async def test_an_unknown_object_filter_on_the_definitions_list_is_refused(shared: Env) -> None:
    problem(await shared.client.get(CF, params={"object": "deal"}, headers=shared.org.admin.h), 422)


# --- filters ---------------------------------------------------------------------------------------

FILTERS = [
    pytest.param("note", "hello", {"hello"}, id="text"),
    pytest.param("seats", "40", {40}, id="number-int"),
    pytest.param("seats", "4e1", {40}, id="number-exponent"),
    pytest.param("seats", "2.5", {2.5}, id="number-fraction"),
    pytest.param("renewal", "2025-01-31", {"2025-01-31"}, id="date"),
    pytest.param("vip", "true", {True}, id="boolean-true"),
    pytest.param("vip", "FALSE", {False}, id="boolean-false"),
    pytest.param("site", "https://a.test", {"https://a.test"}, id="url"),
    pytest.param("billing", "Pay@A.test", {"pay@a.test"}, id="email-any-case"),
    pytest.param("plan", "pro", {"pro"}, id="select"),
    pytest.param("features", "api", None, id="multi-select-holds"),
]

ROWS: list[dict[str, Any]] = [
    {"note": "hello", "seats": 40, "renewal": "2025-01-31", "vip": True, "site": "https://a.test",
     "billing": "pay@a.test", "plan": "pro", "features": ["sso", "api"]},
    {"note": "hello there", "seats": 2.5, "renewal": "2025-02-01", "vip": False, "site": "https://b.test",
     "billing": "other@a.test", "plan": "free", "features": ["api"]},
    {"note": "Hello", "seats": 40.0, "plan": "enterprise", "features": ["sso"]},
    {},
]


@pytest.mark.parametrize(("name", "raw", "matching"), FILTERS)
async def test_a_custom_field_filters_like_a_built_in_field(client: httpx.AsyncClient, org: Org, other_org: Org,
                                                            name: str, raw: str, matching: set[Any] | None) -> None:
    for f in FIELDS:
        await define(client, org.admin, **f)
        await define(client, other_org.admin, **f)
    ids = [(await new_contact(client, org.admin, f"c{i}", **row))["id"] for i, row in enumerate(ROWS)]
    for row in ROWS:  # the same values in another org never show here
        await new_contact(client, other_org.admin, "theirs", **row)
    if matching is None:
        want = [i for i, row in zip(ids, ROWS, strict=True) if raw in row.get(name, [])]
    else:
        want = [i for i, row in zip(ids, ROWS, strict=True) if name in row and row[name] in matching]
    assert want
    r = await client.get(f"{A}/contacts", params={name: raw, "sort": "id", "limit": 500}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    assert [c["id"] for c in r.json()["data"]] == want
    # combined with a built-in filter and a search
    r = await client.get(f"{A}/contacts", params={name: raw, "stage": "lead", "q": "c0"}, headers=org.admin.h)
    assert [c["id"] for c in r.json()["data"]] == [i for i in want if i == ids[0]]


BAD_FILTERS = [
    pytest.param({"seats": "many"}, "seats", id="number-words"),
    pytest.param({"seats": "nan"}, "seats", id="number-nan"),
    pytest.param({"seats": "1e400"}, "seats", id="number-infinite"),
    pytest.param({"seats": "9" * 41}, "seats", id="number-41-digits"),
    pytest.param({"seats": ""}, "seats", id="number-empty"),
    pytest.param({"renewal": "2025-02-30"}, "renewal", id="date-bad-day"),
    pytest.param({"renewal": "2025-02-01T00:00:00Z"}, "renewal", id="date-time"),
    pytest.param({"vip": "yes"}, "vip", id="boolean-yes"),
    pytest.param({"plan": "gold"}, "plan", id="select-not-an-option"),
    pytest.param({"features": "gold"}, "features", id="multi-select-not-an-option"),
    pytest.param({"note": "n" * 2001}, "note", id="text-2001"),
    pytest.param({"billing": "nobody"}, "billing", id="email-bogus"),
    pytest.param({"nope": "x"}, "nope", id="unknown-name"),
    pytest.param({"sort": "features"}, "sort", id="sort-multi-select"),
    pytest.param({"sort": "-nope"}, "sort", id="sort-unknown"),
    pytest.param({"sort": "seats", "q": "pat"}, "sort", id="sort-custom-with-search"),
    pytest.param({"sort": "seats", "cursor": "garbage!!"}, "cursor", id="cursor-garbage"),
]


@pytest.mark.parametrize(("params", "field"), BAD_FILTERS)
async def test_a_bad_custom_filter_or_sort_is_refused(shared: Env, params: dict[str, str], field: str) -> None:
    r = await unchanged_after(shared, lambda: shared.client.get(f"{A}/contacts", params=params,
                                                               headers=shared.org.admin.h))
    names_field(problem(r, 400 if field == "cursor" else 422), field)


async def test_an_unknown_filter_names_the_custom_fields_too(shared: Env) -> None:
    p = problem(await shared.client.get(f"{A}/contacts", params={"nope": "x"}, headers=shared.org.admin.h), 422)
    assert "plan" in p["errors"][0]["message"] and "stage" in p["errors"][0]["message"]


# --- sorting with keyset pagination --------------------------------------------------------------

SORTS = [
    pytest.param("seats", "number", [3, 1, None, 2, 3, None, 1.5, -2, 3, 0], id="number"),
    pytest.param("note", "text", ["b", "a", None, "c", "b", None, "aa", "b"], id="text"),
    pytest.param("renewal", "date", ["2025-03-01", None, "2024-12-31", "2025-03-01", None, "2025-01-01"], id="date"),
    pytest.param("vip", "boolean", [True, False, None, True, False, None, True], id="boolean"),
]


async def _walk(client: httpx.AsyncClient, who: Any, params: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(50):
        r = await client.get(f"{A}/contacts", params={**params, **({"cursor": cursor} if cursor else {})},
                             headers=who.h)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["data"]) <= params["limit"]
        seen += [c["id"] for c in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
        assert len(page["data"]) == params["limit"]
    raise AssertionError("the cursor never ended")


@pytest.mark.parametrize(("name", "type_", "values"), SORTS)
async def test_sorting_by_a_custom_field_pages_exactly_with_missing_values_last(
        client: httpx.AsyncClient, org: Org, name: str, type_: str, values: list[Any]) -> None:
    await define(client, org.admin, name=name, type=type_)
    made = []
    for i, v in enumerate(values):
        c = await new_contact(client, org.admin, f"c{i}", **({} if v is None else {name: v}))
        made.append((v, c["id"]))
    valued = [(v, i) for v, i in made if v is not None]
    missing = [i for v, i in made if v is None]
    ascending = [i for _, i in sorted(valued)] + sorted(missing)
    descending = [i for _, i in sorted(valued, reverse=True)] + sorted(missing, reverse=True)
    for limit in (1, 2, 3, 500):
        assert await _walk(client, org.admin, {"sort": name, "limit": limit}) == ascending, limit
        assert await _walk(client, org.admin, {"sort": f"-{name}", "limit": limit}) == descending, limit


async def test_a_sorted_filtered_list_pages_within_the_filter(client: httpx.AsyncClient, org: Org) -> None:
    await define(client, org.admin, name="plan", type="select", options=["free", "pro"])
    await define(client, org.admin, name="seats", type="number")
    made = [(await new_contact(client, org.admin, f"c{i}", plan=p, **({} if s is None else {"seats": s})))["id"]
            for i, (p, s) in enumerate([("pro", 5), ("free", 1), ("pro", None), ("pro", 1), ("pro", 5), ("free", 9)])]
    want = [made[3], made[0], made[4], made[2]]
    assert await _walk(client, org.admin, {"plan": "pro", "sort": "seats", "limit": 1}) == want


async def test_a_cursor_cannot_be_tampered_with_or_reused_for_another_sort(client: httpx.AsyncClient,
                                                                           org: Org) -> None:
    import base64
    import json

    await define(client, org.admin, name="seats", type="number")
    await define(client, org.admin, name="note", type="text")
    for i in range(3):
        await new_contact(client, org.admin, f"c{i}", seats=i, note=str(i))
    r = await client.get(f"{A}/contacts", params={"sort": "seats", "limit": 1}, headers=org.admin.h)
    cursor = r.json()["next_cursor"]
    problem(await client.get(f"{A}/contacts", params={"sort": "note", "limit": 1, "cursor": cursor},
                             headers=org.admin.h), 400)

    def raw(obj: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    for sort, value in [("seats", "many"), ("seats", True), ("seats", 10**30), ("note", 5), ("note", [1])]:
        key = [value, "2024-01-01T00:00:00+00:00"]
        r = await client.get(f"{A}/contacts", params={"sort": sort, "cursor": raw([sort, key, "contact_x"])},
                             headers=org.admin.h)
        assert problem(r, 400)["errors"][0]["field"] == "cursor", (sort, value)
    for key in [5, [5], [5, "not a time"], [5, "2024-01-01T00:00:00"], [5, 7], [5, "2024-01-01T00:00:00Z", 1]]:
        r = await client.get(f"{A}/contacts", params={"sort": "seats", "cursor": raw(["seats", key, "contact_x"])},
                             headers=org.admin.h)
        assert problem(r, 400)["errors"][0]["field"] == "cursor", key
    # a cursor among the records without a value is valid
    r = await client.get(f"{A}/contacts", headers=org.admin.h, params={
        "sort": "seats", "cursor": raw(["seats", [None, "2000-01-01T00:00:00+00:00"], "contact_0"])})
    assert r.status_code == 200 and r.json()["data"] == []


# --- indexes and query plans ---------------------------------------------------------------------

async def test_a_field_gets_an_index_that_lives_as_long_as_some_org_needs_it(client: httpx.AsyncClient,
                                                                             db: Database, org: Org,
                                                                             other_org: Org) -> None:
    ours = await define(client, org.admin, name="plan", type="select", options=["a"])
    theirs = await define(client, other_org.admin, name="plan", type="text")
    feats = await define(client, org.admin, name="features", type="multi_select", options=["a"])
    plan_ix = sql.index_name("contacts", "plan", FieldType.SELECT)
    feats_ix = sql.index_name("contacts", "features", FieldType.MULTI_SELECT)
    expected = {plan_ix, feats_ix} if db.backend == "postgresql" else {plan_ix}  # SQLite: no multi_select index
    assert await index_names(db) == expected
    await client.delete(f"{CF}/{ours['id']}", headers=org.admin.h)
    assert await index_names(db) == expected  # the other org still filters by its "plan"
    await client.delete(f"{CF}/{theirs['id']}", headers=other_org.admin.h)
    await client.delete(f"{CF}/{feats['id']}", headers=org.admin.h)
    assert await index_names(db) == set()


async def test_a_failed_concurrent_index_build_is_logged_and_leaves_no_invalid_index(
        client: httpx.AsyncClient, db: Database, org: Org, caplog: pytest.LogCaptureFixture) -> None:
    if db.backend != "postgresql":
        pytest.skip("concurrent index builds are PostgreSQL's")
    for i in range(2):
        await new_contact(client, org.admin, f"c{i}")
    ddl = "CREATE UNIQUE INDEX CONCURRENTLY ix_cf_doomed ON contacts (org_id)"  # two rows share the org: fails
    await sql.run_outside_transaction(db, ddl, index="ix_cf_doomed")
    async with db.engine.connect() as conn:  # not even an invalid one
        assert (await conn.execute(sa.text("SELECT 1 FROM pg_class WHERE relname = 'ix_cf_doomed'"))).first() is None
    assert any("custom field index statement failed" in rec.message for rec in caplog.records)
    # a valid index of that name (another org's build that won a race) is left alone
    kept = "CREATE INDEX CONCURRENTLY ix_cf_kept ON contacts (org_id)"
    await sql.run_outside_transaction(db, kept)
    await sql.run_outside_transaction(db, kept, index="ix_cf_kept")  # fails: it exists
    assert "ix_cf_kept" in await index_names(db)


def _capture(db: Database) -> list[tuple[str, Any]]:
    """The contact SELECTs the app sends from now on, whichever engine runs them (SQLite units of
    work may run on a synchronous engine of their own)."""
    seen: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM contacts" in statement:
            seen.append((statement, parameters))

    for engine in {db.engine.sync_engine, getattr(db, "sync_engine", None) or db.engine.sync_engine}:
        sa.event.listen(engine, "before_cursor_execute", grab)
    return seen


async def _plan(db: Database, statement: str, parameters: Any) -> str:
    async with db.engine.connect() as conn:
        if db.backend == "postgresql":
            await conn.exec_driver_sql("SET enable_seqscan = off")  # tiny tables: ask which index it would use
            rows = await conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        else:
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return "\n".join(" ".join(str(c) for c in r) for r in rows)


@pytest.mark.parametrize("params", [
    pytest.param({"plan": "pro"}, id="filter"),
    pytest.param({"sort": "-plan", "limit": 2}, id="sort"),
])
async def test_custom_filters_and_sorts_use_the_fields_index(client: httpx.AsyncClient, db: Database, org: Org,
                                                             params: dict[str, Any]) -> None:
    await define(client, org.admin, name="plan", type="select", options=["free", "pro"])
    for i in range(6):
        await new_contact(client, org.admin, f"c{i}", plan="pro" if i % 2 else "free")
    seen = _capture(db)
    r = await client.get(f"{A}/contacts", params=params, headers=org.admin.h)
    assert r.status_code == 200, r.text
    assert seen, "no contact query was captured"
    plan = await _plan(db, *seen[0])
    assert sql.index_name("contacts", "plan", FieldType.SELECT) in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan.split("\n")[0], plan  # rows come in index order


async def test_the_openapi_documents_custom_fields(client: httpx.AsyncClient) -> None:
    spec = (await client.get(f"{A}/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    for model in ("ContactCreate", "ContactPatch", "CompanyCreate", "CompanyPatch", "ContactOut", "CompanyOut"):
        assert "custom fields" in str(schemas[model]["properties"]["custom_fields"]), model
    listing = spec["paths"]["/api/v1/contacts"]["get"]["description"]
    assert "Custom fields" in listing and "sort=-plan" in listing
    assert {"post", "get"} <= set(spec["paths"]["/api/v1/custom-fields"])
    assert {"get", "patch", "delete"} <= set(spec["paths"]["/api/v1/custom-fields/{field_id}"])
    assert set(schemas["FieldType"]["enum"]) == {t.value for t in FieldType}
