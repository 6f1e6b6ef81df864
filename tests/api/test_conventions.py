"""HTTP conventions (DESIGN §6): ETag / If-Match, Idempotency-Key, keyset pagination, limits, problem
responses, and the system routes (/healthz, /metrics, OpenAPI, docs)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kith.core import clock
from kith.core.db import Database
from tests.conftest import Org, count_rows, problem

CONTACTS = "/api/v1/contacts"


async def new_contact(client: httpx.AsyncClient, who: Any, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Pat")
    r = await client.post(CONTACTS, json=body, headers=who.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


# --- ETag / If-Match -----------------------------------------------------------------------------

async def test_etag_carries_the_version_on_get_post_and_patch(client: httpx.AsyncClient, org: Org) -> None:
    r = await client.post(CONTACTS, json={"name": "E"}, headers=org.admin.h)
    assert r.headers["etag"] == '"v1"'
    cid = r.json()["id"]
    assert (await client.get(f"{CONTACTS}/{cid}", headers=org.admin.h)).headers["etag"] == '"v1"'
    r = await client.patch(f"{CONTACTS}/{cid}", json={"name": "F"}, headers=org.admin.h)
    assert r.headers["etag"] == '"v2"' and r.json()["version"] == 2
    assert (await client.get(f"{CONTACTS}/{cid}", headers=org.admin.h)).headers["etag"] == '"v2"'
    r = await client.post("/api/v1/companies", json={"name": "Co"}, headers=org.admin.h)
    assert r.headers["etag"] == '"v1"'


async def test_if_match_with_the_current_etag_succeeds(client: httpx.AsyncClient, org: Org) -> None:
    c = await new_contact(client, org.admin)
    tag = (await client.get(f"{CONTACTS}/{c['id']}", headers=org.admin.h)).headers["etag"]
    r = await client.patch(f"{CONTACTS}/{c['id']}", json={"title": "CEO"}, headers={**org.admin.h, "If-Match": tag})
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"v2"'
    r = await client.patch(f"{CONTACTS}/{c['id']}", json={"title": "CTO"},
                           headers={**org.admin.h, "If-Match": r.headers["etag"]})
    assert r.status_code == 200 and r.json()["title"] == "CTO"


async def test_a_stale_if_match_is_refused_with_412_and_changes_nothing(client: httpx.AsyncClient, db: Database,
                                                                        org: Org) -> None:
    c = await new_contact(client, org.admin, title="Original")
    stale = (await client.get(f"{CONTACTS}/{c['id']}", headers=org.admin.h)).headers["etag"]
    await client.patch(f"{CONTACTS}/{c['id']}", json={"title": "Someone else's"}, headers=org.admin.h)
    before = await count_rows(db)
    body = problem(await client.patch(f"{CONTACTS}/{c['id']}", json={"title": "Mine"},
                                      headers={**org.admin.h, "If-Match": stale}), 412)
    assert body["current_version"] == 2
    problem(await client.delete(f"{CONTACTS}/{c['id']}", headers={**org.admin.h, "If-Match": stale}), 412)
    assert await count_rows(db) == before
    got = await client.get(f"{CONTACTS}/{c['id']}", headers=org.admin.h)
    assert got.json()["title"] == "Someone else's" and got.headers["etag"] == '"v2"'


async def test_if_match_on_delete_with_the_current_etag_deletes(client: httpx.AsyncClient, org: Org) -> None:
    c = await new_contact(client, org.admin)
    r = await client.delete(f"{CONTACTS}/{c['id']}", headers={**org.admin.h, "If-Match": '"v1"'})
    assert r.status_code == 204
    problem(await client.get(f"{CONTACTS}/{c['id']}", headers=org.admin.h), 404)


@pytest.mark.parametrize("header", ['"v1"', 'W/"v1"', "*"])
async def test_if_match_accepts_strong_weak_and_star(client: httpx.AsyncClient, org: Org, header: str) -> None:
    c = await new_contact(client, org.admin)
    r = await client.patch(f"{CONTACTS}/{c['id']}", json={"title": "X"}, headers={**org.admin.h, "If-Match": header})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("header", ["v1", '"1"', '"abc"', "garbage"])
async def test_a_malformed_if_match_is_a_bad_request(client: httpx.AsyncClient, org: Org, header: str) -> None:
    c = await new_contact(client, org.admin)
    problem(await client.patch(f"{CONTACTS}/{c['id']}", json={"title": "X"},
                               headers={**org.admin.h, "If-Match": header}), 400)
    assert (await client.get(f"{CONTACTS}/{c['id']}", headers=org.admin.h)).json()["version"] == 1


# --- Idempotency-Key -----------------------------------------------------------------------------

async def test_a_retried_post_with_the_same_idempotency_key_replays_the_first_response(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    h = {**org.admin.h, "Idempotency-Key": "create-alice-1"}
    first = await client.post(CONTACTS, json={"name": "Alice", "email": "alice@example.com"}, headers=h)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    rows = await count_rows(db, "contacts", "events")
    again = await client.post(CONTACTS, json={"name": "Alice", "email": "alice@example.com"}, headers=h)
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["content-type"].startswith("application/json")
    assert await count_rows(db, "contacts", "events") == rows == {"contacts": 1, "events": rows["events"]}
    listed = (await client.get(CONTACTS, headers=org.admin.h)).json()["data"]
    assert [c["id"] for c in listed] == [first.json()["id"]]


async def test_the_same_idempotency_key_with_another_body_is_refused(client: httpx.AsyncClient, db: Database,
                                                                     org: Org) -> None:
    h = {**org.admin.h, "Idempotency-Key": "k-1"}
    assert (await client.post(CONTACTS, json={"name": "Alice"}, headers=h)).status_code == 201
    before = await count_rows(db, "contacts")
    body = problem(await client.post(CONTACTS, json={"name": "Bob"}, headers=h), 422)
    assert body["errors"][0]["field"] == "Idempotency-Key"
    problem(await client.post("/api/v1/companies", json={"name": "Alice"}, headers=h), 422)  # another path
    assert await count_rows(db, "contacts") == before


async def test_idempotency_keys_are_scoped_per_user(client: httpx.AsyncClient, org: Org, other_org: Org) -> None:
    body = {"name": "Shared key"}
    ids = set()
    for who in (org.admin, org.rep, other_org.admin):
        r = await client.post(CONTACTS, json=body, headers={**who.h, "Idempotency-Key": "same-key"})
        assert r.status_code == 201, r.text
        assert "idempotent-replayed" not in r.headers
        ids.add(r.json()["id"])
    assert len(ids) == 3
    listed = (await client.get(CONTACTS, headers=org.admin.h)).json()["data"]
    assert len(listed) == 2


async def test_without_an_idempotency_key_each_post_creates(client: httpx.AsyncClient, db: Database,
                                                            org: Org) -> None:
    for _ in range(2):
        assert (await client.post(CONTACTS, json={"name": "Twice"}, headers=org.admin.h)).status_code == 201
    assert (await count_rows(db, "contacts"))["contacts"] == 2


async def test_an_idempotent_link_replays_201_not_200(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await new_contact(client, org.admin)
    co = (await client.post("/api/v1/companies", json={"name": "Co"}, headers=org.admin.h)).json()
    h = {**org.admin.h, "Idempotency-Key": "link-1"}
    first = await client.post(f"{CONTACTS}/{c['id']}/companies", json={"company_id": co["id"]}, headers=h)
    assert first.status_code == 201
    events_before = await count_rows(db, "events")
    again = await client.post(f"{CONTACTS}/{c['id']}/companies", json={"company_id": co["id"]}, headers=h)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await count_rows(db, "events") == events_before


async def test_a_refused_post_is_replayed_as_refused(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    await new_contact(client, org.admin, email="taken@example.com")
    h = {**org.admin.h, "Idempotency-Key": "dup-1"}
    first = problem(await client.post(CONTACTS, json={"name": "D", "email": "taken@example.com"}, headers=h), 409)
    again = await client.post(CONTACTS, json={"name": "D", "email": "taken@example.com"}, headers=h)
    assert problem(again, 409) == first
    assert again.headers["idempotent-replayed"] == "true"
    assert (await count_rows(db, "contacts"))["contacts"] == 1


async def test_an_over_long_idempotency_key_is_refused(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    problem(await client.post(CONTACTS, json={"name": "X"}, headers={**org.admin.h, "Idempotency-Key": "k" * 256}),
            422)
    assert (await count_rows(db, "contacts"))["contacts"] == 0


# --- keyset pagination ---------------------------------------------------------------------------

NAMES = ["Ada", "Bob", "Cy", "Ada", "Dee"]
SCORES = [10, 50, 50, 90]


async def seed_contacts(client: httpx.AsyncClient, who: Any, n: int) -> list[dict[str, Any]]:
    """``n`` contacts with many ties: names repeat, scores repeat, and groups of three share one
    creation instant; update times are interleaved differently from creation times."""
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    made = []
    for i in range(n):
        with clock.frozen(t0 + timedelta(seconds=i // 3)):
            made.append(await new_contact(client, who, name=NAMES[i % len(NAMES)], lead_score=SCORES[i % len(SCORES)],
                                          stage="qualified" if i % 2 else "lead"))
    for i, c in enumerate(made):
        if i % 4 == 0:
            with clock.frozen(t0 + timedelta(hours=1, seconds=(n - i) // 2)):
                r = await client.patch(f"{CONTACTS}/{c['id']}", json={"title": "touched"}, headers=who.h)
                made[i] = r.json()
    return made


def expected_order(rows: list[dict[str, Any]], sort: str) -> list[str]:
    field = sort.lstrip("-")

    def key(c: dict[str, Any]) -> tuple[Any, str]:
        v = c[field]
        return (datetime.fromisoformat(v.replace("Z", "+00:00")) if field.endswith("_at") else v), c["id"]

    return [c["id"] for c in sorted(rows, key=key, reverse=sort.startswith("-"))]


async def walk(client: httpx.AsyncClient, who: Any, limit: int, **params: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    for _ in range(100):
        q = {"limit": limit, **params} | ({"cursor": cursor} if cursor else {})
        r = await client.get(CONTACTS, params=q, headers=who.h)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append([c["id"] for c in body["data"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(body["data"]) == limit  # only the last page may be short
    raise AssertionError("pagination never ended")


SORTS = ["-created_at", "created_at", "name", "-name", "lead_score", "-lead_score", "updated_at", "-updated_at",
         "id", "-id"]


async def test_walking_every_page_visits_each_contact_once_in_order(client: httpx.AsyncClient, org: Org) -> None:
    rows = await seed_contacts(client, org.admin, 30)
    for sort in SORTS:
        pages = await walk(client, org.admin, 7, sort=sort)
        assert [len(p) for p in pages] == [7, 7, 7, 7, 2], sort
        flat = [cid for p in pages for cid in p]
        assert flat == expected_order(rows, sort), sort


async def test_pagination_combines_with_filters_and_search(client: httpx.AsyncClient, org: Org) -> None:
    rows = await seed_contacts(client, org.admin, 30)
    qualified = [c for c in rows if c["stage"] == "qualified"]
    for sort in ("name", "-lead_score", "-created_at"):
        pages = await walk(client, org.admin, 4, sort=sort, stage="qualified")
        assert [cid for p in pages for cid in p] == expected_order(qualified, sort)
    adas = [c for c in rows if c["name"] == "Ada"]
    pages = await walk(client, org.admin, 5, sort="-lead_score", q="ad")
    assert [cid for p in pages for cid in p] == expected_order(adas, "-lead_score")


async def test_next_cursor_is_null_on_a_full_last_page(client: httpx.AsyncClient, org: Org) -> None:
    await seed_contacts(client, org.admin, 14)
    pages = await walk(client, org.admin, 7, sort="name")
    assert [len(p) for p in pages] == [7, 7]
    r = await client.get(CONTACTS, params={"limit": 14}, headers=org.admin.h)
    assert len(r.json()["data"]) == 14 and r.json()["next_cursor"] is None


async def test_an_empty_list_has_no_cursor(client: httpx.AsyncClient, org: Org) -> None:
    r = await client.get(CONTACTS, headers=org.admin.h)
    assert r.status_code == 200 and r.json() == {"data": [], "next_cursor": None}


async def test_pages_stay_consistent_when_records_are_added_meanwhile(client: httpx.AsyncClient, org: Org) -> None:
    rows = await seed_contacts(client, org.admin, 10)
    first = (await client.get(CONTACTS, params={"limit": 5, "sort": "created_at"}, headers=org.admin.h)).json()
    with clock.frozen(datetime(2030, 1, 1, tzinfo=UTC)):
        late = await new_contact(client, org.admin, name="Late")
    second = (await client.get(CONTACTS, params={"limit": 50, "sort": "created_at", "cursor": first["next_cursor"]},
                               headers=org.admin.h)).json()
    got = [c["id"] for c in first["data"] + second["data"]]
    assert got == expected_order(rows, "created_at") + [late["id"]]


async def test_a_cursor_is_only_valid_for_its_own_sort(client: httpx.AsyncClient, org: Org) -> None:
    await seed_contacts(client, org.admin, 5)
    cursor = (await client.get(CONTACTS, params={"limit": 2, "sort": "name"}, headers=org.admin.h)).json()[
        "next_cursor"]
    assert cursor
    problem(await client.get(CONTACTS, params={"limit": 2, "sort": "-name", "cursor": cursor},
                             headers=org.admin.h), 400)


def _cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


@pytest.mark.parametrize("sort, cursor", [
    ("name", "not-a-cursor!!"),
    ("name", base64.urlsafe_b64encode(b"[1,2]").decode()),
    ("name", base64.urlsafe_b64encode(b"\xff\xfe\x00").decode()),
    ("name", _cursor("name", "Ada", 42)),
    ("name", _cursor("name", 5, "contact_x")),
    ("name", _cursor("name", None, "contact_x")),
    ("lead_score", _cursor("lead_score", "high", "contact_x")),
    ("lead_score", _cursor("lead_score", {"t": "2024-01-01T00:00:00+00:00"}, "contact_x")),
    ("-created_at", _cursor("-created_at", {"t": "2024-01-01T00:00:00"}, "contact_x")),
    ("-created_at", _cursor("-created_at", {"t": "yesterday"}, "contact_x")),
    ("-created_at", _cursor("-created_at", 5, "contact_x")),
    ("-created_at", _cursor("-created_at", "2024-01-01", "contact_x")),
    ("-created_at", _cursor("-created_at", {"d": "1.5"}, "contact_x")),
    ("lead_score", _cursor("lead_score", {"d": "lots"}, "contact_x")),
], ids=["not-base64-json", "two-items", "not-utf8", "id-not-a-string", "number-for-name", "null-for-name",
        "string-for-score", "date-for-score", "naive-date", "bad-date", "number-for-date", "plain-string-for-date",
        "decimal-for-date",
        "bad-decimal"])
async def test_a_tampered_cursor_is_a_bad_request(client: httpx.AsyncClient, org: Org, sort: str,
                                                  cursor: str) -> None:
    await new_contact(client, org.admin)
    problem(await client.get(CONTACTS, params={"sort": sort, "cursor": cursor}, headers=org.admin.h), 400)


async def test_an_over_long_cursor_is_refused(client: httpx.AsyncClient, org: Org) -> None:
    problem(await client.get(CONTACTS, params={"cursor": "A" * 2001}, headers=org.admin.h), 422)


async def test_limit_defaults_to_50_and_is_capped_at_500(client: httpx.AsyncClient, org: Org) -> None:
    for i in range(51):
        await new_contact(client, org.admin, name=f"C{i:02d}")
    r = await client.get(CONTACTS, headers=org.admin.h)
    assert len(r.json()["data"]) == 50 and r.json()["next_cursor"] is not None
    r = await client.get(CONTACTS, params={"limit": 500}, headers=org.admin.h)
    assert len(r.json()["data"]) == 51 and r.json()["next_cursor"] is None
    for bad in (0, -1, 501, "ten"):
        body = problem(await client.get(CONTACTS, params={"limit": bad}, headers=org.admin.h), 422)
        assert body["errors"][0]["field"] == "limit"


async def test_a_filter_given_twice_is_refused(client: httpx.AsyncClient, org: Org) -> None:
    body = problem(await client.get(CONTACTS, params=[("stage", "lead"), ("stage", "qualified")],
                                    headers=org.admin.h), 422)
    assert body["errors"][0]["field"] == "stage"


# --- problems ------------------------------------------------------------------------------------

async def test_errors_are_problem_json(client: httpx.AsyncClient, org: Org) -> None:
    problem(await client.get(CONTACTS), 401)
    problem(await client.get(CONTACTS, headers={"Authorization": "Bearer kith_nope"}), 401)
    problem(await client.get(f"{CONTACTS}/contact_missing", headers=org.admin.h), 404)
    problem(await client.get("/api/v1/no-such-thing", headers=org.admin.h), 404)
    problem(await client.post(CONTACTS, content=b"{not json", headers={**org.admin.h,
                                                                       "Content-Type": "application/json"}), 400)
    body = problem(await client.post(CONTACTS, json={"name": "X", "lead_score": "high"}, headers=org.admin.h), 422)
    assert body["errors"][0]["field"] == "lead_score"


async def test_a_body_over_the_limit_is_refused_with_413(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    r = await client.post(CONTACTS, json={"name": "Big", "notes": "x" * (70 * 1024)}, headers=org.admin.h)
    problem(r, 413)
    assert (await count_rows(db, "contacts"))["contacts"] == 0


# --- system routes -------------------------------------------------------------------------------

async def test_healthz_reports_the_database_backend(client: httpx.AsyncClient, db: Database) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["database"] == db.backend
    assert db.backend in {"sqlite", "postgresql"}


async def test_metrics_are_prometheus_text_counting_requests(client: httpx.AsyncClient, org: Org) -> None:
    await client.get(CONTACTS, headers=org.admin.h)
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert "# TYPE kith_http_requests_total counter" in text
    assert any(line.startswith("kith_http_requests_total{") and 'route="/api/v1/contacts"' in line
               and 'method="GET"' in line and 'status="200"' in line for line in text.splitlines())


async def test_openapi_lists_the_contact_routes_and_docs_serve_html(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    paths = spec["paths"]
    expected = {
        "/api/v1/contacts": {"get", "post"},
        "/api/v1/contacts/{record_id}": {"get", "patch", "delete"},
        "/api/v1/contacts/{record_id}/restore": {"post"},
        "/api/v1/contacts/{record_id}/timeline": {"get"},
        "/api/v1/contacts/{record_id}/companies": {"get", "post"},
        "/api/v1/contacts/{record_id}/companies/{company_id}": {"delete"},
        "/api/v1/companies": {"get", "post"},
        "/api/v1/companies/{record_id}/contacts": {"get"},
        "/api/v1/trash": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), path
    assert "Problem" in spec["components"]["schemas"]
    docs = await client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "/api/v1/openapi.json" in docs.text
