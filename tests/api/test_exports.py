"""Exports (issue 6 item 2): the list as CSV or XLSX, with the list's filters and visibility,
custom fields as columns, formulas neutralised, streamed in batches with bounded memory."""

from __future__ import annotations

import csv
import io
import tracemalloc
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from kith.auth.model import Actor
from kith.contacts.tables import contacts
from kith.core import ids
from kith.core.db import Database
from kith.core.uow import UnitOfWork
from kith.exports import service, writers
from kith.exports.model import Format
from tests.conftest import Org, Persona, count_rows, problem

A = "/api/v1"
EXPORTS = f"{A}/exports"


async def post(client: httpx.AsyncClient, who: Persona, path: str, **body: Any) -> dict[str, Any]:
    r = await client.post(f"{A}/{path}", json=body, headers=who.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def export_csv(client: httpx.AsyncClient, who: Persona, **params: str) -> list[dict[str, str]]:
    r = await client.get(EXPORTS, params={"format": "csv", **params}, headers=who.h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(r.text)))


def ids_of(rows: list[dict[str, str]]) -> set[str]:
    return {r["id"] for r in rows}


# --- contents ---------------------------------------------------------------------------------------

async def test_a_csv_export_holds_every_contact_with_custom_fields_as_columns(client: httpx.AsyncClient,
                                                                                org: Org) -> None:
    for body in ({"name": "plan", "type": "select", "options": ["free", "pro"]}, {"name": "seats", "type": "number"}):
        await post(client, org.admin, "custom-fields", object="contact", label=body["name"].title(), **body)
    ann = await post(client, org.admin, "contacts", name="Ann Lee", email="ann@acme.dev", tags=["vip", "beta"],
                     custom_fields={"plan": "pro", "seats": 12})
    bob = await post(client, org.admin, "contacts", name="Bob Ray", stage="qualified")

    r = await client.get(EXPORTS, params={"object": "contacts"}, headers=org.admin.h)
    assert r.status_code == 200
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="contacts-') and disposition.endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(r.text)))
    header = r.text.splitlines()[0].split(",")
    assert header[0] == "id" and header[-2:] == ["plan", "seats"] and "custom_fields" not in header
    assert "org_id" not in header and "deleted_at" not in header and "email_key" not in header
    by_id = {row["id"]: row for row in rows}
    assert set(by_id) == {ann["id"], bob["id"]}
    assert by_id[ann["id"]]["plan"] == "pro" and by_id[ann["id"]]["seats"] == "12"
    assert by_id[ann["id"]]["email"] == "ann@acme.dev" and by_id[ann["id"]]["tags"] == "vip;beta"
    assert by_id[bob["id"]]["plan"] == "" and by_id[bob["id"]]["stage"] == "qualified"
    assert by_id[ann["id"]]["created_at"] == ann["created_at"].replace("Z", "+00:00")
    # newest first, as the list
    assert [row["id"] for row in rows] == [bob["id"], ann["id"]]


