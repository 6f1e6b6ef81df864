"""Bad input gets a clear error and changes nothing (DESIGN §6).

Every write endpoint (org, users, API keys, contacts, companies, links, restore) is fed malformed,
mistyped, out-of-range, over-long and unknown input. Each refusal must be an RFC 9457 problem with
the right status, name the field at fault in ``errors[].field``, and leave every table's row count
and every record's GET (body and ETag, so version included) exactly as they were.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kith.config import Settings
from kith.core.db import Database
from kith.entrypoints.app import create_app
from tests.conftest import BACKENDS, Org, count_rows, make_org, problem, template_copy

A = "/api/v1"
LONG_ID = "contact_" + "x" * 33  # 41 characters: one over every id's limit
NUL = "\u0000"
LONE_SURROGATE = "\ud800"


# --- fixtures and helpers ----------------------------------------------------------------------

@dataclass
class World:
    """One of each record the write endpoints act on, made by the org's admin."""

    contact: str
    company: str
    user: str  # the rep
    key: str  # the rep's API key id

    def path(self, template: str) -> str:
        return A + template.format(contact=self.contact, company=self.company, user=self.user, key=self.key)


@dataclass
class Env:
    db: Database
    client: httpx.AsyncClient  # 64 KiB body limit
    big: httpx.AsyncClient  # 1 MiB body limit, for bodies that pass 64 KiB but break a field's own limit
    org: Org
    w: World

    @property
    def h(self) -> dict[str, str]:
        return self.org.admin.h


async def build_world(client: httpx.AsyncClient, org: Org) -> World:
    c = await client.post(f"{A}/contacts", headers=org.admin.h, json={
        "name": "Ada Lovelace", "email": "ada@acme.test", "tags": ["vip"], "metadata": {"plan": "pro"}})
    assert c.status_code == 201, c.text
    co = await client.post(f"{A}/companies", headers=org.admin.h, json={
        "name": "Acme Ltd", "domain": "acme.test", "stage": "lead", "deal_value": "100.00"})
    assert co.status_code == 201, co.text
    link = await client.post(f"{A}/contacts/{c.json()['id']}/companies", headers=org.admin.h,
                             json={"company_id": co.json()["id"]})
    assert link.status_code == 201, link.text
    return World(c.json()["id"], co.json()["id"], org.rep.user_id, org.rep.key_id)


