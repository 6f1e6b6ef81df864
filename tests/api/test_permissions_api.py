"""Permissions over HTTP (DESIGN §3, seed 004 §3): every persona against every contact and company
route, owner assignment, contact ↔ company links, the admin routes and other orgs' ids.

A denied call answers a problem (403 when the role forbids, 404 when the caller may not see the
record) and changes nothing: no row anywhere (events included) and no field of the record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from kith.core.db import Database
from tests.conftest import Org, Persona, count_rows, problem

V1 = "/api/v1"
PERSONAS = ("admin", "manager", "rep", "other_rep", "support", "marketing", "viewer")


def expect(default: int, **overrides: int) -> dict[str, int]:
    """Persona → expected status: ``default`` for all but the named personas."""
    assert set(overrides) <= set(PERSONAS), overrides
    return {p: overrides.get(p, default) for p in PERSONAS}


async def make(client: httpx.AsyncClient, org: Org, plural: str, owner: str | None, **body: Any) -> dict[str, Any]:
    """A record created by the org's admin and owned by persona ``owner`` (None: nobody)."""
    body.setdefault("name", f"{plural} of {owner}")
    if owner is not None:
        body["owner_id"] = org.people[owner].user_id
    r = await client.post(f"{V1}/{plural}", json=body, headers=org.admin.h)
    assert r.status_code == 201, r.text
    if owner is None:  # a create without owner_id gives it to the caller; unowned records (widget) come later
        r = await client.patch(f"{V1}/{plural}/{r.json()['id']}", json={"owner_id": None}, headers=org.admin.h)
        assert r.status_code == 200, r.text
    assert r.json()["owner_id"] == (None if owner is None else org.people[owner].user_id)
    return r.json()  # type: ignore[no-any-return]


async def link(client: httpx.AsyncClient, who: Persona, contact_id: str, company_id: str) -> httpx.Response:
    return await client.post(f"{V1}/contacts/{contact_id}/companies", json={"company_id": company_id},
                             headers=who.h)


async def snapshot(client: httpx.AsyncClient, db: Database, who: Persona, urls: list[str]
                   ) -> tuple[dict[str, int], list[tuple[int, Any]]]:
    """Every table's row count plus what ``who`` reads at ``urls``: the "nothing changed" probe."""
    reads = []
    for url in urls:
        r = await client.get(url, headers=who.h)
        reads.append((r.status_code, r.json()))
    return await count_rows(db), reads


# --- the table: persona × route of contacts and companies --------------------------------------

@dataclass
class Call:
    method: str
    url: str
    json: dict[str, Any] | None
    watch: list[str]  # URLs the admin reads before and after: unchanged when denied


Setup = Callable[[httpx.AsyncClient, Org], Awaitable[Call]]


@dataclass
class Case:
    setup: Setup
    expected: dict[str, int]


def _records(plural: str) -> dict[str, Case]:
    async def list_all(client: httpx.AsyncClient, org: Org) -> Call:
        for owner in ("admin", "rep", "other_rep", None):
            await make(client, org, plural, owner)
        return Call("GET", f"{V1}/{plural}?limit=500", None, [])

    async def create(client: httpx.AsyncClient, org: Org) -> Call:
        return Call("POST", f"{V1}/{plural}", {"name": "Fresh"}, [f"{V1}/{plural}?limit=500"])

    def on(owner: str | None, method: str, suffix: str = "", body: dict[str, Any] | None = None,
           trashed: bool = False) -> Setup:
        async def setup(client: httpx.AsyncClient, org: Org) -> Call:
            rec = await make(client, org, plural, owner)
            url = f"{V1}/{plural}/{rec['id']}"
            if trashed:
                assert (await client.delete(url, headers=org.admin.h)).status_code == 204
            return Call(method, url + suffix, body, [url, f"{url}/timeline"] if not trashed else [url])
        return setup

    only_admin_writes = expect(403, admin=200, manager=200)
    return {
        "list": Case(list_all, expect(200)),
        "create": Case(create, expect(201, support=403, viewer=403)),
        "get-own-by-other_rep": Case(on("other_rep", "GET"), expect(200)),
        "get-unowned": Case(on(None, "GET"), expect(200)),
        "timeline-own-by-rep": Case(on("rep", "GET", "/timeline"), expect(200)),
        "patch-own-by-rep": Case(on("rep", "PATCH", body={"name": "Renamed"}), {**only_admin_writes, "rep": 200}),
        "patch-own-by-other_rep": Case(on("other_rep", "PATCH", body={"name": "Renamed"}),
                                       {**only_admin_writes, "other_rep": 200}),
        "patch-own-by-admin": Case(on("admin", "PATCH", body={"name": "Renamed"}), only_admin_writes),
        "patch-unowned": Case(on(None, "PATCH", body={"notes": "mine now?"}), only_admin_writes),
        "delete-own-by-rep": Case(on("rep", "DELETE"), expect(403, admin=204)),
        "delete-permanent": Case(on("rep", "DELETE", "?permanent=true"), expect(403, admin=204)),
        "restore-own-by-rep": Case(on("rep", "POST", "/restore", trashed=True), expect(403, admin=200)),
    }


