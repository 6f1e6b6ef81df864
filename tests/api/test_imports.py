"""POST /api/v1/imports and friends: upload → queued job → the worker's step runs it; status,
error report, revert; bad input answers 422 and stores nothing; permissions; other orgs' ids."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
import pytest

from kith.core.db import Database
from kith.imports import service
from tests.conftest import Org

URL = "/api/v1/imports"


def csv_bytes(rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter).writerows(rows)
    return buf.getvalue().encode(encoding)


async def upload(client: httpx.AsyncClient, who: dict[str, str], content: bytes, *, filename: str = "people.csv",
                 **form: Any) -> httpx.Response:
    data = {"object": "contacts", **{k: (json.dumps(v) if isinstance(v, dict) else str(v).lower()
                                         if isinstance(v, bool) else v) for k, v in form.items()}}
    return await client.post(URL, headers=who, data=data, files={"file": (filename, content, "text/csv")})


async def run(client: httpx.AsyncClient, db: Database, who: dict[str, str], content: bytes, **form: Any
              ) -> dict[str, Any]:
    resp = await upload(client, who, content, **form)
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] == "queued"
    while await service.step(db):
        pass
    got = await client.get(f"{URL}/{resp.json()['id']}", headers=who)
    assert got.status_code == 200
    body: dict[str, Any] = got.json()
    return body


async def contacts(client: httpx.AsyncClient, who: dict[str, str]) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/contacts?limit=500&sort=name", headers=who)
    return list(resp.json()["data"])


PEOPLE = [["Name", "E-mail", "Job Title", "Tags", "Score"],
          ["Ada Lovelace", "ADA@example.com", "Analyst", "vip;math", "50"],
          ["Alan Turing", "alan@example.com", "", "", "20"]]


async def test_a_csv_upload_is_queued_then_imported_by_the_worker(client: httpx.AsyncClient, db: Database,
                                                                 org: Org) -> None:
    body = await run(client, db, org.admin.h, csv_bytes(PEOPLE))
    assert body["status"] == "done"
    assert body["counts"] == {"rows": 2, "created": 2, "updated": 0, "skipped": 0, "errors": 0}
    people = await contacts(client, org.admin.h)
    assert [(p["name"], p["email"], p["title"], p["tags"], p["lead_score"]) for p in people] == [
        ("Ada Lovelace", "ada@example.com", "Analyst", ["vip", "math"], 50),
        ("Alan Turing", "alan@example.com", None, [], 20)]
    tagged = await client.get("/api/v1/contacts?tag=vip", headers=org.admin.h)
    assert [c["name"] for c in tagged.json()["data"]] == ["Ada Lovelace"]
    timeline = await client.get(f"/api/v1/contacts/{people[0]['id']}/timeline", headers=org.admin.h)
    assert [e["type"] for e in timeline.json()["data"]] == ["contact.created"]


async def test_upsert_updates_matches_and_revert_restores_everything(client: httpx.AsyncClient, db: Database,
                                                                    org: Org) -> None:
    made = await client.post("/api/v1/contacts", headers=org.admin.h,
                             json={"name": "Ada L.", "email": "ada@example.com", "title": "Countess", "tags": ["old"]})
    before = made.json()
    body = await run(client, db, org.admin.h, csv_bytes(PEOPLE), mode="upsert")
    assert body["counts"] == {"rows": 2, "created": 1, "updated": 1, "skipped": 0, "errors": 0}
    ada = (await client.get(f"/api/v1/contacts/{before['id']}", headers=org.admin.h)).json()
    assert (ada["name"], ada["title"], ada["tags"], ada["version"]) == ("Ada Lovelace", "Analyst", ["vip", "math"], 2)

    reverted = await client.post(f"{URL}/{body['id']}/revert", headers=org.admin.h)
    assert reverted.status_code == 200, reverted.text
    assert reverted.json()["reverted"] == {"deleted": 1, "restored": 1}
    people = await contacts(client, org.admin.h)
    assert [(p["name"], p["title"], p["tags"]) for p in people] == [("Ada L.", "Countess", ["old"])]
    old = await client.get("/api/v1/contacts?tag=old", headers=org.admin.h)
    assert len(old.json()["data"]) == 1
    again = await client.post(f"{URL}/{body['id']}/revert", headers=org.admin.h)
    assert again.json()["reverted"] == {"deleted": 0, "restored": 0}


async def test_bad_rows_are_skipped_and_reported_good_rows_go_in(client: httpx.AsyncClient, db: Database,
                                                                org: Org) -> None:
    rows = [["name", "email", "lead_score", "stage"],
            ["Good One", "good@example.com", "10", "lead"],
            ["", "noname@example.com", "10", "lead"],
            ["Bad Score", "score@example.com", "900", "lead"],
            ["Bad Stage", "stage@example.com", "1", "royalty"],
            ["Dup", "good@example.com", "1", "lead"]]
    body = await run(client, db, org.admin.h, csv_bytes(rows))
    assert body["counts"] == {"rows": 5, "created": 1, "updated": 0, "skipped": 4, "errors": 4}
    assert {(e["row"], e["field"]) for e in body["errors"]} == {
        (3, "name"), (4, "lead_score"), (5, "stage"), (6, "email")}
    dup = next(e for e in body["errors"] if e["row"] == 6)
    assert "row 2" in dup["message"]
    report = await client.get(f"{URL}/{body['id']}/errors.csv", headers=org.admin.h)
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(report.text)))
    assert lines[0] == ["row", "field", "message"]
    assert [line[0] for line in lines[1:]] == ["3", "4", "5", "6"]
    assert [p["name"] for p in await contacts(client, org.admin.h)] == ["Good One"]


async def test_dry_run_validates_everything_and_writes_no_record(client: httpx.AsyncClient, db: Database,
                                                                org: Org) -> None:
    rows = [*PEOPLE, ["Again", "alan@example.com", "", "", ""]]
    body = await run(client, db, org.admin.h, csv_bytes(rows), dry_run=True)
    assert body["status"] == "done" and body["dry_run"] is True
    assert body["counts"] == {"rows": 3, "created": 2, "updated": 0, "skipped": 1, "errors": 1}
    assert await contacts(client, org.admin.h) == []
    assert (await client.post(f"{URL}/{body['id']}/revert", headers=org.admin.h)).status_code == 409


async def test_mapping_overrides_and_custom_fields(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    made = await client.post("/api/v1/custom-fields", headers=org.admin.h,
                             json={"object": "contact", "name": "plan", "label": "Plan", "type": "select",
                                   "options": ["free", "pro"]})
    assert made.status_code == 201, made.text
    rows = [["Who", "Mail address", "Plan", "Ignored"], ["Ada", "ada@example.com", "pro", "x"],
            ["Bob", "bob@example.com", "gold", "y"]]
    body = await run(client, db, org.admin.h, csv_bytes(rows), mapping={"Who": "name", "Mail address": "email"})
    assert body["counts"]["created"] == 1
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(3, "custom_fields.plan")]
    people = await contacts(client, org.admin.h)
    assert [(p["name"], p["custom_fields"]) for p in people] == [("Ada", {"plan": "pro"})]


async def test_companies_upsert_on_domain_and_contacts_link_by_domain(client: httpx.AsyncClient, db: Database,
                                                                     org: Org) -> None:
    rows = [["Company", "Website Domain", "Industry", "Employees"],
            ["Acme", "https://www.acme.dev/", "Tools", "50"], ["Globex", "globex.com", "Energy", "x"]]
    body = await run(client, db, org.admin.h, csv_bytes(rows), object="companies", mode="upsert",
                     mapping={"Website Domain": "domain"})
    assert body["counts"]["created"] == 1 and [e["field"] for e in body["errors"]] == ["employee_count"]
    people = [["name", "email", "company domain"], ["Ann", "ann@acme.dev", "acme.dev"],
              ["Zed", "zed@nowhere.dev", "nowhere.dev"]]
    body = await run(client, db, org.admin.h, csv_bytes(people))
    assert body["counts"]["created"] == 1
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(3, "company_domain")]
    ann = (await contacts(client, org.admin.h))[0]
    got = await client.get(f"/api/v1/contacts/{ann['id']}?include=companies", headers=org.admin.h)
    assert [(c["name"], c["is_primary"]) for c in got.json()["companies"]] == [("Acme", True)]


BAD_FILES = [
    pytest.param(b"", "file", "empty", id="zero-bytes"),
    pytest.param(b"\x00\x01\x02binary\x00", "file", "binary", id="binary"),
    pytest.param(b"PK\x03\x04truncated-zip", "file", "damaged or truncated", id="truncated-xlsx"),
    pytest.param(csv_bytes([["email", "title"], ["a@example.com", "x"]]), "name", "required column", id="no-name"),
]


@pytest.mark.parametrize(("content", "field", "words"), BAD_FILES)
async def test_a_bad_file_is_refused_with_a_clear_message_and_nothing_is_stored(
        client: httpx.AsyncClient, db: Database, org: Org, content: bytes, field: str, words: str) -> None:
    resp = await upload(client, org.admin.h, content)
    assert resp.status_code == 422, resp.text
    problem = resp.json()
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert problem["errors"][0]["field"] == field and words in problem["errors"][0]["message"]
    assert (await client.get(URL, headers=org.admin.h)).json()["data"] == []


BAD_OPTIONS = [
    pytest.param({"mapping": {"Name": "nickname"}}, "mapping.Name", id="unknown-mapping-target"),
    pytest.param({"mapping": {"Nope": "email"}}, "mapping.Nope", id="mapping-of-absent-column"),
    pytest.param({"mapping": "{not json"}, "mapping", id="mapping-not-json"),
    pytest.param({"object": "planets"}, "object", id="unknown-object"),
    pytest.param({"mode": "merge"}, "mode", id="unknown-mode"),
    pytest.param({"match": "phone"}, "match", id="unmatchable-field"),
    pytest.param({"mode": "update", "match": "external_user_id"}, "external_user_id", id="match-column-missing"),
]


@pytest.mark.parametrize(("form", "field"), BAD_OPTIONS)
async def test_bad_options_answer_422_naming_the_field(client: httpx.AsyncClient, org: Org, form: dict[str, Any],
                                                       field: str) -> None:
    if isinstance(form.get("mapping"), str):
        resp = await client.post(URL, headers=org.admin.h, data={"object": "contacts", "mapping": form["mapping"]},
                                 files={"file": ("p.csv", csv_bytes(PEOPLE), "text/csv")})
    else:
        resp = await upload(client, org.admin.h, csv_bytes(PEOPLE), **form)
    assert resp.status_code == 422, resp.text
    assert field in [e["field"] for e in resp.json()["errors"]]


async def test_semicolon_latin1_csv_with_formulas_is_read_as_text(client: httpx.AsyncClient, db: Database,
                                                                  org: Org) -> None:
    content = csv_bytes([["Name", "Email", "Notes"], ["José Müller", "jose@example.com", "=1+2"],
                         ["Zoë", "zoe@example.com", "@SUM(A1)"]], delimiter=";", encoding="cp1252")
    body = await run(client, db, org.admin.h, content)
    assert body["counts"]["created"] == 2, body
    people = await contacts(client, org.admin.h)
    assert [(p["name"], p["notes"]) for p in people] == [("José Müller", "=1+2"), ("Zoë", "@SUM(A1)")]


PERMISSIONS = [
    # (persona, mode, status)
    ("admin", "upsert", 202), ("manager", "upsert", 202), ("rep", "upsert", 202),
    ("marketing", "create", 202), ("marketing", "upsert", 403), ("marketing", "update", 403),
    ("support", "create", 403), ("viewer", "create", 403), ("viewer", "update", 403),
]


@pytest.mark.parametrize(("persona", "mode", "status"), PERMISSIONS)
async def test_importing_needs_create_or_update_on_the_object(client: httpx.AsyncClient, org: Org, persona: str,
                                                              mode: str, status: int) -> None:
    resp = await upload(client, getattr(org, persona).h, csv_bytes(PEOPLE), mode=mode)
    assert resp.status_code == status, resp.text


async def test_a_rep_updates_only_own_contacts(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    theirs = await client.post("/api/v1/contacts", headers=org.other_rep.h,
                               json={"name": "Theirs", "email": "theirs@example.com"})
    assert theirs.status_code == 201
    rows = [["name", "email"], ["Mine", "mine@example.com"], ["Taken", "theirs@example.com"]]
    body = await run(client, db, org.rep.h, csv_bytes(rows), mode="upsert")
    assert body["counts"]["created"] == 1 and body["counts"]["errors"] == 1
    assert body["errors"][0]["row"] == 3


async def test_another_orgs_import_is_not_found(client: httpx.AsyncClient, db: Database, org: Org,
                                               other_org: Org) -> None:
    body = await run(client, db, org.admin.h, csv_bytes(PEOPLE))
    for method, path in (("GET", f"{URL}/{body['id']}"), ("GET", f"{URL}/{body['id']}/errors.csv"),
                         ("POST", f"{URL}/{body['id']}/revert")):
        resp = await client.request(method, path, headers=other_org.admin.h)
        assert resp.status_code == 404, (path, resp.text)
    assert (await client.get(URL, headers=other_org.admin.h)).json()["data"] == []
    mine = await client.get(URL, headers=org.admin.h)
    assert [i["id"] for i in mine.json()["data"]] == [body["id"]]
    # another user of the same org without the org-wide update grant does not see it either
    assert (await client.get(f"{URL}/{body['id']}", headers=org.rep.h)).status_code == 404


async def test_xlsx_upload_reads_the_first_sheet_and_keeps_formulas_as_text(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Name", "Email", "Phone", "Notes"])
    ws.append(["Ada", "ada@example.com", 5550102030, "=1+2"])
    buf = io.BytesIO()
    wb.save(buf)
    body = await run(client, db, org.admin.h, buf.getvalue(), filename="people.xlsx")
    assert body["counts"]["created"] == 1, body
    (ada,) = await contacts(client, org.admin.h)
    assert (ada["phone"], ada["notes"]) == ("5550102030", "=1+2")


async def test_leads_upsert_on_external_key_for_existing_contacts(client: httpx.AsyncClient, db: Database,
                                                                  org: Org) -> None:
    ada = await client.post("/api/v1/contacts", headers=org.admin.h, json={"name": "Ada", "email": "ada@example.com"})
    rows = [["External Key", "Email", "Title", "Score", "Channel"],
            ["L-1", "ADA@example.com", "Wants a demo", "35", "form"],
            ["L-2", "nobody@example.com", "Lost soul", "5", "form"],
            ["L-1", "ada@example.com", "Again", "1", "form"]]
    body = await run(client, db, org.admin.h, csv_bytes(rows), object="leads", mode="upsert")
    assert body["counts"] == {"rows": 3, "created": 1, "updated": 0, "skipped": 2, "errors": 2}, body
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(3, "contact_email"), (4, "external_key")]
    leads = (await client.get("/api/v1/leads", headers=org.admin.h)).json()["data"]
    assert [(ld["external_key"], ld["contact_id"], ld["title"], ld["score"], ld["status"]) for ld in leads] == [
        ("L-1", ada.json()["id"], "Wants a demo", 35, "new")]
    again = await run(client, db, org.admin.h, csv_bytes([rows[0], ["L-1", "", "Renamed", "", ""]]),
                      object="leads", mode="update")
    assert again["counts"]["updated"] == 1, again
    lead = (await client.get(f"/api/v1/leads/{leads[0]['id']}", headers=org.admin.h)).json()
    assert (lead["title"], lead["score"], lead["channel"]) == ("Renamed", 35, "form")
    await client.post(f"{URL}/{again['id']}/revert", headers=org.admin.h)
    await client.post(f"{URL}/{body['id']}/revert", headers=org.admin.h)
    assert (await client.get("/api/v1/leads", headers=org.admin.h)).json()["data"] == []


async def test_deals_are_placed_by_pipeline_and_stage_name_and_linked_by_email_and_domain(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    ada = (await client.post("/api/v1/contacts", headers=org.admin.h,
                             json={"name": "Ada", "email": "ada@example.com"})).json()
    acme = (await client.post("/api/v1/companies", headers=org.admin.h,
                              json={"name": "Acme", "domain": "acme.dev"})).json()
    rows = [["Deal Name", "Stage", "Value", "Currency", "Contact Email", "Company Domain", "Close Date"],
            ["Big one", "Proposal", "1200.50", "EUR", "ada@example.com", "acme.dev", "2027-01-31"],
            ["Default place", "", "10", "", "", "", ""],
            ["Nowhere", "Moon", "1", "", "", "", ""],
            ["Closed", "Closed Won", "1", "", "", "", ""],
            ["Bad money", "", "-5", "", "", "", ""]]
    body = await run(client, db, org.admin.h, csv_bytes(rows), object="deals")
    assert body["counts"] == {"rows": 5, "created": 2, "updated": 0, "skipped": 3, "errors": 3}, body["errors"]
    assert [(e["row"], e["field"]) for e in body["errors"]][:2] == [(4, "stage"), (5, "stage")]
    deals = (await client.get("/api/v1/deals?sort=title", headers=org.admin.h)).json()["data"]
    big = next(d for d in deals if d["title"] == "Big one")
    assert (big["value"], big["contact_id"], big["company_id"], big["status"], big["expected_close_date"]) == (
        {"amount": "1200.50", "currency": "EUR"}, ada["id"], acme["id"], "open", "2027-01-31")
    stages = (await client.get(f"/api/v1/pipelines/{big['pipeline_id']}", headers=org.admin.h)).json()["stages"]
    assert next(s["name"] for s in stages if s["id"] == big["stage_id"]).lower() == "proposal"
    other = next(d for d in deals if d["title"] == "Default place")
    assert other["stage_id"] == stages[0]["id"] and other["value"]["currency"] == "USD"
    update = [["id", "value", "stage"], [other["id"], "99", ""], [big["id"], "1", "Negotiation"]]
    body2 = await run(client, db, org.admin.h, csv_bytes(update), object="deals", mode="update")
    assert body2["counts"]["updated"] == 1 and [e["field"] for e in body2["errors"]] == ["stage"], body2
    await client.post(f"{URL}/{body2['id']}/revert", headers=org.admin.h)
    back = (await client.get(f"/api/v1/deals/{other['id']}", headers=org.admin.h)).json()
    assert back["value"]["amount"] == "10.00"