def _client(settings: Settings, db: Database) -> httpx.AsyncClient:
    app = create_app(settings, db=db)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kith.test")


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Module scope, so the module-scoped ``shared`` fixture and the tests share one event loop."""
    return "asyncio"


@pytest.fixture(scope="module", params=BACKENDS)
async def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[Env]:
    """One database, org and world per backend for the tests that must change nothing.

    Every such test asserts that all row counts and every record's GET are the same after its request
    as before, so sharing the setup is safe, and it saves a fresh org per case (over a thousand cases).
    """
    with template_copy(request, request.param, tmp_path_factory.mktemp("shared")) as url:
        async for env in _shared_env(url):
            yield env


async def _shared_env(url: str) -> AsyncIterator[Env]:
    db = Database(url)
    cfg = Settings(database_url=url, max_body_bytes=64 * 1024)
    try:
        async with _client(cfg, db) as client, _client(dataclasses.replace(cfg, max_body_bytes=1 << 20), db) as big:
            org = await make_org(db, "Acme")
            yield Env(db, client, big, org, await build_world(client, org))
    finally:
        await db.dispose()


@pytest.fixture
async def big_client(db: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(dataclasses.replace(settings, max_body_bytes=1 << 20), db) as c:
        yield c


@pytest.fixture
async def fresh(db: Database, client: httpx.AsyncClient, big_client: httpx.AsyncClient, org: Org) -> Env:
    """A database of its own, for tests that write."""
    return Env(db, client, big_client, org, await build_world(client, org))


async def snapshot(e: Env) -> dict[str, Any]:
    """What the admin reads of every record a write could touch: bodies and ETags."""
    paths = ["/org", "/users", "/users/{user}", "/users/{user}/api-keys", "/contacts/{contact}?include=companies",
             "/companies/{company}?include=contacts", "/contacts", "/companies", "/trash"]
    out: dict[str, Any] = {}
    for p in paths:
        r = await e.client.get(e.w.path(p), headers=e.h)
        assert r.status_code == 200, (p, r.text)
        out[p] = (r.headers.get("etag"), r.json())
    return out


def fields_of(body: dict[str, Any]) -> list[str]:
    errors = body.get("errors")
    assert isinstance(errors, list) and errors, f"no errors[] in {body}"
    for e in errors:
        assert isinstance(e.get("field"), str) and e["field"] and isinstance(e.get("message"), str), e
    return [e["field"] for e in errors]


def names_field(body: dict[str, Any], field: str) -> None:
    """``errors[].field`` names ``field`` (or a part of it, such as ``tags.3``)."""
    got = fields_of(body)
    assert any(f == field or f.startswith(field + ".") for f in got), (field, got, body)


async def send(client: httpx.AsyncClient, method: str, url: str, body: Any, headers: dict[str, str]
               ) -> httpx.Response:
    if isinstance(body, bytes):
        return await client.request(method, url, content=body,
                                    headers={"Content-Type": "application/json", **headers})
    if body is None:
        return await client.request(method, url, headers=headers)
    # json.dumps escapes non-ASCII, so lone surrogates and NUL reach the server as JSON escapes
    return await client.request(method, url, content=json.dumps(body).encode(),
                                headers={"Content-Type": "application/json", **headers})


async def unchanged_after(e: Env, request: Any) -> httpx.Response:
    """Run ``request()`` and assert that every table's row count and every record's GET are unchanged."""
    rows = await count_rows(e.db)
    seen = await snapshot(e)
    resp: httpx.Response = await request()
    assert resp.status_code < 500, (resp.status_code, resp.text)
    assert await count_rows(e.db) == rows
    assert await snapshot(e) == seen
    return resp


async def refused(e: Env, method: str, template: str, body: Any, status: int, field: str | None, *,
                  headers: dict[str, str] | None = None, big: bool = False) -> dict[str, Any]:
    """Send the request, assert the problem and its field, and assert that nothing changed."""
    via = e.big if big else e.client
    resp = await unchanged_after(e, lambda: send(via, method, e.w.path(template), body, {**e.h, **(headers or {})}))
    p = problem(resp, status)
    if field is not None:
        names_field(p, field)
    return p


# --- the body's shape: every endpoint that takes one --------------------------------------------

BODY_ENDPOINTS = [
    pytest.param("PATCH", "/org", id="patch-org"),
    pytest.param("POST", "/users", id="create-user"),
    pytest.param("PATCH", "/users/{user}", id="patch-user"),
    pytest.param("POST", "/users/{user}/api-keys", id="create-key"),
    pytest.param("POST", "/contacts", id="create-contact"),
    pytest.param("PATCH", "/contacts/{contact}", id="patch-contact"),
    pytest.param("POST", "/companies", id="create-company"),
    pytest.param("PATCH", "/companies/{company}", id="patch-company"),
    pytest.param("POST", "/contacts/{contact}/companies", id="link-company"),
]

SHAPES = [
    pytest.param(b'{"name": ', 400, id="truncated"),
    pytest.param(b"{'name': 'x'}", 400, id="single-quotes"),
    pytest.param(b'{"name": "x",}', 400, id="trailing-comma"),
    pytest.param(b'{"name": "x"} {"name": "y"}', 400, id="two-documents"),
    pytest.param(b"{name: 1}", 400, id="bare-key"),
    pytest.param(b'[{"name": "x"}]', 422, id="array"),
    pytest.param(b"[]", 422, id="empty-array"),
    pytest.param(b'"name"', 422, id="string"),
    pytest.param(b"42", 422, id="number"),
    pytest.param(b"true", 422, id="boolean"),
]


@pytest.mark.parametrize(("raw", "status"), SHAPES)
@pytest.mark.parametrize(("method", "template"), BODY_ENDPOINTS)
async def test_a_body_that_is_not_a_json_object_is_refused(shared: Env, method: str, template: str, raw: bytes,
                                                           status: int) -> None:
    await refused(shared, method, template, raw, status, "body")


@pytest.mark.parametrize(("method", "template"), BODY_ENDPOINTS)
async def test_an_unknown_field_is_refused_by_every_endpoint(shared: Env, method: str, template: str) -> None:
    await refused(shared, method, template, {"name": "Valid Name", "bogus_field": 1}, 422, "bogus_field")


@pytest.mark.parametrize(("method", "template"), [p for p in BODY_ENDPOINTS if p.id != "create-key"])
async def test_null_instead_of_a_body_is_refused(shared: Env, method: str, template: str) -> None:
    await refused(shared, method, template, b"null", 422, "body")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_that_is_not_json_by_content_type_creates_nothing(shared: Env, content_type: str) -> None:
    r = await unchanged_after(shared, lambda: shared.client.post(
        f"{A}/contacts", content=b'{"name": "Sneaky"}', headers={**shared.h, "Content-Type": content_type}))
    body = problem(r, r.status_code)
    assert r.status_code in {415, 422}, r.text
    if r.status_code == 422:
        names_field(body, "body")


async def test_a_body_that_is_not_utf8_is_refused(shared: Env) -> None:
    await refused(shared, "POST", "/contacts", b'{"name": "\xff\xfe"}', 400, "body")


async def test_a_json_nested_too_deep_to_parse_is_refused(shared: Env) -> None:
    deep = b'{"name": "x", "metadata": {"a": ' + b"[" * 20000 + b"]" * 20000 + b"}}"
    await refused(shared, "POST", "/contacts", deep, 400, "body")


# --- field by field ----------------------------------------------------------------------------

def case(method: str, template: str, body: Any, status: int, field: str | None, id: str) -> Any:
    return pytest.param(method, template, body, status, field, id=id)


def contact(**extra: Any) -> dict[str, Any]:
    return {"name": "Valid Name", **extra}


def company(**extra: Any) -> dict[str, Any]:
    return {"name": "Valid Co", **extra}


def user(**extra: Any) -> dict[str, Any]:
    return {"email": "new.user@acme.test", "name": "New User", "roles": ["sales-rep"], **extra}


C, CP = "/contacts", "/contacts/{contact}"
K, KP = "/companies", "/companies/{company}"
U, UP = "/users", "/users/{user}"
LINK = "/contacts/{contact}/companies"

FIELD_CASES = [
    # contacts: types
    case("POST", C, contact(name=5), 422, "name", "contact-name-int"),
    case("POST", C, {"email": "x@y.test"}, 422, "name", "contact-name-missing"),
    case("POST", C, contact(name=None), 422, "name", "contact-name-null"),
    case("POST", C, contact(name=""), 422, "name", "contact-name-empty"),
    case("POST", C, contact(name="   "), 422, "name", "contact-name-blank"),
    case("POST", C, contact(name=["Ada"]), 422, "name", "contact-name-list"),
    case("POST", C, contact(tags="x"), 422, "tags", "contact-tags-string"),
    case("POST", C, contact(tags=[1]), 422, "tags", "contact-tag-int"),
    case("POST", C, contact(tags=[""]), 422, "tags", "contact-tag-empty"),
    case("POST", C, contact(tags=["a,b"]), 422, "tags", "contact-tag-comma"),
    case("POST", C, contact(tags={"vip": True}), 422, "tags", "contact-tags-object"),
    case("POST", C, contact(metadata=[1]), 422, "metadata", "contact-metadata-list"),
    case("POST", C, contact(metadata="x"), 422, "metadata", "contact-metadata-string"),
    case("POST", C, contact(lead_score="high"), 422, "lead_score", "contact-score-string"),
    case("POST", C, contact(lead_score=50.5), 422, "lead_score", "contact-score-fraction"),
    case("POST", C, contact(automation_enabled="yes"), 422, "automation_enabled", "contact-bool-string"),
    case("POST", C, contact(automation_enabled=2), 422, "automation_enabled", "contact-bool-int"),
    case("POST", C, contact(last_engagement_at="yesterday"), 422, "last_engagement_at", "contact-date-words"),
    case("POST", C, contact(last_engagement_at="2024-01-01T10:00:00"), 422, "last_engagement_at",
         "contact-date-naive"),
    # contacts: enums
    case("POST", C, contact(stage="bogus"), 422, "stage", "contact-stage-bogus"),
    case("POST", C, contact(stage="LEAD"), 422, "stage", "contact-stage-wrong-case"),
    case("POST", C, contact(status="deleted"), 422, "status", "contact-status-bogus"),
    case("POST", C, contact(role="ceo"), 422, "role", "contact-role-bogus"),
    case("POST", C, contact(preferred_channel="fax"), 422, "preferred_channel", "contact-channel-bogus"),
    # contacts: ranges and lengths
    case("POST", C, contact(lead_score=-1), 422, "lead_score", "contact-score-negative"),
    case("POST", C, contact(lead_score=101), 422, "lead_score", "contact-score-101"),
    case("POST", C, contact(lead_score=10**30), 422, "lead_score", "contact-score-huge"),
    case("POST", C, contact(name="n" * 201), 422, "name", "contact-name-201"),
    case("POST", C, contact(first_name="n" * 101), 422, "first_name", "contact-first-name-101"),
    case("POST", C, contact(title="t" * 201), 422, "title", "contact-title-201"),
    case("POST", C, contact(notes="n" * 100_001), 422, "notes", "contact-notes-100001"),
    case("POST", C, contact(tags=["t" * 65]), 422, "tags", "contact-tag-65"),
    case("POST", C, contact(tags=[f"t{i}" for i in range(101)]), 422, "tags", "contact-101-tags"),
    case("POST", C, contact(metadata={"blob": "x" * 70_000}), 422, "metadata", "contact-metadata-over-64k"),
    # contacts: formats
    case("POST", C, contact(email="not-an-email"), 422, "email", "contact-email-no-at"),
    case("POST", C, contact(email="a@b"), 422, "email", "contact-email-no-dot"),
    case("POST", C, contact(email="a b@acme.test"), 422, "email", "contact-email-space"),
    case("POST", C, contact(email="a@b@acme.test"), 422, "email", "contact-email-two-ats"),
    case("POST", C, contact(email="x" * 320 + "@acme.test"), 422, "email", "contact-email-long"),
    case("POST", C, contact(avatar="javascript:alert(1)"), 422, "avatar", "contact-url-javascript"),
    case("POST", C, contact(linkedin_url="ftp://example.com"), 422, "linkedin_url", "contact-url-ftp"),
    case("POST", C, contact(linkedin_url="https://"), 422, "linkedin_url", "contact-url-empty-host"),
    case("POST", C, contact(timezone="Mars/Olympus_Mons"), 422, "timezone", "contact-timezone-bogus"),
    case("POST", C, contact(timezone="../../etc/passwd"), 422, "timezone", "contact-timezone-path"),
    case("POST", C, contact(language="english!"), 422, "language", "contact-language-bogus"),
    case("POST", C, contact(phone="call me"), 422, "phone", "contact-phone-words"),
    case("POST", C, contact(twitter_handle="not a handle"), 422, "twitter_handle", "contact-twitter-bogus"),
    # contacts: references
    case("POST", C, contact(owner_id="user_nobody"), 422, "owner_id", "contact-owner-unknown"),
    case("POST", C, contact(owner_id="u" * 41), 422, "owner_id", "contact-owner-41"),
    case("POST", C, contact(manager_id="contact_nobody"), 422, "manager_id", "contact-manager-unknown"),
    case("POST", C, contact(id="contact_mine"), 422, "id", "contact-id-given"),
    case("POST", C, contact(org_id="org_other"), 422, "org_id", "contact-org-given"),
    case("POST", C, contact(version=7), 422, "version", "contact-version-given"),
    case("POST", C, contact(created_at="2020-01-01T00:00:00Z"), 422, "created_at", "contact-created-at-given"),
    case("POST", C, contact(email="ADA@acme.test"), 409, None, "contact-email-taken"),
    # contact PATCH: the same rules, plus nulls for NOT NULL fields
    case("PATCH", CP, {"name": None}, 422, "name", "patch-contact-name-null"),
    case("PATCH", CP, {"name": None, "notes": "must not be written"}, 422, "name", "patch-contact-null-and-valid"),
    case("PATCH", CP, {"stage": None}, 422, "stage", "patch-contact-stage-null"),
    case("PATCH", CP, {"status": None}, 422, "status", "patch-contact-status-null"),
    case("PATCH", CP, {"lead_score": None}, 422, "lead_score", "patch-contact-score-null"),
    case("PATCH", CP, {"tags": None}, 422, "tags", "patch-contact-tags-null"),
    case("PATCH", CP, {"metadata": None}, 422, "metadata", "patch-contact-metadata-null"),
    case("PATCH", CP, {"automation_enabled": None}, 422, "automation_enabled", "patch-contact-bool-null"),
    case("PATCH", CP, {"name": 5}, 422, "name", "patch-contact-name-int"),
    case("PATCH", CP, {"tags": "x"}, 422, "tags", "patch-contact-tags-string"),
    case("PATCH", CP, {"metadata": [1]}, 422, "metadata", "patch-contact-metadata-list"),
    case("PATCH", CP, {"lead_score": "high"}, 422, "lead_score", "patch-contact-score-string"),
    case("PATCH", CP, {"lead_score": 101}, 422, "lead_score", "patch-contact-score-101"),
    case("PATCH", CP, {"lead_score": -1, "name": "ok"}, 422, "lead_score", "patch-contact-score-negative"),
    case("PATCH", CP, {"stage": "bogus"}, 422, "stage", "patch-contact-stage-bogus"),
    case("PATCH", CP, {"stage": "customer"}, 409, None, "patch-contact-stage-illegal-transition"),
    case("PATCH", CP, {"email": "nope"}, 422, "email", "patch-contact-email"),
    case("PATCH", CP, {"name": "n" * 201}, 422, "name", "patch-contact-name-201"),
    case("PATCH", CP, {"tags": ["t" * 65]}, 422, "tags", "patch-contact-tag-65"),
    case("PATCH", CP, {"manager_id": "{contact}"}, 422, "manager_id", "patch-contact-own-manager"),
    case("PATCH", CP, {"owner_id": "user_nobody"}, 422, "owner_id", "patch-contact-owner-unknown"),
    case("PATCH", CP, {"metadata": {"blob": "x" * 70_000}}, 422, "metadata", "patch-contact-metadata-over-64k"),
    case("PATCH", CP, {"id": "contact_other"}, 422, "id", "patch-contact-id"),
    case("PATCH", CP, {"version": 99}, 422, "version", "patch-contact-version"),
    # companies
    case("POST", K, company(name=5), 422, "name", "company-name-int"),
    case("POST", K, {"domain": "acme2.test"}, 422, "name", "company-name-missing"),
    case("POST", K, company(name="n" * 201), 422, "name", "company-name-201"),
    case("POST", K, company(stage="Unicorn"), 422, "stage", "company-stage-not-the-orgs"),
    case("POST", K, company(stage=""), 422, "stage", "company-stage-empty"),
    case("POST", K, company(stage=3), 422, "stage", "company-stage-int"),
    case("POST", K, company(deal_value=-5), 422, "deal_value", "company-deal-negative"),
    case("POST", K, company(deal_value=1e20), 422, "deal_value", "company-deal-1e20"),
    case("POST", K, company(deal_value="1.234"), 422, "deal_value", "company-deal-3-decimals"),
    case("POST", K, company(deal_value=1.005), 422, "deal_value", "company-deal-float-3-decimals"),
    case("POST", K, company(deal_value=10**30), 422, "deal_value", "company-deal-huge-int"),
    case("POST", K, company(deal_value="NaN"), 422, "deal_value", "company-deal-nan"),
    case("POST", K, company(deal_value="Infinity"), 422, "deal_value", "company-deal-infinity"),
    case("POST", K, company(deal_value="lots"), 422, "deal_value", "company-deal-words"),
    case("POST", K, company(deal_value=[1]), 422, "deal_value", "company-deal-list"),
    case("POST", K, company(annual_revenue="-0.01"), 422, "annual_revenue", "company-revenue-negative"),
    case("POST", K, company(employee_count=-1), 422, "employee_count", "company-employees-negative"),
    case("POST", K, company(employee_count=10**30), 422, "employee_count", "company-employees-huge"),
    case("POST", K, company(employee_count=2.5), 422, "employee_count", "company-employees-fraction"),
    case("POST", K, company(employee_count="many"), 422, "employee_count", "company-employees-words"),
    case("POST", K, company(domain="not a domain"), 422, "domain", "company-domain-spaces"),
    case("POST", K, company(domain="localhost"), 422, "domain", "company-domain-one-label"),
    case("POST", K, company(website="javascript:alert(1)"), 422, "website", "company-website-javascript"),
    case("POST", K, company(country="USA"), 422, "country", "company-country-3-letters"),
    case("POST", K, company(tags="x"), 422, "tags", "company-tags-string"),
    case("POST", K, company(tags=[f"t{i}" for i in range(101)]), 422, "tags", "company-101-tags"),
    case("POST", K, company(metadata=[1]), 422, "metadata", "company-metadata-list"),
    case("POST", K, company(description="d" * 100_001), 422, "description", "company-description-100001"),
    case("POST", K, company(is_placeholder=True), 422, "is_placeholder", "company-placeholder-given"),
    case("POST", K, company(domain="ACME.test"), 409, None, "company-domain-taken"),
    case("PATCH", KP, {"name": None}, 422, "name", "patch-company-name-null"),
    case("PATCH", KP, {"tags": None}, 422, "tags", "patch-company-tags-null"),
    case("PATCH", KP, {"metadata": None}, 422, "metadata", "patch-company-metadata-null"),
    case("PATCH", KP, {"stage": "Unicorn"}, 422, "stage", "patch-company-stage-not-the-orgs"),
    case("PATCH", KP, {"stage": "Unicorn", "notes": "must not be written"}, 422, "stage",
         "patch-company-stage-and-valid"),
    case("PATCH", KP, {"deal_value": -5}, 422, "deal_value", "patch-company-deal-negative"),
    case("PATCH", KP, {"deal_value": "0.001"}, 422, "deal_value", "patch-company-deal-3-decimals"),
    case("PATCH", KP, {"deal_value": 1e20}, 422, "deal_value", "patch-company-deal-1e20"),
    case("PATCH", KP, {"employee_count": -1}, 422, "employee_count", "patch-company-employees-negative"),
    case("PATCH", KP, {"owner_id": "user_nobody"}, 422, "owner_id", "patch-company-owner-unknown"),
    case("PATCH", KP, {"is_placeholder": True}, 422, "is_placeholder", "patch-company-placeholder"),
    # links
    case("POST", LINK, {}, 422, "company_id", "link-company-id-missing"),
    case("POST", LINK, {"company_id": 5}, 422, "company_id", "link-company-id-int"),
    case("POST", LINK, {"company_id": "c" * 41}, 422, "company_id", "link-company-id-41"),
    case("POST", LINK, {"company_id": "{company}", "is_primary": "yes"}, 422, "is_primary", "link-primary-yes"),
    case("POST", LINK, {"company_id": "{company}", "is_primary": 1}, 422, "is_primary", "link-primary-int"),
    case("POST", LINK, {"company_id": "{company}", "role": "r" * 101}, 422, "role", "link-role-101"),
    case("POST", LINK, {"company_id": "{company}", "title": "t" * 201}, 422, "title", "link-title-201"),
    case("POST", LINK, {"company_id": "company_nobody"}, 404, None, "link-company-unknown"),
    case("POST", "/contacts/contact_nobody/companies", {"company_id": "{company}"}, 404, None,
         "link-contact-unknown"),
    # users
    case("POST", U, user(email="not-an-email"), 422, "email", "user-email-bogus"),
    case("POST", U, user(email=None), 422, "email", "user-email-null"),
    case("POST", U, {"name": "No Email", "roles": ["viewer"]}, 422, "email", "user-email-missing"),
    case("POST", U, user(name=5), 422, "name", "user-name-int"),
    case("POST", U, user(name="n" * 201), 422, "name", "user-name-201"),
    case("POST", U, user(roles=[]), 422, "roles", "user-roles-empty"),
    case("POST", U, user(roles=["god"]), 422, "roles", "user-role-bogus"),
    case("POST", U, user(roles="crm-admin"), 422, "roles", "user-roles-string"),
    case("POST", U, user(roles=["viewer"] * 7), 422, "roles", "user-roles-7"),
    case("POST", U, user(password="short"), 422, "password", "user-password-short"),
    case("POST", U, user(password="p" * 201), 422, "password", "user-password-201"),
    case("POST", U, user(password=12345678), 422, "password", "user-password-int"),
    case("POST", U, user(manager_id="user_nobody"), 422, "manager_id", "user-manager-unknown"),
    case("POST", U, user(timezone="Mars/Base"), 422, "timezone", "user-timezone-bogus"),
    case("POST", U, user(is_active=False), 422, "is_active", "user-is-active-given"),
    case("POST", U, user(password_hash="$argon2id$fake"), 422, "password_hash", "user-password-hash-given"),
    case("POST", U, user(email="ADMIN@acme.test"), 409, None, "user-email-taken"),
    case("PATCH", UP, {"name": None}, 422, "name", "patch-user-name-null"),
    case("PATCH", UP, {"roles": None}, 422, "roles", "patch-user-roles-null"),
    case("PATCH", UP, {"is_active": None}, 422, "is_active", "patch-user-active-null"),
    case("PATCH", UP, {"is_active": "no"}, 422, "is_active", "patch-user-active-string"),
    case("PATCH", UP, {"roles": ["god"]}, 422, "roles", "patch-user-role-bogus"),
    case("PATCH", UP, {"roles": []}, 422, "roles", "patch-user-roles-empty"),
    case("PATCH", UP, {"manager_id": "{user}"}, 422, "manager_id", "patch-user-own-manager"),
    case("PATCH", UP, {"manager_id": "user_nobody"}, 422, "manager_id", "patch-user-manager-unknown"),
    case("PATCH", UP, {"password": "short"}, 422, "password", "patch-user-password-short"),
    case("PATCH", UP, {"timezone": "Nowhere/Land"}, 422, "timezone", "patch-user-timezone"),
    case("PATCH", UP, {"email": "new@acme.test"}, 422, "email", "patch-user-email-not-patchable"),
    case("PATCH", UP, {"name": "Renamed", "roles": ["god"]}, 422, "roles", "patch-user-valid-and-bad"),
    # API keys
    case("POST", "/users/{user}/api-keys", {"name": ""}, 422, "name", "key-name-empty"),
    case("POST", "/users/{user}/api-keys", {"name": 5}, 422, "name", "key-name-int"),
    case("POST", "/users/{user}/api-keys", {"name": "k" * 201}, 422, "name", "key-name-201"),
    case("POST", "/users/{user}/api-keys", {"name": "k", "key": "kith_mine"}, 422, "key", "key-secret-given"),
    case("POST", "/users/user_nobody/api-keys", {"name": "k"}, 404, None, "key-user-unknown"),
    # the org
    case("PATCH", "/org", {"name": None}, 422, "name", "org-name-null"),
    case("PATCH", "/org", {"name": ""}, 422, "name", "org-name-empty"),
    case("PATCH", "/org", {"name": 5}, 422, "name", "org-name-int"),
    case("PATCH", "/org", {"name": "n" * 201}, 422, "name", "org-name-201"),
    case("PATCH", "/org", {"settings": [1]}, 422, "settings", "org-settings-list"),
    case("PATCH", "/org", {"settings": {"timezone": "Mars/Base"}}, 422, "settings.timezone", "org-timezone"),
    case("PATCH", "/org", {"settings": {"timezone": None}}, 422, "settings.timezone", "org-timezone-null"),
    case("PATCH", "/org", {"settings": {"currency": "XYZ"}}, 422, "settings.currency", "org-currency"),
    case("PATCH", "/org", {"settings": {"currency": 840}}, 422, "settings.currency", "org-currency-int"),
    case("PATCH", "/org", {"settings": {"currency": None}}, 422, "settings.currency", "org-currency-null"),
    case("PATCH", "/org", {"settings": {"qualify_score_threshold": 101}}, 422, "settings.qualify_score_threshold",
         "org-threshold-101"),
    case("PATCH", "/org", {"settings": {"qualify_score_threshold": "high"}}, 422,
         "settings.qualify_score_threshold", "org-threshold-string"),
    case("PATCH", "/org", {"settings": {"qualify_score_threshold": None}}, 422,
         "settings.qualify_score_threshold", "org-threshold-null"),
    case("PATCH", "/org", {"settings": {"rot_period_days": 0}}, 422, "settings.rot_period_days", "org-rot-0"),
    case("PATCH", "/org", {"settings": {"high_value_threshold": {"amount": "-1", "currency": "USD"}}}, 422,
         "settings.high_value_threshold.amount", "org-high-value-negative"),
    case("PATCH", "/org", {"settings": {"high_value_threshold": {"amount": "1", "currency": "ABC"}}}, 422,
         "settings.high_value_threshold.currency", "org-high-value-currency"),
    case("PATCH", "/org", {"settings": {"high_value_threshold": {"amount": "1"}}}, 422,
         "settings.high_value_threshold.currency", "org-high-value-no-currency"),
    case("PATCH", "/org", {"settings": {"widget_origins": "https://acme.test"}}, 422, "settings.widget_origins",
         "org-origins-string"),
    case("PATCH", "/org", {"settings": {"bogus": 1}}, 422, "settings.bogus", "org-settings-unknown"),
    case("PATCH", "/org", {"name": "Renamed", "settings": {"currency": "XYZ"}}, 422, "settings.currency",
         "org-valid-and-bad"),
    case("PATCH", "/org", {"rotate_widget_key": "yes"}, 422, "rotate_widget_key", "org-rotate-string"),
    case("PATCH", "/org", {"widget_key": "pk_mine"}, 422, "widget_key", "org-widget-key-given"),
    case("PATCH", "/org", {"id": "org_other"}, 422, "id", "org-id-given"),
]


@pytest.mark.parametrize(("method", "template", "body", "status", "field"), FIELD_CASES)
async def test_a_bad_field_is_named_and_nothing_changes(shared: Env, method: str, template: str,
                                                        body: dict[str, Any], status: int, field: str | None) -> None:
    w = shared.w
    filled = json.loads(json.dumps(body).replace("{contact}", w.contact).replace("{company}", w.company)
                        .replace("{user}", w.user))
    # Bodies over the 64 KiB test limit go to an app with a larger one, so the field's own limit answers.
    await refused(shared, method, template, filled, status, field, big=len(json.dumps(filled)) > 60_000)


async def test_the_field_limits_are_not_off_by_one(client: httpx.AsyncClient, big_client: httpx.AsyncClient,
                                                   org: Org) -> None:
    """The limits above refuse only what is over them: the largest valid values are stored."""
    r = await big_client.post(f"{A}/contacts", headers=org.admin.h, json={
        "name": "n" * 200, "notes": "x" * 100_000, "lead_score": 100, "tags": [f"{i:064d}" for i in range(100)]})
    assert r.status_code == 201, r.text
    assert len(r.json()["name"]) == 200 and len(r.json()["notes"]) == 100_000 and len(r.json()["tags"]) == 100
    r = await client.post(f"{A}/companies", headers=org.admin.h, json={
        "name": "Max Co", "deal_value": "10000000000000.00", "employee_count": 0, "stage": "CUSTOMER"})
    assert r.status_code == 201, r.text
    assert r.json()["deal_value"] == "10000000000000.00" and r.json()["stage"] == "Customer"
    r = await client.post(f"{A}/contacts", headers=org.admin.h, json={"name": "Zero", "lead_score": 0})
    assert r.status_code == 201, r.text


# --- JSON the database or the encoder cannot hold ------------------------------------------------

UNSTORABLE = [
    pytest.param({"n": 10**30}, id="int-over-64-bits"),
    pytest.param({"n": -(10**30)}, id="negative-int-over-64-bits"),
    pytest.param({"deep": json.loads("[" * 300 + "]" * 300)}, id="nested-300-deep"),
]


@pytest.mark.parametrize("metadata", UNSTORABLE)
@pytest.mark.parametrize(("method", "template"), [
    pytest.param("POST", "/contacts", id="create-contact"),
    pytest.param("PATCH", "/contacts/{contact}", id="patch-contact"),
    pytest.param("POST", "/companies", id="create-company"),
    pytest.param("PATCH", "/companies/{company}", id="patch-company"),
])
async def test_metadata_that_cannot_round_trip_is_refused_not_a_500(shared: Env, method: str, template: str,
                                                                    metadata: dict[str, Any]) -> None:
    body = {"metadata": metadata} | ({"name": "Meta"} if method == "POST" else {})
    await refused(shared, method, template, body, 422, "metadata")


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
@pytest.mark.parametrize(("method", "template"), [
    pytest.param("POST", "/contacts", id="create-contact"),
    pytest.param("PATCH", "/contacts/{contact}", id="patch-contact"),
    pytest.param("POST", "/companies", id="create-company"),
])
async def test_nan_and_infinity_in_metadata_are_refused(shared: Env, method: str, template: str,
                                                       literal: bytes) -> None:
    """Python's JSON parser accepts these non-JSON literals; they must not reach the database."""
    name = b'"name": "Nan", ' if method == "POST" else b""
    raw = b"{" + name + b'"metadata": {"x": ' + literal + b"}}"
    await refused(shared, method, template, raw, 422, "metadata")


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity"])
async def test_nan_for_a_number_field_is_refused(shared: Env, literal: bytes) -> None:
    await refused(shared, "POST", "/contacts", b'{"name": "x", "lead_score": ' + literal + b"}", 422, "lead_score")
    await refused(shared, "POST", "/companies", b'{"name": "x", "deal_value": ' + literal + b"}", 422, "deal_value")