def _links() -> dict[str, Case]:
    def linking(contact_owner: str, company_owner: str, *, unlink: bool = False) -> Setup:
        async def setup(client: httpx.AsyncClient, org: Org) -> Call:
            contact = await make(client, org, "contacts", contact_owner)
            company = await make(client, org, "companies", company_owner)
            links = f"{V1}/contacts/{contact['id']}/companies"
            watch = [links, f"{V1}/contacts/{contact['id']}", f"{V1}/companies/{company['id']}",
                     f"{V1}/companies/{company['id']}/contacts"]
            if unlink:
                assert (await link(client, org.admin, contact["id"], company["id"])).status_code == 201
                return Call("DELETE", f"{links}/{company['id']}", None, watch)
            return Call("POST", links, {"company_id": company["id"]}, watch)
        return setup

    async def read_links(client: httpx.AsyncClient, org: Org) -> Call:
        contact = await make(client, org, "contacts", "other_rep")
        company = await make(client, org, "companies", "other_rep")
        assert (await link(client, org.admin, contact["id"], company["id"])).status_code == 201
        return Call("GET", f"{V1}/contacts/{contact['id']}/companies", None, [])

    both_managers = expect(403, admin=201, manager=201)
    return {
        "link-both-own-by-rep": Case(linking("rep", "rep"), {**both_managers, "rep": 201}),
        "link-contact-rep-company-other_rep": Case(linking("rep", "other_rep"), both_managers),
        "link-contact-other_rep-company-rep": Case(linking("other_rep", "rep"), both_managers),
        "unlink-both-own-by-rep": Case(linking("rep", "rep", unlink=True), expect(403, admin=204, manager=204,
                                                                                    rep=204)),
        "unlink-contact-rep-company-other_rep": Case(linking("rep", "other_rep", unlink=True),
                                                     expect(403, admin=204, manager=204)),
        "unlink-contact-other_rep-company-rep": Case(linking("other_rep", "rep", unlink=True),
                                                     expect(403, admin=204, manager=204)),
        "read-links": Case(read_links, expect(200)),
    }


CASES: dict[str, Case] = {
    **{f"contacts-{k}": v for k, v in _records("contacts").items()},
    **{f"companies-{k}": v for k, v in _records("companies").items()},
    **{f"contacts-{k}": v for k, v in _links().items()},
}