async def test_an_export_pages_through_the_whole_list_in_batches_in_list_order(
        client: httpx.AsyncClient, org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    made = [(await post(client, org.admin, "companies", name=f"Co {i:02d}"))["id"] for i in range(7)]
    monkeypatch.setattr(service, "BATCH", 2)
    rows = await export_csv(client, org.admin, object="companies", sort="name")
    assert [r["id"] for r in rows] == made and [r["name"] for r in rows] == [f"Co {i:02d}" for i in range(7)]
    rows = await export_csv(client, org.admin, object="companies", sort="-name")
    assert [r["id"] for r in rows] == made[::-1]


async def test_deals_leads_and_activities_export_their_own_columns(client: httpx.AsyncClient, org: Org) -> None:
    contact = await post(client, org.admin, "contacts", name="Dee")
    deal = await post(client, org.admin, "deals", title="Big one", contact_id=contact["id"],
                      value={"amount": "1200.50", "currency": "EUR"})
    lead = await post(client, org.admin, "leads", title="Inbound", contact_id=contact["id"], external_key="k-1")
    act = await post(client, org.admin, "activities", type="call", subject="Intro", contact_id=contact["id"])

    [d] = await export_csv(client, org.admin, object="deals")
    assert (d["id"], d["title"], d["amount"], d["currency"], d["status"]) == (deal["id"], "Big one", "1200.50",
                                                                             "EUR", "open")
    assert "value" not in d
    [le] = await export_csv(client, org.admin, object="leads")
    assert (le["id"], le["external_key"], le["status"]) == (lead["id"], "k-1", "new")
    [a] = await export_csv(client, org.admin, object="activities")
    assert (a["id"], a["type"], a["subject"], a["contact_id"]) == (act["id"], "call", "Intro", contact["id"])


async def test_an_empty_list_exports_the_header_alone(client: httpx.AsyncClient, org: Org) -> None:
    r = await client.get(EXPORTS, params={"object": "leads"}, headers=org.admin.h)
    assert r.status_code == 200 and r.text.count("\r\n") == 1 and r.text.startswith("id,")


# --- filters ------------------------------------------------------------------------------------------

async def test_the_list_filters_q_and_custom_field_filters_apply(client: httpx.AsyncClient, org: Org) -> None:
    await post(client, org.admin, "custom-fields", object="contact", name="plan", label="Plan", type="select",
               options=["free", "pro"])
    ann = await post(client, org.admin, "contacts", name="Ann Marlow", stage="qualified", tags=["vip"],
                     custom_fields={"plan": "pro"})
    bob = await post(client, org.admin, "contacts", name="Bob Stone", stage="qualified")
    cid = await post(client, org.admin, "contacts", name="Cid Marsh", tags=["vip"])
    assert ids_of(await export_csv(client, org.admin, object="contacts", stage="qualified")) == {ann["id"], bob["id"]}
    assert ids_of(await export_csv(client, org.admin, object="contacts", tag="vip")) == {ann["id"], cid["id"]}
    assert ids_of(await export_csv(client, org.admin, object="contacts", plan="pro")) == {ann["id"]}
    assert ids_of(await export_csv(client, org.admin, object="contacts", q="mar")) == {ann["id"], cid["id"]}
    assert ids_of(await export_csv(client, org.admin, object="contacts", stage="qualified", tag="vip")) == {ann["id"]}


@pytest.mark.parametrize(("params", "field"), [
    pytest.param({"object": "contacts", "colour": "red"}, "colour", id="unknown-filter"),
    pytest.param({"object": "contacts", "stage": "sideways"}, "stage", id="bad-enum-value"),
    pytest.param({"object": "contacts", "created_after": "yesterday"}, "created_after", id="bad-date"),
    pytest.param({"object": "contacts", "sort": "shoe_size"}, "sort", id="unknown-sort"),
    pytest.param({"object": "contacts", "limit": "10"}, "limit", id="limit-refused"),
    pytest.param({"object": "contacts", "cursor": "abc"}, "cursor", id="cursor-refused"),
    pytest.param({"object": "campaigns"}, "object", id="unknown-object"),
    pytest.param({"object": "contacts", "format": "pdf"}, "format", id="unknown-format"),
    pytest.param({}, "object", id="no-object"),
    pytest.param({"object": "activities", "q": "x"}, "q", id="activities-have-no-search"),
    pytest.param({"object": "deals", "status": "maybe"}, "status", id="deal-status"),
])
async def test_bad_parameters_answer_422_before_the_file_starts(client: httpx.AsyncClient, org: Org,
                                                                 params: dict[str, str], field: str) -> None:
    await post(client, org.admin, "contacts", name="Someone")
    r = await client.get(EXPORTS, params=params, headers=org.admin.h)
    body = problem(r, 422)
    assert any(e["field"].split(".")[-1] == field for e in body["errors"]), body
    assert "content-disposition" not in r.headers


async def test_an_export_needs_an_api_key(client: httpx.AsyncClient, org: Org) -> None:
    problem(await client.get(EXPORTS, params={"object": "contacts"}), 401)


async def test_an_export_writes_nothing(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    await post(client, org.admin, "contacts", name="Someone")
    tables = ("contacts", "companies", "events", "event_refs", "notifications")
    before = await count_rows(db, *tables)
    await export_csv(client, org.admin, object="contacts")
    assert await count_rows(db, *tables) == before


# --- who sees what ------------------------------------------------------------------------------------

async def _one_of_each(client: httpx.AsyncClient, who: Persona) -> dict[str, str]:
    contact = await post(client, who, "contacts", name=f"{who.name} contact")
    return {
        "contacts": contact["id"],
        "companies": (await post(client, who, "companies", name=f"{who.name} co"))["id"],
        "deals": (await post(client, who, "deals", title=f"{who.name} deal", contact_id=contact["id"]))["id"],
        "leads": (await post(client, who, "leads", title=f"{who.name} lead", contact_id=contact["id"]))["id"],
        "activities": (await post(client, who, "activities", type="note", subject=f"{who.name} note",
                                  contact_id=contact["id"]))["id"],
    }


ALL, OWN, NONE = "all", "own", "none"
# What each persona may export (seed 004 §3 read grants): "own" = the rep's team's records only.
MATRIX: dict[str, dict[str, str]] = {
    "contacts": {"admin": ALL, "manager": ALL, "rep": ALL, "support": ALL, "marketing": ALL, "viewer": ALL},
    "companies": {"admin": ALL, "manager": ALL, "rep": ALL, "support": ALL, "marketing": ALL, "viewer": ALL},
    "deals": {"admin": ALL, "manager": ALL, "rep": OWN, "support": NONE, "marketing": NONE, "viewer": ALL},
    "leads": {"admin": ALL, "manager": ALL, "rep": OWN, "support": NONE, "marketing": ALL, "viewer": ALL},
    "activities": {"admin": ALL, "manager": ALL, "rep": OWN, "support": ALL, "marketing": NONE, "viewer": ALL},
}


@pytest.mark.parametrize("object_", list(MATRIX))
async def test_each_persona_exports_exactly_what_it_may_read(client: httpx.AsyncClient, org: Org,
                                                              object_: str) -> None:
    rep = await _one_of_each(client, org.rep)
    other = await _one_of_each(client, org.other_rep)
    for persona, expected in MATRIX[object_].items():
        who = getattr(org, persona)
        r = await client.get(EXPORTS, params={"object": object_}, headers=who.h)
        if expected == NONE:
            problem(r, 403)
            continue
        assert r.status_code == 200, (persona, r.text)
        got = ids_of(list(csv.DictReader(io.StringIO(r.text)))) & {rep[object_], other[object_]}
        assert got == ({rep[object_]} if expected == OWN else {rep[object_], other[object_]}), (persona, object_)


async def test_another_orgs_records_never_appear(client: httpx.AsyncClient, org: Org, other_org: Org) -> None:
    mine = await _one_of_each(client, org.admin)
    theirs = await _one_of_each(client, other_org.admin)
    for object_ in MATRIX:
        got = ids_of(await export_csv(client, other_org.admin, object=object_))
        assert mine[object_] not in got and theirs[object_] in got
    # another org's record id as a filter value matches nothing here
    assert await export_csv(client, org.admin, object="deals", contact_id=theirs["contacts"]) == []
    assert await export_csv(client, org.admin, object="activities", contact_id=theirs["contacts"]) == []


# --- CSV injection and XLSX ----------------------------------------------------------------------------

FORMULAS = ["=HYPERLINK(\"http://evil.test\",\"x\")", "+1 555 0100", "-2+3", "@SUM(A1:A9)", "\tTabbed", "\rCR"]


async def test_cells_that_start_like_a_formula_are_escaped_in_csv(client: httpx.AsyncClient, org: Org) -> None:
    made = {}
    for text in FORMULAS:
        c = await post(client, org.admin, "contacts", name=f"Safe {len(made)}", title=text, notes=text)
        made[c["id"]] = c
    c = await post(client, org.admin, "contacts", name="Plain", title="Engineer", lead_score=0)
    rows = {r["id"]: r for r in await export_csv(client, org.admin, object="contacts")}
    for cid, stored in made.items():
        for name in ("title", "notes"):  # stored trimmed: "\tTabbed" is plain "Tabbed" (tab / CR: unit tests)
            value = stored[name]
            assert rows[cid][name] == ("'" + value if value[0] in "=+-@" else value), (name, rows[cid])
    assert sum(r["title"].startswith("'") for r in rows.values()) == 4
    assert rows[c["id"]]["title"] == "Engineer" and rows[c["id"]]["lead_score"] == "0"


async def test_xlsx_is_readable_typed_and_escaped(client: httpx.AsyncClient, org: Org) -> None:
    await post(client, org.admin, "custom-fields", object="company", name="seats", label="Seats", type="number")
    co = await post(client, org.admin, "companies", name="=cmd|' /C calc'!A0", domain="acme.dev",
                    custom_fields={"seats": 40})
    await post(client, org.admin, "companies", name="Plain Co\x01 ltd")
    r = await client.get(EXPORTS, params={"object": "companies", "format": "xlsx", "sort": "created_at"},
                         headers=org.admin.h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == Format.XLSX.media_type
    assert r.headers["content-disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(r.content)).active
    [header, first, second] = [list(row) for row in sheet.iter_rows(values_only=True)]
    row = dict(zip(header, first, strict=True))
    assert row["id"] == co["id"] and row["name"] == "'=cmd|' /C calc'!A0" and row["domain"] == "acme.dev"
    assert row["seats"] == 40 and header[-1] == "seats"
    assert row["created_at"].isoformat()[:19] == co["created_at"][:19]  # a real date, naive UTC
    assert dict(zip(header, second, strict=True))["name"] == "Plain Co ltd"
    formulas = [c for r_ in sheet.iter_rows() for c in r_ if c.data_type == "f"]
    assert formulas == []


# --- bounded memory -------------------------------------------------------------------------------------

async def _bulk_contacts(db: Database, org: Org, n: int) -> None:
    async with db.engine.begin() as conn:
        first = sa.select(contacts).where(contacts.c.org_id == org.id).limit(1)
        template = dict((await conn.execute(first)).one()._mapping)
        rows = [{**template, "id": ids.new("contact"), "name": f"Person {i:06d} " + "x" * 120,
                 "notes": "n" * 300} for i in range(n)]
        await conn.execute(contacts.insert(), rows)


async def _peak_while_exporting(db: Database, org: Org, fmt: Format) -> tuple[int, int]:
    uow, actor = UnitOfWork(db), Actor.system(org.id)
    tracemalloc.start()
    try:
        job = await service.start(uow, actor, "contacts", fmt, filters={})
        size = 0
        async for chunk in writers.render(fmt, job.source.builtin, job.custom, service.batches(uow, actor, job)):
            size += len(chunk)
        return tracemalloc.get_traced_memory()[1], size
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", [Format.CSV, Format.XLSX])
async def test_a_large_export_holds_one_batch_in_memory_not_the_file(
        client: httpx.AsyncClient, db: Database, org: Org, monkeypatch: pytest.MonkeyPatch, fmt: Format) -> None:
    await post(client, org.admin, "contacts", name="Template", email=None)
    monkeypatch.setattr(service, "BATCH", 100)
    await _bulk_contacts(db, org, 400)
    small, _ = await _peak_while_exporting(db, org, fmt)
    await _bulk_contacts(db, org, 7600)
    peak, size = await _peak_while_exporting(db, org, fmt)
    # 20x the rows, about the same peak: memory follows the batch, not the file
    assert peak < small * 2 + 512 * 1024, (small, peak, size)
    if fmt is Format.CSV:
        assert size > 4_000_000 and peak < size / 3, (peak, size)


async def test_tickets_export_for_the_desk_only_and_never_another_orgs(client: httpx.AsyncClient, org: Org,
                                                                       other_org: Org) -> None:
    reporter = await post(client, org.admin, "contacts", name="Reporter")
    mine = [await post(client, org.support, "tickets", contact_id=reporter["id"], subject=subject, priority=p)
            for subject, p in (("Cannot log in", "urgent"), ("=HYPERLINK(\"x\")", "low"))]
    theirs_contact = await post(client, other_org.admin, "contacts", name="Elsewhere")
    theirs = await post(client, other_org.support, "tickets", contact_id=theirs_contact["id"], subject="Theirs")
    for persona in ("admin", "support"):
        rows = await export_csv(client, getattr(org, persona), object="tickets", sort="number")
        assert [r["id"] for r in rows] == [t["id"] for t in mine] and theirs["id"] not in ids_of(rows)
        assert [r["number"] for r in rows] == ["1", "2"] and rows[0]["priority"] == "urgent"
        assert rows[0]["status"] == "open" and rows[0]["overdue"] in {"false", "False", "0", ""}
        assert rows[1]["subject"] == "'=HYPERLINK(\"x\")"  # formula escaped
    filtered = await export_csv(client, org.support, object="tickets", priority="urgent")
    assert ids_of(filtered) == {mine[0]["id"]}
    for persona in ("manager", "rep", "marketing", "viewer"):  # no ticket:read
        problem(await client.get(EXPORTS, params={"object": "tickets"}, headers=getattr(org, persona).h), 403)
    problem(await client.get(EXPORTS, params={"object": "tickets", "nonsense": "1"}, headers=org.support.h), 422)