# --- NUL bytes and lone surrogates: refused with 422 on both backends ----------------------------
# PostgreSQL cannot store U+0000 in text or jsonb, and a lone surrogate cannot be encoded as UTF-8
# by either driver; so the API refuses both everywhere (a clean 422), never a 500.

UNENCODABLE = [pytest.param(NUL, id="nul"), pytest.param(LONE_SURROGATE, id="lone-surrogate")]

TEXT_FIELDS = [
    pytest.param("POST", C, lambda s: contact(name=f"a{s}b"), "name", id="contact-name"),
    pytest.param("POST", C, lambda s: contact(notes=f"a{s}b"), "notes", id="contact-notes"),
    pytest.param("POST", C, lambda s: contact(tags=[f"a{s}b"]), "tags", id="contact-tag"),
    pytest.param("POST", C, lambda s: contact(metadata={"k": f"a{s}b"}), "metadata", id="contact-metadata-value"),
    pytest.param("POST", C, lambda s: contact(metadata={f"k{s}": 1}), "metadata", id="contact-metadata-key"),
    pytest.param("POST", C, lambda s: contact(metadata={"a": [{"b": s}]}), "metadata", id="contact-metadata-deep"),
    pytest.param("PATCH", CP, lambda s: {"name": f"a{s}b"}, "name", id="patch-contact-name"),
    pytest.param("PATCH", CP, lambda s: {"metadata": {"k": s}}, "metadata", id="patch-contact-metadata"),
    pytest.param("POST", K, lambda s: company(name=f"a{s}b"), "name", id="company-name"),
    pytest.param("POST", K, lambda s: company(external_id=f"a{s}b"), "external_id", id="company-external-id"),
    pytest.param("PATCH", KP, lambda s: {"notes": s}, "notes", id="patch-company-notes"),
    pytest.param("POST", LINK, lambda s: {"company_id": "{company}", "role": s}, "role", id="link-role"),
    pytest.param("POST", U, lambda s: user(name=f"a{s}b"), "name", id="user-name"),
    pytest.param("PATCH", UP, lambda s: {"name": f"a{s}b"}, "name", id="patch-user-name"),
    pytest.param("POST", "/users/{user}/api-keys", lambda s: {"name": s}, "name", id="key-name"),
    pytest.param("PATCH", "/org", lambda s: {"name": f"a{s}b"}, "name", id="org-name"),
    pytest.param("PATCH", "/org", lambda s: {"settings": {"widget_origins": [s]}}, "settings.widget_origins",
                 id="org-origins"),
]