@pytest.mark.parametrize("case_id", [pytest.param(k, id=k) for k in CASES])
async def test_persona_route_matrix(client: httpx.AsyncClient, db: Database, org: Org, case_id: str) -> None:
    """Each persona calls the route on fresh records; all answers are compared at once."""
    case = CASES[case_id]
    got: dict[str, int] = {}
    for name in PERSONAS:
        who = org.people[name]
        call = await case.setup(client, org)
        before = await snapshot(client, db, org.admin, call.watch)
        resp = await client.request(call.method, call.url, json=call.json, headers=who.h)
        got[name] = resp.status_code
        after = await snapshot(client, db, org.admin, call.watch)
        if resp.status_code >= 400:
            problem(resp, resp.status_code)
            assert after == before, f"{name}: a denied {call.method} {call.url} changed something"
        elif call.method == "GET":
            assert after == before, f"{name}: a read changed something"
        else:
            assert after != before, f"{name}: {call.method} {call.url} answered {resp.status_code} but changed nothing"
    assert got == case.expected


async def test_list_shows_every_record_to_every_reader(client: httpx.AsyncClient, org: Org) -> None:
    """contact:read and company:read are ✓ for all roles: nothing is filtered by owner."""
    for plural in ("contacts", "companies"):
        made = {(await make(client, org, plural, owner))["id"] for owner in ("admin", "rep", "other_rep", None)}
        for name in PERSONAS:
            r = await client.get(f"{V1}/{plural}", params={"limit": 500}, headers=org.people[name].h)
            assert r.status_code == 200, (name, r.text)
            assert {x["id"] for x in r.json()["data"]} == made, (plural, name)


async def test_a_denied_patch_reports_the_permission(client: httpx.AsyncClient, org: Org) -> None:
    contact = await make(client, org, "contacts", "other_rep")
    body = problem(await client.patch(f"{V1}/contacts/{contact['id']}", json={"name": "X"}, headers=org.rep.h), 403)
    assert body["type"].endswith("/forbidden")
    assert body.get("permission") == "contact:update"
    body = problem(await client.post(f"{V1}/contacts", json={"name": "X"}, headers=org.support.h), 403)
    assert body.get("permission") == "contact:create"


async def test_a_sales_rep_who_manages_another_rep_acts_as_owner_of_their_records(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    """◑ (own) covers the users whose manager the caller is, whatever the caller's role."""
    lead = (await client.post(f"{V1}/users", json={"email": "lead@acme.test", "name": "Lead", "roles": ["sales-rep"]},
                              headers=org.admin.h)).json()
    report = (await client.post(f"{V1}/users", json={"email": "report@acme.test", "name": "Report",
                                                      "roles": ["sales-rep"], "manager_id": lead["id"]},
                                headers=org.admin.h)).json()
    key = (await client.post(f"{V1}/users/{lead['id']}/api-keys", json={"name": "lead"}, headers=org.admin.h)).json()
    h = {"Authorization": f"Bearer {key['key']}"}
    for plural in ("contacts", "companies"):
        r = await client.post(f"{V1}/{plural}", json={"name": "Report's", "owner_id": report["id"]},
                              headers=org.admin.h)
        mine = r.json()
        r = await client.patch(f"{V1}/{plural}/{mine['id']}", json={"name": "Edited by lead"}, headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["name"] == "Edited by lead"
        others = await make(client, org, plural, "rep")
        before = await count_rows(db)
        problem(await client.patch(f"{V1}/{plural}/{others['id']}", json={"name": "No"}, headers=h), 403)
        assert await count_rows(db) == before
    # The report is not its manager's owner.
    contact = (await client.post(f"{V1}/contacts", json={"name": "Lead's"}, headers=h)).json()
    assert contact["owner_id"] == lead["id"]
    rkey = (await client.post(f"{V1}/users/{report['id']}/api-keys", json={}, headers=org.admin.h)).json()
    problem(await client.patch(f"{V1}/contacts/{contact['id']}", json={"name": "No"},
                               headers={"Authorization": f"Bearer {rkey['key']}"}), 403)


# --- owner assignment -------------------------------------------------------------------------

@pytest.mark.parametrize("plural", ["contacts", "companies"])
async def test_create_defaults_the_owner_to_the_caller(client: httpx.AsyncClient, org: Org, plural: str) -> None:
    for name in ("admin", "manager", "rep", "marketing"):
        r = await client.post(f"{V1}/{plural}", json={"name": f"By {name}"}, headers=org.people[name].h)
        assert r.status_code == 201, r.text
        assert r.json()["owner_id"] == org.people[name].user_id
    r = await client.post(f"{V1}/{plural}", json={"name": "Self", "owner_id": org.rep.user_id}, headers=org.rep.h)
    assert r.status_code == 201 and r.json()["owner_id"] == org.rep.user_id
    # An explicit null is no back door to an unowned record for someone without the reassign grant.
    r = await client.post(f"{V1}/{plural}", json={"name": "Nobody's", "owner_id": None}, headers=org.rep.h)
    assert r.status_code == 403 or (r.status_code == 201 and r.json()["owner_id"] == org.rep.user_id), r.text


@pytest.mark.parametrize("plural", ["contacts", "companies"])
async def test_only_reassign_holders_may_give_a_record_to_someone_else(
        client: httpx.AsyncClient, db: Database, org: Org, plural: str) -> None:
    # A rep (no reassign grant) may not create for another user.
    for owner in (org.other_rep.user_id, org.manager.user_id, org.admin.user_id):
        before = await count_rows(db)
        body = problem(await client.post(f"{V1}/{plural}", json={"name": "Gift", "owner_id": owner},
                                         headers=org.rep.h), 403)
        assert body.get("permission") == f"{plural[:-1] if plural == 'contacts' else 'company'}:reassign"
        assert await count_rows(db) == before
    # ... nor hand its own record over.
    own = await make(client, org, plural, "rep")
    url = f"{V1}/{plural}/{own['id']}"
    before = await count_rows(db)
    problem(await client.patch(url, json={"owner_id": org.other_rep.user_id}, headers=org.rep.h), 403)
    assert await count_rows(db) == before
    assert (await client.get(url, headers=org.admin.h)).json() == own
    # ... nor take someone else's.
    theirs = await make(client, org, plural, "other_rep")
    problem(await client.patch(f"{V1}/{plural}/{theirs['id']}", json={"owner_id": org.rep.user_id},
                               headers=org.rep.h), 403)
    assert (await client.get(f"{V1}/{plural}/{theirs['id']}", headers=org.admin.h)).json() == theirs
    # A manager and an admin may do both.
    for who in (org.manager, org.admin):
        r = await client.post(f"{V1}/{plural}", json={"name": "Assigned", "owner_id": org.rep.user_id}, headers=who.h)
        assert r.status_code == 201, r.text
        assert r.json()["owner_id"] == org.rep.user_id
        r = await client.patch(url, json={"owner_id": org.other_rep.user_id}, headers=who.h)
        assert r.status_code == 200, r.text
        assert r.json()["owner_id"] == org.other_rep.user_id
        r = await client.patch(url, json={"owner_id": org.rep.user_id}, headers=who.h)
        assert r.json()["owner_id"] == org.rep.user_id
    # Handing it back, the rep lost the record it gave away? No: it is the rep's again and editable.
    assert (await client.patch(url, json={"name": "Mine again"}, headers=org.rep.h)).status_code == 200


@pytest.mark.parametrize("plural", ["contacts", "companies"])
async def test_owner_must_be_a_user_of_the_org(client: httpx.AsyncClient, db: Database, org: Org, other_org: Org,
                                               plural: str) -> None:
    own = await make(client, org, plural, "rep")
    url = f"{V1}/{plural}/{own['id']}"
    for who in (org.manager, org.admin):
        for owner in (other_org.rep.user_id, other_org.admin.user_id, "user_00000000000000000000000000", "nobody"):
            before = await count_rows(db)
            body = problem(await client.post(f"{V1}/{plural}", json={"name": "X", "owner_id": owner}, headers=who.h),
                           422)
            assert [e["field"] for e in body["errors"]] == ["owner_id"], body
            body = problem(await client.patch(url, json={"owner_id": owner}, headers=who.h), 422)
            assert [e["field"] for e in body["errors"]] == ["owner_id"], body
            assert await count_rows(db) == before
    assert (await client.get(url, headers=org.admin.h)).json() == own


async def test_a_deactivated_user_cannot_be_given_records(client: httpx.AsyncClient, org: Org) -> None:
    r = await client.patch(f"{V1}/users/{org.other_rep.user_id}", json={"is_active": False}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    body = problem(await client.post(f"{V1}/contacts", json={"name": "X", "owner_id": org.other_rep.user_id},
                                     headers=org.manager.h), 422)
    assert body["errors"][0]["field"] == "owner_id"


# --- links need update rights on both records -------------------------------------------------

async def test_linking_needs_update_rights_on_both_sides(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    mine_contact = await make(client, org, "contacts", "rep")
    mine_company = await make(client, org, "companies", "rep")
    their_contact = await make(client, org, "contacts", "other_rep")
    their_company = await make(client, org, "companies", "other_rep")
    for contact, company in ((mine_contact, their_company), (their_contact, mine_company)):
        before = await count_rows(db)
        body = problem(await link(client, org.rep, contact["id"], company["id"]), 403)
        assert body.get("permission") in {"contact:update", "company:update"}
        assert await count_rows(db) == before
        r = await client.get(f"{V1}/contacts/{contact['id']}/companies", headers=org.admin.h)
        assert r.json()["data"] == []
    r = await link(client, org.rep, mine_contact["id"], mine_company["id"])
    assert r.status_code == 201, r.text
    assert [c["id"] for c in r.json()["data"]] == [mine_company["id"]]
    # Unlinking: a link the admin made between the rep's contact and another's company stays.
    assert (await link(client, org.admin, mine_contact["id"], their_company["id"])).status_code == 201
    before = await count_rows(db)
    problem(await client.delete(f"{V1}/contacts/{mine_contact['id']}/companies/{their_company['id']}",
                                headers=org.rep.h), 403)
    assert await count_rows(db) == before
    r = await client.delete(f"{V1}/contacts/{mine_contact['id']}/companies/{mine_company['id']}", headers=org.rep.h)
    assert r.status_code == 204, r.text
    r = await client.get(f"{V1}/contacts/{mine_contact['id']}/companies", headers=org.admin.h)
    assert [c["id"] for c in r.json()["data"]] == [their_company["id"]]


# --- admin routes -----------------------------------------------------------------------------

async def test_every_role_reads_the_org(client: httpx.AsyncClient, org: Org) -> None:
    for name in PERSONAS:
        r = await client.get(f"{V1}/org", headers=org.people[name].h)
        assert r.status_code == 200, (name, r.text)
        assert r.json()["id"] == org.id


async def test_only_crm_admin_changes_the_org(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    original = (await client.get(f"{V1}/org", headers=org.admin.h)).json()
    for name in PERSONAS[1:]:
        for body in ({"name": "Hijacked"}, {"settings": {"qualify_score_threshold": 1}}, {"rotate_widget_key": True}):
            before = await count_rows(db)
            problem(await client.patch(f"{V1}/org", json=body, headers=org.people[name].h), 403)
            assert await count_rows(db) == before
    assert (await client.get(f"{V1}/org", headers=org.admin.h)).json() == original
    r = await client.patch(f"{V1}/org", json={"settings": {"qualify_score_threshold": 55}}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    assert r.json()["settings"]["qualify_score_threshold"] == 55


async def test_only_crm_admin_creates_users(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    for name in PERSONAS[1:]:
        before = await count_rows(db)
        problem(await client.post(f"{V1}/users", json={"email": f"new-{name}@acme.test", "name": "New",
                                                        "roles": ["crm-admin"]}, headers=org.people[name].h), 403)
        assert await count_rows(db) == before
    r = await client.post(f"{V1}/users", json={"email": "new@acme.test", "name": "New", "roles": ["viewer"]},
                          headers=org.admin.h)
    assert r.status_code == 201, r.text
    # Nor may anyone but an admin change roles (escalate themself).
    for name in PERSONAS[1:]:
        who = org.people[name]
        problem(await client.patch(f"{V1}/users/{who.user_id}", json={"roles": ["crm-admin"]}, headers=who.h), 403)
        me = (await client.get(f"{V1}/users/{who.user_id}", headers=org.admin.h)).json()
        assert me["roles"] == list(who.roles)


async def _key_works(client: httpx.AsyncClient, key: str) -> int:
    return (await client.get(f"{V1}/org", headers={"Authorization": f"Bearer {key}"})).status_code


async def test_api_keys_are_issued_by_an_admin_or_the_user_for_themself(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    for name in PERSONAS:  # everyone may issue a key for themself
        who = org.people[name]
        r = await client.post(f"{V1}/users/{who.user_id}/api-keys", json={"name": "mine"}, headers=who.h)
        assert r.status_code == 201, (name, r.text)
        assert r.json()["user_id"] == who.user_id
        assert await _key_works(client, r.json()["key"]) == 200
    # The admin may issue one for anybody; the key acts as that user.
    r = await client.post(f"{V1}/users/{org.rep.user_id}/api-keys", json={"name": "for rep"}, headers=org.admin.h)
    assert r.status_code == 201, r.text
    h = {"Authorization": f"Bearer {r.json()['key']}"}
    problem(await client.post(f"{V1}/contacts/x/restore", headers=h), 403)  # acts as a rep, not as the admin
    # Nobody else may issue one for someone else: not a rep, not the rep's own manager.
    for name, target in (("rep", "other_rep"), ("rep", "admin"), ("manager", "rep"), ("support", "viewer"),
                         ("viewer", "admin"), ("marketing", "manager")):
        before = await count_rows(db)
        problem(await client.post(f"{V1}/users/{org.people[target].user_id}/api-keys", json={"name": "steal"},
                                  headers=org.people[name].h), 403)
        assert await count_rows(db) == before


async def test_revoking_a_key(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    # A rep revoking someone else's key: 404, the key untouched and still working.
    for name, target in (("rep", "other_rep"), ("rep", "admin"), ("manager", "rep"), ("viewer", "support")):
        victim = org.people[target]
        before = await count_rows(db)
        body = problem(await client.delete(f"{V1}/api-keys/{victim.key_id}", headers=org.people[name].h), 404)
        assert body["detail"] == problem(await client.delete(f"{V1}/api-keys/key_00000000000000000000000000",
                                                             headers=org.people[name].h), 404)["detail"].replace(
            "key_00000000000000000000000000", victim.key_id), "the answer must not differ from an unknown key's"
        assert await count_rows(db) == before
        assert await _key_works(client, victim.key) == 200
        listed = (await client.get(f"{V1}/users/{victim.user_id}/api-keys", headers=org.admin.h)).json()
        assert all(k["revoked_at"] is None for k in listed)
    # A user revokes their own key: it fails at once.
    r = await client.delete(f"{V1}/api-keys/{org.other_rep.key_id}", headers=org.other_rep.h)
    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"] is not None
    assert await _key_works(client, org.other_rep.key) == 401
    # The admin revokes anyone's key.
    r = await client.delete(f"{V1}/api-keys/{org.rep.key_id}", headers=org.admin.h)
    assert r.status_code == 200, r.text
    assert await _key_works(client, org.rep.key) == 401
    assert await _key_works(client, org.manager.key) == 200


# --- another org's ids ------------------------------------------------------------------------

async def test_another_orgs_ids_are_not_found_and_untouched(client: httpx.AsyncClient, db: Database, org: Org,
                                                            other_org: Org) -> None:
    theirs_contact = await make(client, other_org, "contacts", "rep")
    theirs_company = await make(client, other_org, "companies", "rep")
    assert (await link(client, other_org.admin, theirs_contact["id"], theirs_company["id"])).status_code == 201
    trashed_contact = await make(client, other_org, "contacts", "rep")
    trashed_company = await make(client, other_org, "companies", "rep")
    for rec in (trashed_contact, trashed_company):
        plural = "contacts" if rec["id"].startswith("contact_") else "companies"
        assert (await client.delete(f"{V1}/{plural}/{rec['id']}", headers=other_org.admin.h)).status_code == 204
    mine_contact = await make(client, org, "contacts", "rep")
    mine_company = await make(client, org, "companies", "rep")

    tc, tco = theirs_contact["id"], theirs_company["id"]
    calls: list[tuple[str, str, dict[str, Any] | None]] = []
    for plural, rid in (("contacts", tc), ("companies", tco)):
        url = f"{V1}/{plural}/{rid}"
        calls += [("GET", url, None), ("GET", f"{url}/timeline", None), ("PATCH", url, {"name": "Pwned"}),
                  ("DELETE", url, None), ("DELETE", f"{url}?permanent=true", None), ("POST", f"{url}/restore", None)]
    calls += [
        ("GET", f"{V1}/contacts/{tc}/companies", None),
        ("GET", f"{V1}/companies/{tco}/contacts", None),
        ("POST", f"{V1}/contacts/{tc}/companies", {"company_id": mine_company["id"]}),
        ("POST", f"{V1}/contacts/{mine_contact['id']}/companies", {"company_id": tco}),
        ("POST", f"{V1}/contacts/{tc}/companies", {"company_id": tco}),
        ("DELETE", f"{V1}/contacts/{tc}/companies/{tco}", None),
        ("DELETE", f"{V1}/contacts/{mine_contact['id']}/companies/{tco}", None),
        ("POST", f"{V1}/contacts/{trashed_contact['id']}/restore", None),
        ("POST", f"{V1}/companies/{trashed_company['id']}/restore", None),
        ("GET", f"{V1}/users/{other_org.rep.user_id}", None),
        ("PATCH", f"{V1}/users/{other_org.rep.user_id}", {"roles": ["viewer"]}),
        ("GET", f"{V1}/users/{other_org.rep.user_id}/api-keys", None),
        ("POST", f"{V1}/users/{other_org.rep.user_id}/api-keys", {"name": "x"}),
        ("DELETE", f"{V1}/api-keys/{other_org.rep.key_id}", None),
        ("DELETE", f"{V1}/api-keys/{other_org.admin.key_id}", None),
    ]
    watch = [f"{V1}/contacts/{tc}", f"{V1}/companies/{tco}", f"{V1}/contacts/{tc}/companies",
             f"{V1}/users/{other_org.rep.user_id}", f"{V1}/contacts?limit=500", f"{V1}/companies?limit=500"]
    before = await snapshot(client, db, other_org.admin, watch)
    got = {}
    for method, url, body in calls:
        resp = await client.request(method, url, json=body, headers=org.admin.h)
        if resp.status_code == 404:
            problem(resp, 404)
        got[f"{method} {url}"] = resp.status_code
    assert got == {f"{m} {u}": 404 for m, u, _ in calls}
    assert await snapshot(client, db, other_org.admin, watch) == before
    assert await _key_works(client, other_org.rep.key) == 200
    # A rep of this org (own-only update) sees no more than its admin.
    for method, url, body in (("GET", f"{V1}/contacts/{tc}", None), ("PATCH", f"{V1}/contacts/{tc}", {"name": "X"}),
                              ("GET", f"{V1}/companies/{tco}", None), ("PATCH", f"{V1}/companies/{tco}", {"name": "X"}),
                              ("POST", f"{V1}/contacts/{mine_contact['id']}/companies", {"company_id": tco})):
        problem(await client.request(method, url, json=body, headers=org.rep.h), 404)
    assert await snapshot(client, db, other_org.admin, watch) == before
    # Lists and filters never reach across.
    for plural in ("contacts", "companies"):
        r = await client.get(f"{V1}/{plural}", params={"owner_id": other_org.rep.user_id}, headers=org.admin.h)
        assert r.status_code == 200 and r.json()["data"] == []
        r = await client.get(f"{V1}/{plural}", params={"limit": 500}, headers=org.admin.h)
        mine = mine_contact if plural == "contacts" else mine_company
        assert {x["id"] for x in r.json()["data"]} == {mine["id"]}