@pytest.mark.parametrize("char", UNENCODABLE)
@pytest.mark.parametrize(("method", "template", "make", "field"), TEXT_FIELDS)
async def test_unencodable_text_is_refused_on_both_backends(shared: Env, method: str, template: str, make: Any,
                                                            field: str, char: str) -> None:
    body = json.loads(json.dumps(make(char)).replace("{company}", shared.w.company))
    await refused(shared, method, template, body, 422, field)


# --- injection strings are data --------------------------------------------------------------

INJECTIONS = [
    pytest.param("'; DROP TABLE contacts; --", id="sql"),
    pytest.param("Robert'); DELETE FROM users WHERE ('1'='1", id="sql-bobby"),
    pytest.param('" OR 1=1 --', id="sql-double-quote"),
    pytest.param("<script>alert(1)</script>", id="html"),
    pytest.param("%_\\", id="like-wildcards"),
    pytest.param("{{7*7}} ${7*7} #{7*7}", id="template"),
    pytest.param("Zoë Ångström 山田太郎 👩‍💻 \u202eRTL", id="unicode"),
    pytest.param("line\nbreak\ttab", id="control-whitespace"),
    pytest.param("$where: 1, {\"$gt\": \"\"}", id="nosql"),
]


@pytest.mark.parametrize("text", INJECTIONS)
async def test_injection_strings_are_stored_and_returned_as_data(client: httpx.AsyncClient, db: Database,
                                                                 org: Org, text: str) -> None:
    body = {"name": text, "notes": text, "source": text[:100], "title": text, "tags": [text.replace(",", ";")],
            "metadata": {text: text, "nested": [text]}}
    r = await client.post(f"{A}/contacts", json=body, headers=org.admin.h)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    got = (await client.get(f"{A}/contacts/{cid}", headers=org.admin.h)).json()
    for k, v in body.items():
        expected = v.strip() if isinstance(v, str) else v  # strings are trimmed, nothing else
        assert got[k] == expected, (k, got[k])
    # the same text as a filter and a search term matches it and nothing else
    for params in ({"source": body["source"].strip()}, {"q": text.strip()[:200]}):
        lst = await client.get(f"{A}/contacts", params=params, headers=org.admin.h)
        assert lst.status_code == 200, (params, lst.text)
        assert [c["id"] for c in lst.json()["data"]] == [cid], params
    tag = await client.get(f"{A}/contacts", params={"tag": body["tags"][0].strip()}, headers=org.admin.h)
    assert [c["id"] for c in tag.json()["data"]] == [cid]
    # and the tables are all still there
    rows = await count_rows(db, "contacts", "users", "orgs")
    assert rows["contacts"] == 1 and rows["users"] == 7 and rows["orgs"] == 1
    co = await client.post(f"{A}/companies", json={"name": text, "external_id": text, "industry": text[:100]},
                           headers=org.admin.h)
    assert co.status_code == 201, co.text
    assert co.json()["name"] == text.strip() and co.json()["external_id"] == text.strip()
    by_ext = await client.get(f"{A}/companies", params={"external_id": text.strip()}, headers=org.admin.h)
    assert [c["id"] for c in by_ext.json()["data"]] == [co.json()["id"]]


async def test_search_matches_like_wildcards_literally(client: httpx.AsyncClient, org: Org) -> None:
    names = ["100% Pure", "1000 Pure", "snake_case", "snakeXcase", "back\\slash", "backslash", "Plain"]
    made = {}
    for n in names:
        r = await client.post(f"{A}/contacts", json={"name": n}, headers=org.admin.h)
        assert r.status_code == 201, r.text
        made[n] = r.json()["id"]

    async def found(q: str) -> set[str]:
        r = await client.get(f"{A}/contacts", params={"q": q, "limit": 500}, headers=org.admin.h)
        assert r.status_code == 200, r.text
        return {c["name"] for c in r.json()["data"]}

    assert await found("%") == {"100% Pure"}
    assert await found("0%") == {"100% Pure"}
    assert await found("_") == {"snake_case"}
    assert await found("e_c") == {"snake_case"}
    assert await found("\\") == {"back\\slash"}
    assert await found("%_\\") == set()
    assert await found("pure") == {"100% Pure", "1000 Pure"}  # plain search still works, case-insensitively
    co = await client.post(f"{A}/companies", json={"name": "50%_off"}, headers=org.admin.h)
    assert co.status_code == 201
    await client.post(f"{A}/companies", json={"name": "50xxoff"}, headers=org.admin.h)
    r = await client.get(f"{A}/companies", params={"q": "%_"}, headers=org.admin.h)
    assert [c["name"] for c in r.json()["data"]] == ["50%_off"]


# --- bodies over the limit --------------------------------------------------------------------

LIMIT = 64 * 1024
OVERSIZE = json.dumps({"name": "Big", "notes": "x" * (LIMIT + 10)}).encode()


async def _chunks(data: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


@pytest.mark.parametrize("streamed", [pytest.param(False, id="content-length"), pytest.param(True, id="chunked")])
@pytest.mark.parametrize(("method", "template"), BODY_ENDPOINTS)
async def test_a_body_over_the_limit_is_413_and_writes_nothing(shared: Env, method: str, template: str,
                                                               streamed: bool) -> None:
    headers = {**shared.h, "Content-Type": "application/json"}
    content: Any = _chunks(OVERSIZE) if streamed else OVERSIZE
    r = await unchanged_after(shared, lambda: shared.client.request(method, shared.w.path(template),
                                                                    content=content, headers=headers))
    body = problem(r, 413)
    assert str(LIMIT) in body["detail"]
    assert ("content-length" in r.request.headers) is not streamed


@pytest.mark.parametrize("streamed", [pytest.param(False, id="content-length"), pytest.param(True, id="chunked")])
async def test_garbage_over_the_limit_is_413_before_parsing(shared: Env, streamed: bool) -> None:
    junk = b"\xff{[" * (LIMIT // 3 + 100)
    r = await unchanged_after(shared, lambda: shared.client.post(
        f"{A}/contacts", content=_chunks(junk) if streamed else junk,
        headers={**shared.h, "Content-Type": "application/json"}))
    problem(r, 413)


async def test_an_oversized_body_without_a_key_is_refused(shared: Env) -> None:
    r = await unchanged_after(shared, lambda: shared.client.post(
        f"{A}/contacts", content=OVERSIZE, headers={"Content-Type": "application/json"}))
    assert r.status_code in {401, 413}
    problem(r, r.status_code)


@pytest.mark.parametrize("streamed", [pytest.param(False, id="content-length"), pytest.param(True, id="chunked")])
async def test_a_body_just_under_the_limit_is_accepted(client: httpx.AsyncClient, org: Org, streamed: bool) -> None:
    body = json.dumps({"name": "Almost", "notes": "x" * (LIMIT - 100)}).encode()
    assert len(body) <= LIMIT
    r = await client.post(f"{A}/contacts", content=_chunks(body) if streamed else body,
                          headers={**org.admin.h, "Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    assert len(r.json()["notes"]) == LIMIT - 100


# --- list parameters -------------------------------------------------------------------------

def b64(raw: bytes | str) -> str:
    data = raw.encode() if isinstance(raw, str) else raw
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


LIST_CASES = [
    pytest.param({"limit": "0"}, 422, "limit", id="limit-0"),
    pytest.param({"limit": "-1"}, 422, "limit", id="limit-negative"),
    pytest.param({"limit": "501"}, 422, "limit", id="limit-501"),
    pytest.param({"limit": "abc"}, 422, "limit", id="limit-abc"),
    pytest.param({"limit": str(10**30)}, 422, "limit", id="limit-huge"),
    pytest.param({"limit": "1.5"}, 422, "limit", id="limit-fraction"),
    pytest.param({"limit": ""}, 422, "limit", id="limit-empty"),
    pytest.param({"sort": "bogus"}, 422, "sort", id="sort-unknown"),
    pytest.param({"sort": "-notes"}, 422, "sort", id="sort-not-sortable"),
    pytest.param({"sort": "org_id"}, 422, "sort", id="sort-org-id"),
    pytest.param({"sort": "-"}, 422, "sort", id="sort-dash"),
    pytest.param({"sort": "name; DROP TABLE contacts"}, 422, "sort", id="sort-injection"),
    pytest.param({"bogus": "1"}, 422, "bogus", id="filter-unknown"),
    pytest.param({"org_id": "org_other"}, 422, "org_id", id="filter-org-id"),
    pytest.param({"deleted_at": "2024-01-01T00:00:00Z"}, 422, "deleted_at", id="filter-deleted-at"),
    pytest.param({"notes": "x"}, 422, "notes", id="filter-not-filterable"),
    pytest.param({"created_after": "not-a-date"}, 422, "created_after", id="created-after-words"),
    pytest.param({"created_after": "2024-01-01T00:00:00"}, 422, "created_after", id="created-after-naive"),
    pytest.param({"created_before": "2024-13-45T00:00:00Z"}, 422, "created_before", id="created-before-bad-day"),
    pytest.param({"updated_after": ""}, 422, "updated_after", id="updated-after-empty"),
    pytest.param({"tag": "t" * 65}, 422, "tag", id="tag-65"),
    pytest.param({"tag": ""}, 422, "tag", id="tag-empty"),
    pytest.param({"q": ""}, 422, "q", id="q-empty"),
    pytest.param({"q": "q" * 201}, 422, "q", id="q-201"),
    pytest.param({"owner_id": "u" * 321}, 422, "owner_id", id="owner-long"),
    pytest.param({"cursor": "garbage!!"}, 400, "cursor", id="cursor-garbage"),
    pytest.param({"cursor": "%%%"}, 400, "cursor", id="cursor-percent"),
    pytest.param({"cursor": b64(b"\xff\xfe\x00junk")}, 400, "cursor", id="cursor-b64-binary"),
    pytest.param({"cursor": b64("not json")}, 400, "cursor", id="cursor-b64-text"),
    pytest.param({"cursor": b64('{"a": 1}')}, 400, "cursor", id="cursor-b64-object"),
    pytest.param({"cursor": b64("[1, 2, 3]")}, 400, "cursor", id="cursor-b64-numbers"),
    pytest.param({"cursor": b64("[]")}, 400, "cursor", id="cursor-b64-empty-list"),
    pytest.param({"cursor": b64('["-created_at", {"t": "nope"}, "x"]')}, 400, "cursor", id="cursor-bad-time"),
    pytest.param({"cursor": b64('["-created_at", {"t": "2024-01-01T00:00:00"}, "x"]')}, 400, "cursor",
                 id="cursor-naive-time"),
    pytest.param({"cursor": b64('["-created_at", {"t": "2024-01-01T00:00:00+00:00"}, 5]')}, 400, "cursor",
                 id="cursor-id-not-string"),
    pytest.param({"cursor": b64('["-created_at", 5, "x"]')}, 400, "cursor", id="cursor-time-is-int"),
    pytest.param({"cursor": b64('["-created_at", "2024-01-01", "x"]')}, 400, "cursor", id="cursor-time-is-str"),
    pytest.param({"cursor": b64('["-created_at", {"d": "1.5"}, "x"]')}, 400, "cursor", id="cursor-time-is-decimal"),
    pytest.param({"cursor": b64('["-created_at", {"d": "pi"}, "x"]')}, 400, "cursor", id="cursor-bad-decimal"),
    pytest.param({"sort": "name", "cursor": b64('["name", 10000000000000000000000000000000, "x"]')}, 400, "cursor",
                 id="cursor-name-is-huge-int"),
    pytest.param({"sort": "name", "cursor": b64('["name", {"t": "2024-01-01T00:00:00+00:00"}, "x"]')}, 400,
                 "cursor", id="cursor-name-is-time"),
    pytest.param({"sort": "name", "cursor": b64('["name", null, "x"]')}, 400, "cursor", id="cursor-name-is-null"),
    pytest.param({"sort": "id", "cursor": b64('["id", null, 7]')}, 400, "cursor", id="cursor-id-sort-int"),
    pytest.param({"cursor": "c" * 2001}, 422, "cursor", id="cursor-too-long"),
    pytest.param({"cursor": b64('["name", "Ada", "x"]')}, 400, "cursor", id="cursor-for-another-sort"),
]

CONTACT_LIST_CASES = [
    pytest.param({"stage": "bogus"}, 422, "stage", id="stage-bogus"),
    pytest.param({"stage": "LEAD"}, 422, "stage", id="stage-wrong-case"),
    pytest.param({"stage": ["lead", "qualified"]}, 422, "stage", id="stage-twice"),
    pytest.param({"status": "gone"}, 422, "status", id="status-bogus"),
    pytest.param({"role": "ceo"}, 422, "role", id="role-bogus"),
    pytest.param({"preferred_channel": "fax"}, 422, "preferred_channel", id="channel-bogus"),
    pytest.param({"automation_enabled": "maybe"}, 422, "automation_enabled", id="bool-filter-bogus"),
    pytest.param({"company_id": "c" * 41}, 422, "company_id", id="company-id-41"),
    pytest.param({"sort": "-lead_score", "cursor": b64('["-lead_score", "high", "x"]')}, 400, "cursor",
                 id="cursor-score-is-str"),
    pytest.param({"sort": "lead_score", "cursor": b64('["lead_score", 100000000000000000000000000000, "x"]')},
                 400, "cursor", id="cursor-score-huge"),
    pytest.param({"sort": "lead_score", "cursor": b64('["lead_score", true, "x"]')}, 400, "cursor",
                 id="cursor-score-is-bool"),
    pytest.param({"sort": "lead_score", "cursor": b64('["lead_score", 1.5, "x"]')}, 400, "cursor",
                 id="cursor-score-is-float"),
]

COMPANY_LIST_CASES = [
    pytest.param({"is_placeholder": "perhaps"}, 422, "is_placeholder", id="bool-filter-bogus"),
    pytest.param({"contact_id": "c" * 41}, 422, "contact_id", id="contact-id-41"),
]


async def _list_refused(e: Env, plural: str, params: dict[str, Any], status: int, field: str) -> None:
    r = await unchanged_after(e, lambda: e.client.get(f"{A}/{plural}", params=params, headers=e.h))
    names_field(problem(r, status), field)


@pytest.mark.parametrize(("params", "status", "field"), LIST_CASES)
@pytest.mark.parametrize("plural", ["contacts", "companies"])
async def test_bad_list_parameters_are_refused(shared: Env, plural: str, params: dict[str, Any], status: int,
                                               field: str) -> None:
    await _list_refused(shared, plural, params, status, field)


@pytest.mark.parametrize(("params", "status", "field"), CONTACT_LIST_CASES)
async def test_bad_contact_list_parameters_are_refused(shared: Env, params: dict[str, Any], status: int,
                                                       field: str) -> None:
    await _list_refused(shared, "contacts", params, status, field)


@pytest.mark.parametrize(("params", "status", "field"), COMPANY_LIST_CASES)
async def test_bad_company_list_parameters_are_refused(shared: Env, params: dict[str, Any], status: int,
                                                       field: str) -> None:
    await _list_refused(shared, "companies", params, status, field)


@pytest.mark.parametrize("plural", ["contacts", "companies"])
async def test_a_cursor_made_for_another_sort_is_refused(client: httpx.AsyncClient, org: Org, plural: str) -> None:
    for n in ("Alpha", "Beta", "Gamma"):
        assert (await client.post(f"{A}/{plural}", json={"name": n}, headers=org.admin.h)).status_code == 201
    first = await client.get(f"{A}/{plural}", params={"sort": "name", "limit": 1}, headers=org.admin.h)
    cursor = first.json()["next_cursor"]
    assert cursor
    ok = await client.get(f"{A}/{plural}", params={"sort": "name", "limit": 1, "cursor": cursor}, headers=org.admin.h)
    assert [c["name"] for c in ok.json()["data"]] == ["Beta"]  # the cursor itself is good
    for other in ("-name", "-created_at", "updated_at", "id"):
        r = await client.get(f"{A}/{plural}", params={"sort": other, "cursor": cursor}, headers=org.admin.h)
        names_field(problem(r, 400), "cursor")
    # a cursor tampered with (another last id, same sort) still pages without error: it is only a position
    made_for, value, _ = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    tampered = b64(json.dumps([made_for, value, "zzzz"]))
    r = await client.get(f"{A}/{plural}", params={"sort": "name", "cursor": tampered}, headers=org.admin.h)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("params", [
    pytest.param({"q": f"a{NUL}b"}, id="q"),
    pytest.param({"source": f"a{NUL}"}, id="source"),
    pytest.param({"email": NUL}, id="email"),
    pytest.param({"tag": f"v{NUL}"}, id="tag"),
    pytest.param({"owner_id": NUL}, id="owner-id"),
    pytest.param({"company_id": NUL}, id="company-id"),
    pytest.param({"sort": f"name{NUL}"}, id="sort"),
])
async def test_list_parameters_with_a_nul_byte_are_refused(shared: Env, params: dict[str, str]) -> None:
    await _list_refused(shared, "contacts", params, 422, next(iter(params)))


ID_ROUTES = [
    pytest.param("GET", "/contacts/{id}", id="get-contact"),
    pytest.param("PATCH", "/contacts/{id}", id="patch-contact"),
    pytest.param("DELETE", "/contacts/{id}", id="delete-contact"),
    pytest.param("POST", "/contacts/{id}/restore", id="restore-contact"),
    pytest.param("GET", "/contacts/{id}/timeline", id="contact-timeline"),
    pytest.param("GET", "/contacts/{id}/companies", id="contact-companies"),
    pytest.param("POST", "/contacts/{id}/companies", id="link-from"),
    pytest.param("DELETE", "/contacts/{id}/companies/{company}", id="unlink-from"),
    pytest.param("DELETE", "/contacts/{contact}/companies/{id}", id="unlink-to"),
    pytest.param("GET", "/companies/{id}", id="get-company"),
    pytest.param("PATCH", "/companies/{id}", id="patch-company"),
    pytest.param("DELETE", "/companies/{id}", id="delete-company"),
    pytest.param("POST", "/companies/{id}/restore", id="restore-company"),
    pytest.param("GET", "/companies/{id}/contacts", id="company-contacts"),
    pytest.param("GET", "/users/{id}", id="get-user"),
    pytest.param("PATCH", "/users/{id}", id="patch-user"),
    pytest.param("GET", "/users/{id}/api-keys", id="list-keys"),
    pytest.param("POST", "/users/{id}/api-keys", id="create-key"),
    pytest.param("DELETE", "/api-keys/{id}", id="revoke-key"),
]
# (bad id, the status it must get; None: 404 or 422), tried on every route above
EVERY_ROUTE_IDS = [pytest.param(LONG_ID, 422, id="41-chars"), pytest.param("contact_%00", None, id="nul")]
# tried on a few routes
SOME_ROUTE_IDS = [
    pytest.param("x" * 5000, 422, id="5000-chars"),
    pytest.param("contact_%F0%9F%9A%80", None, id="emoji"),
    pytest.param("%27%3B%20DROP%20TABLE%20contacts%3B--", None, id="sql"),
    pytest.param("..%2F..%2Fetc", None, id="dot-dot"),
    pytest.param("%ED%A0%80", None, id="invalid-utf8"),
]


def _id_cases() -> list[Any]:
    out = []
    for route in ID_ROUTES:
        for bad in EVERY_ROUTE_IDS + (SOME_ROUTE_IDS if route.id in {"get-contact", "patch-contact",
                                                                     "get-user", "revoke-key"} else []):
            out.append(pytest.param(*route.values, *bad.values, id=f"{route.id}-{bad.id}"))
    return out


@pytest.mark.parametrize(("method", "template", "bad_id", "status"), _id_cases())
async def test_a_bad_path_id_is_refused_not_a_500(shared: Env, method: str, template: str, bad_id: str,
                                                  status: int | None) -> None:
    w = shared.w
    url = A + template.replace("{id}", bad_id).format(contact=w.contact, company=w.company)
    body = {"name": "x"} if method == "PATCH" else (
        {"company_id": w.company} if url.endswith("companies") and method == "POST" else None)
    r = await unchanged_after(shared, lambda: send(shared.client, method, url, body, shared.h))
    if status is None:
        assert r.status_code in {404, 422}, (r.status_code, r.text)
        status = r.status_code
    p = problem(r, status)
    if status == 422:
        fields_of(p)


@pytest.mark.parametrize("plural", ["contacts", "companies"])
async def test_bad_include_and_timeline_parameters(shared: Env, plural: str) -> None:
    rid = shared.w.contact if plural == "contacts" else shared.w.company
    cases = [("", {"include": "password_hash"}, "include"), ("", {"include": "x" * 201}, "include"),
             ("/timeline", {"limit": "0"}, "limit"), ("/timeline", {"limit": "501"}, "limit"),
             ("/timeline", {"limit": "abc"}, "limit")]
    for suffix, params, field in cases:
        r = await shared.client.get(f"{A}/{plural}/{rid}{suffix}", params=params, headers=shared.h)
        names_field(problem(r, 422), field)
    r = await shared.client.get(f"{A}/{plural}/{rid}/timeline", params={"cursor": "garbage!!"}, headers=shared.h)
    assert r.status_code in {400, 422}
    names_field(problem(r, r.status_code), "cursor")


@pytest.mark.parametrize("template", [pytest.param("/contacts/{contact}", id="contact"),
                                      pytest.param("/companies/{company}", id="company")])
@pytest.mark.parametrize("value", ["maybe", "", "2"])
async def test_a_bad_permanent_flag_on_delete_is_refused(shared: Env, template: str, value: str) -> None:
    r = await unchanged_after(shared, lambda: shared.client.delete(shared.w.path(template),
                                                                   params={"permanent": value}, headers=shared.h))
    names_field(problem(r, 422), "permanent")


# --- If-Match ------------------------------------------------------------------------------

IF_MATCH_ROUTES = [
    pytest.param("PATCH", "/org", {"name": "Renamed"}, id="patch-org"),
    pytest.param("PATCH", "/users/{user}", {"name": "Renamed"}, id="patch-user"),
    pytest.param("PATCH", "/contacts/{contact}", {"name": "Renamed"}, id="patch-contact"),
    pytest.param("PATCH", "/companies/{company}", {"name": "Renamed"}, id="patch-company"),
    pytest.param("DELETE", "/contacts/{contact}", None, id="delete-contact"),
    pytest.param("DELETE", "/companies/{company}", None, id="delete-company"),
]


@pytest.mark.parametrize("value", [
    pytest.param("v1", id="unquoted"),
    pytest.param('"1"', id="no-v"),
    pytest.param('"vx"', id="not-a-number"),
    pytest.param('"v-1"', id="negative"),
    pytest.param('"v1", "v2"', id="list"),
    pytest.param('"v12345678901"', id="too-many-digits"),
    pytest.param("garbage", id="garbage"),
    pytest.param('"v1', id="unterminated"),
])
@pytest.mark.parametrize(("method", "template", "body"), IF_MATCH_ROUTES)
async def test_a_malformed_if_match_is_400(shared: Env, method: str, template: str, body: Any, value: str) -> None:
    p = await refused(shared, method, template, body, 400, "If-Match", headers={"If-Match": value})
    assert p["type"].endswith("bad-request")


@pytest.mark.parametrize("value", ['"v999"', '"v0"', 'W/"v42"'])
@pytest.mark.parametrize(("method", "template", "body"), IF_MATCH_ROUTES)
async def test_a_stale_if_match_is_412_and_changes_nothing(shared: Env, method: str, template: str, body: Any,
                                                           value: str) -> None:
    p = await refused(shared, method, template, body, 412, None, headers={"If-Match": value})
    assert p["type"].endswith("precondition-failed")


@pytest.mark.parametrize(("method", "template", "body"), IF_MATCH_ROUTES)
async def test_the_current_if_match_is_accepted(fresh: Env, method: str, template: str, body: Any) -> None:
    c, path = fresh.client, fresh.w.path(template)
    current = await c.get(path, headers=fresh.h)
    r = await send(c, method, path, body, {**fresh.h, "If-Match": current.headers["etag"]})
    assert r.status_code in {200, 204}, r.text
    if method == "PATCH":
        assert r.headers["etag"] != current.headers["etag"]
        # the old ETag is now stale
        again = await send(c, method, path, {"name": "Again"}, {**fresh.h, "If-Match": current.headers["etag"]})
        problem(again, 412)
        assert (await c.get(path, headers=fresh.h)).json()["name"] == "Renamed"


# --- restore and trash --------------------------------------------------------------------

@pytest.mark.parametrize("template", ["/contacts/{contact}/restore", "/companies/{company}/restore",
                                      "/contacts/contact_nobody/restore", "/companies/company_nobody/restore",
                                      "/companies/{contact}/restore", "/contacts/{company}/restore"])
async def test_restore_of_what_is_not_in_the_trash_is_404_and_changes_nothing(shared: Env, template: str) -> None:
    await refused(shared, "POST", template, None, 404, None)


async def test_a_restore_that_would_break_uniqueness_is_409_and_leaves_the_trash_as_it_was(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    first = (await client.post(f"{A}/contacts", json={"name": "Old", "email": "dup@acme.test"},
                               headers=org.admin.h)).json()
    assert (await client.delete(f"{A}/contacts/{first['id']}", headers=org.admin.h)).status_code == 204
    second = await client.post(f"{A}/contacts", json={"name": "New", "email": "dup@acme.test"}, headers=org.admin.h)
    assert second.status_code == 201
    rows = await count_rows(db)
    r = await client.post(f"{A}/contacts/{first['id']}/restore", headers=org.admin.h)
    problem(r, 409)
    assert await count_rows(db) == rows
    trash = await client.get(f"{A}/trash", headers=org.admin.h)
    assert first["id"] in [t["id"] for t in trash.json()["data"]]
    problem(await client.get(f"{A}/contacts/{first['id']}", headers=org.admin.h), 404)


async def test_a_trashed_record_refuses_writes_with_404(fresh: Env) -> None:
    c, w = fresh.client, fresh.w
    assert (await c.delete(w.path("/contacts/{contact}"), headers=fresh.h)).status_code == 204
    rows = await count_rows(fresh.db)
    problem(await c.delete(w.path("/contacts/{contact}"), headers=fresh.h), 404)
    problem(await c.patch(w.path("/contacts/{contact}"), json={"name": "Zombie"}, headers=fresh.h), 404)
    problem(await c.post(w.path("/contacts/{contact}/companies"), json={"company_id": w.company},
                         headers=fresh.h), 404)
    problem(await c.delete(w.path("/contacts/{contact}/companies/{company}"), headers=fresh.h), 404)
    assert await count_rows(fresh.db) == rows


# --- fuzz: random JSON objects never yield a 5xx ------------------------------------------------

CONTACT_FIELDS = ["name", "email", "stage", "status", "lead_score", "tags", "metadata", "notes", "owner_id",
                  "manager_id", "timezone", "language", "phone", "avatar", "last_engagement_at",
                  "automation_enabled", "preferred_channel", "role", "twitter_handle", "first_name"]
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
           | st.sampled_from(["lead", "qualified", "x@y.test", "UTC", "2024-01-01T00:00:00Z", "", "vip"]))
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
OBJECTS = st.dictionaries(st.sampled_from(CONTACT_FIELDS) | st.text(max_size=12), JSON_VALUES, max_size=8)


@pytest.mark.anyio
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=OBJECTS)
async def test_random_json_objects_never_yield_a_5xx(client: httpx.AsyncClient, db: Database, org: Org,
                                                     payload: dict[str, Any]) -> None:
    rows = await count_rows(db, "contacts", "events")
    r = await send(client, "POST", f"{A}/contacts", payload, org.admin.h)
    assert r.status_code < 500, (payload, r.status_code, r.text)
    after = await count_rows(db, "contacts", "events")
    if r.status_code == 201:
        assert after["contacts"] == rows["contacts"] + 1
        got = await client.get(f"{A}/contacts/{r.json()['id']}", headers=org.admin.h)
        assert got.status_code == 200 and got.json() == r.json()
    else:
        problem(r, r.status_code)
        assert after == rows
