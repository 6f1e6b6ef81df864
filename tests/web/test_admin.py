"""The AdminApp pages: the persona matrix (only crm-admin), CSRF, escaping, and each editor going
through its service (stages, company stages, users, API keys shown once, widget origins, webhooks
with deliveries, automation rules, custom fields, thresholds, the import wizard page)."""

from __future__ import annotations

import re

import pytest

from kith.config import Settings
from kith.core.db import Database
from tests.conftest import Org, count_rows
from tests.web.conftest import Browser, count_statements

PAGES = ["/admin", "/admin/pipelines", "/admin/company-stages", "/admin/users", "/admin/api-keys",
         "/admin/widget", "/admin/webhooks", "/admin/automations", "/admin/custom-fields", "/admin/settings",
         "/admin/imports"]


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Webhook targets on this machine are allowed (nothing resolves public names here)."""
    return Settings(database_url=db_url, max_body_bytes=64 * 1024, webhooks_allow_private=True)


async def _pipeline(client, org: Org) -> dict:
    resp = await client.get("/api/v1/pipelines", headers=org.admin.h)
    return next(p for p in resp.json()["data"] if p["is_default"])


@pytest.mark.parametrize("path", PAGES)
async def test_every_admin_page_renders_for_an_admin(web, org: Org, path: str) -> None:
    b: Browser = await web(org.admin)
    resp = await b.get(path)
    assert resp.status_code == 200, resp.text[:500]
    assert 'aria-label="Admin sections"' in resp.text
    for form in re.findall(r'<form method="post".*?</form>', resp.text, flags=re.S):
        assert 'name="csrf_token"' in form


@pytest.mark.parametrize("persona", ["manager", "rep", "other_rep", "support", "marketing", "viewer"])
async def test_other_personas_get_403_pages(web, org: Org, db: Database, persona: str) -> None:
    b: Browser = await web(getattr(org, persona))
    for path in PAGES:
        resp = await b.get(path)
        assert resp.status_code == 403, (path, resp.status_code)
        assert "text/html" in resp.headers["content-type"]
    before = await count_rows(db, "users", "pipelines", "webhooks")
    resp = await b.post("/admin/users", {"name": "Mallory", "email": "m@x.dev", "roles": "crm-admin"})
    assert resp.status_code == 403
    resp = await b.post("/admin/pipelines", {"name": "Sneaky"})
    assert resp.status_code == 403
    assert await count_rows(db, "users", "pipelines", "webhooks") == before
    assert "/admin" not in (await b.get("/")).text.split("<main")[0]  # no Admin link in the nav


async def test_posts_without_csrf_are_refused(web, org: Org, db: Database) -> None:
    b: Browser = await web(org.admin)
    await b.get("/admin/users")
    before = await count_rows(db, "users", "pipelines", "api_keys")
    for path, data in [("/admin/users", {"name": "Eve", "email": "eve@x.dev", "roles": "viewer"}),
                       ("/admin/pipelines", {"name": "No token"}),
                       ("/admin/api-keys", {"user_id": org.admin.user_id, "name": "k"})]:
        resp = await b.post(path, data, csrf=False)
        assert resp.status_code == 403, path
    assert await count_rows(db, "users", "pipelines", "api_keys") == before


async def test_api_key_secret_is_shown_once_and_works(web, org: Org, client) -> None:
    b: Browser = await web(org.admin)
    await b.get("/admin/api-keys")
    posted = await b.post("/admin/api-keys", {"user_id": org.rep.user_id, "name": "zapier"})
    assert posted.status_code == 303 and "shown=" in posted.headers["location"]
    resp = await b.get(posted.headers["location"])
    secret = re.search(r'data-secret>([^<]+)<', resp.text).group(1).strip()
    assert "shown only this once" in resp.text
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code in (200, 404), me.text  # the key authenticates
    assert me.status_code != 401
    again = await b.get(f"/admin/api-keys?user={org.rep.user_id}")
    assert secret not in again.text and "zapier" in again.text
    key_id = re.search(r'<td>zapier</td><td><code>([^<]+)</code>', again.text).group(1)
    resp = await b.post(f"/admin/api-keys/{key_id}/revoke", {})
    assert resp.status_code == 303
    assert (await client.get("/api/v1/contacts", headers={"Authorization": f"Bearer {secret}"})).status_code == 401


async def test_stage_editor_renames_reorders_adds_and_deletes_with_a_target(web, org: Org, client) -> None:
    p = await _pipeline(client, org)
    stages = p["stages"]
    deal = (await client.post("/api/v1/deals", headers=org.rep.h, json={
        "title": "On stage 1", "value": {"amount": "10", "currency": "USD"}})).json()
    assert deal["stage_id"] == stages[0]["id"]
    b: Browser = await web(org.admin)
    await b.get("/admin/pipelines")
    form: list[tuple[str, str]] = []
    for n, s in enumerate(stages):
        pos = {0: len(stages) + 5, 1: 0}.get(n, n)  # the first stage goes last-ish, the second first
        form += [(f"s{n}.id", s["id"]), (f"s{n}.name", s["name"] + (" renamed" if n == 1 else "")),
                 (f"s{n}.position", str(pos)), (f"s{n}.probability", str(s["probability"])),
                 (f"s{n}.rot", str(s["rot_period_days"] or "")), (f"s{n}.outcome", s["outcome"] or "")]
    form += [("s0.delete", "on"), ("s0.target", stages[1]["id"])]
    k = len(stages)
    form += [(f"s{k}.name", "Brand new"), (f"s{k}.position", "1"), (f"s{k}.probability", "15"), (f"s{k}.outcome", "")]
    resp = await b.post(f"/admin/pipelines/{p['id']}/stages", form)
    assert resp.status_code == 303, resp.text[:1500]
    after = (await client.get(f"/api/v1/pipelines/{p['id']}", headers=org.admin.h)).json()["stages"]
    names = [s["name"] for s in after]
    assert names[0] == stages[1]["name"] + " renamed" and names[1] == "Brand new"
    assert stages[0]["name"] not in names
    assert next(s for s in after if s["name"] == "Brand new")["probability"] == 15
    got = (await client.get(f"/api/v1/deals/{deal['id']}", headers=org.admin.h)).json()
    assert got["stage_id"] == stages[1]["id"]


async def test_stage_editor_errors_are_shown_and_nothing_changes(web, org: Org, client) -> None:
    p = await _pipeline(client, org)
    stages = p["stages"]
    await client.post("/api/v1/deals", json={"title": "Blocker", "value": {"amount": "10", "currency": "USD"}},
                      headers=org.rep.h)
    b: Browser = await web(org.admin)
    await b.get("/admin/pipelines")
    form = []
    for n, s in enumerate(stages):
        form += [(f"s{n}.id", s["id"]), (f"s{n}.name", s["name"]), (f"s{n}.outcome", s["outcome"] or "")]
    form += [("s0.delete", "on")]  # holds a deal, no target
    resp = await b.post(f"/admin/pipelines/{p['id']}/stages", form)
    assert resp.status_code == 422 and 'role="alert"' in resp.text
    bad = [(k, v) for k, v in form if k != "s0.delete"] + [("s1.probability", "250")]
    resp = await b.post(f"/admin/pipelines/{p['id']}/stages", bad)
    assert resp.status_code == 422 and "probability" in resp.text
    after = (await client.get(f"/api/v1/pipelines/{p['id']}", headers=org.admin.h)).json()["stages"]
    assert [s["id"] for s in after] == [s["id"] for s in stages]


async def test_pipeline_create_and_company_stages(web, org: Org, client) -> None:
    b: Browser = await web(org.admin)
    await b.get("/admin/pipelines")
    assert (await b.post("/admin/pipelines", {"name": "Partners"})).status_code == 303
    names = [p["name"] for p in (await client.get("/api/v1/pipelines", headers=org.admin.h)).json()["data"]]
    assert "Partners" in names
    assert (await b.post("/admin/pipelines", {"name": ""})).status_code == 422
    page = await b.get("/admin/company-stages")
    ids = re.findall(r'name="(s\d+)\.id" value="([^"]+)"', page.text)
    current = re.findall(r'name="(s\d+)\.name" value="([^"]*)"', page.text)
    form = [(f"{k}.id", v) for k, v in ids] + [(f"{k}.name", v) for k, v in current]
    form.append((f"s{len(ids)}.name", "Champion"))
    resp = await b.post("/admin/company-stages", form)
    assert resp.status_code == 303, resp.text[:800]
    assert "Champion" in (await b.get("/admin/company-stages")).text


async def test_users_create_change_roles_and_deactivate(web, org: Org, client) -> None:
    b: Browser = await web(org.admin)
    await b.get("/admin/users")
    resp = await b.post("/admin/users", [("name", "Nina New"), ("email", "nina@kith.test"), ("roles", "sales-rep"),
                                         ("manager_id", org.manager.user_id)])
    assert resp.status_code == 303, resp.text[:800]
    users = (await client.get("/api/v1/users", headers=org.admin.h)).json()
    nina = next(u for u in users if u["email"] == "nina@kith.test")
    assert nina["roles"] == ["sales-rep"] and nina["manager_id"] == org.manager.user_id
    resp = await b.post(f"/admin/users/{nina['id']}", [("roles_sent", "1"), ("roles", "sales-manager"),
                                                       ("manager_id", "")])
    assert resp.status_code == 303
    resp = await b.post(f"/admin/users/{nina['id']}", {"is_active": "false"})
    assert resp.status_code == 303
    got = (await client.get(f"/api/v1/users/{nina['id']}", headers=org.admin.h)).json()
    assert got["roles"] == ["sales-manager"] and got["manager_id"] is None and got["is_active"] is False
    bad = await b.post("/admin/users", [("name", "X"), ("email", "not-an-email"), ("roles", "sales-rep")])
    assert bad.status_code == 422 and "email" in bad.text
    bad = await b.post("/admin/users", [("name", "X"), ("email", "x@kith.test"), ("roles", "overlord")])
    assert bad.status_code == 422


async def test_widget_snippet_and_origins(web, org: Org, client) -> None:
    b: Browser = await web(org.admin)
    page = await b.get("/admin/widget")
    key = (await client.get("/api/v1/org", headers=org.admin.h)).json()["widget_key"]
    assert f'/widget.js" data-key="{key}"' in page.text.replace("&#34;", '"').replace("&quot;", '"') or \
        f"data-key=&#34;{key}&#34;" in page.text or f'data-key="{key}"' in page.text
    resp = await b.post("/admin/widget", {"origins": "https://www.example.com\nhttps://shop.example.com"})
    assert resp.status_code == 303
    settings = (await client.get("/api/v1/org", headers=org.admin.h)).json()["settings"]
    assert settings["widget_origins"] == ["https://www.example.com", "https://shop.example.com"]
    assert (await b.post("/admin/widget/rotate", {})).status_code == 303
    assert (await client.get("/api/v1/org", headers=org.admin.h)).json()["widget_key"] != key


async def test_webhooks_secret_once_deliveries_and_toggle(web, org: Org, client) -> None:
    b: Browser = await web(org.admin)
    await b.get("/admin/webhooks")
    bad = await b.post("/admin/webhooks", {"url": "ftp://nope", "events": "deal.*"})
    assert bad.status_code == 422
    posted = await b.post("/admin/webhooks", {"url": "http://127.0.0.1:9/kith", "events": "deal.*, contact.created"})
    assert posted.status_code == 303
    resp = await b.get(posted.headers["location"])
    assert resp.status_code == 200 and "data-secret" in resp.text
    hook = (await client.get("/api/v1/webhooks", headers=org.admin.h)).json()["data"][0]
    assert hook["events"] == ["deal.*", "contact.created"]
    detail = await b.get(f"/admin/webhooks/{hook['id']}")
    assert detail.status_code == 200 and "Deliveries" in detail.text and "data-secret" not in detail.text
    assert (await b.post(f"/admin/webhooks/{hook['id']}/enabled", {"enabled": "false"})).status_code == 303
    assert (await client.get(f"/api/v1/webhooks/{hook['id']}", headers=org.admin.h)).json()["enabled"] is False


async def test_automation_rules_create_and_toggle(web, org: Org, client) -> None:
    b: Browser = await web(org.admin)
    await b.get("/admin/automations")
    bad = await b.post("/admin/automations", {"name": "Broken", "trigger": "contact.qualified", "actions": "[not json"})
    assert bad.status_code == 422 and "actions" in bad.text
    resp = await b.post("/admin/automations", {
        "name": "Follow up", "trigger": "contact.qualified", "enabled": "on",
        "actions": '[{"type": "create_activity", "activity_type": "task", "subject": "Call {{ contact.name }}"}]'})
    assert resp.status_code == 303, resp.text[:1500]
    rule = (await client.get("/api/v1/automations", headers=org.admin.h)).json()["data"][0]
    assert rule["enabled"] is True
    assert (await b.post(f"/admin/automations/{rule['id']}/enabled", {"enabled": "false"})).status_code == 303
    assert (await client.get(f"/api/v1/automations/{rule['id']}", headers=org.admin.h)).json()["enabled"] is False


async def test_custom_fields_create_and_delete(web, org: Org, client) -> None:
    b: Browser = await web(org.admin)
    await b.get("/admin/custom-fields")
    resp = await b.post("/admin/custom-fields", {"object": "contact", "name": "plan", "label": "Plan",
                                                 "type": "select", "options": "free, pro"})
    assert resp.status_code == 303, resp.text[:800]
    page = await b.get("/admin/custom-fields")
    assert "free, pro" in page.text
    field_id = re.search(r'/admin/custom-fields/([^/"]+)/delete', page.text).group(1)
    assert (await b.post("/admin/custom-fields", {"object": "contact", "name": "Bad Name", "label": "x",
                                                  "type": "text"})).status_code == 422
    assert (await b.post(f"/admin/custom-fields/{field_id}/delete", {})).status_code == 303
    assert "free, pro" not in (await b.get("/admin/custom-fields")).text


async def test_thresholds(web, org: Org, client) -> None:
    b: Browser = await web(org.admin)
    await b.get("/admin/settings")
    resp = await b.post("/admin/settings", {"high_value_amount": "75000", "high_value_currency": "USD",
                                            "lead_qualify_score_threshold": "55", "rot_period_days": "14"})
    assert resp.status_code == 303, resp.text[:800]
    s = (await client.get("/api/v1/org", headers=org.admin.h)).json()["settings"]
    assert s["lead_qualify_score_threshold"] == 55 and s["rot_period_days"] == 14
    assert float(s["high_value_threshold"]["amount"]) == 75000
    bad = await b.post("/admin/settings", {"rot_period_days": "0"})
    assert bad.status_code == 422 and "rot_period_days" in bad.text
    bad = await b.post("/admin/settings", {"lead_qualify_score_threshold": "lots"})
    assert bad.status_code == 422


async def test_admin_output_is_escaped(web, org: Org, client) -> None:
    evil = '<img src=x onerror=alert(1)>'
    await client.post("/api/v1/users", json={"name": evil, "email": "evil@kith.test", "roles": ["viewer"]},
                      headers=org.admin.h)
    b: Browser = await web(org.admin)
    for path in ("/admin/users", "/admin/api-keys"):
        html = (await b.get(path)).text
        assert evil not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


async def test_another_orgs_ids_are_404(web, org: Org, other_org: Org, client) -> None:
    theirs = await _pipeline(client, other_org)
    hook = (await client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ["*"]},
                              headers=other_org.admin.h)).json()
    b: Browser = await web(org.admin)
    await b.get("/admin")
    assert (await b.post(f"/admin/pipelines/{theirs['id']}", {"name": "Mine now"})).status_code == 404
    assert (await b.post(f"/admin/pipelines/{theirs['id']}/stages",
                         [("s0.name", "X")])).status_code == 404
    assert (await b.get(f"/admin/webhooks/{hook['id']}")).status_code == 404
    assert (await b.post(f"/admin/users/{other_org.rep.user_id}", {"name": "Hijack"})).status_code == 404
    still = (await client.get(f"/api/v1/pipelines/{theirs['id']}", headers=other_org.admin.h)).json()
    assert still["name"] == theirs["name"]


async def test_admin_pages_run_a_bounded_number_of_statements(web, org: Org, client, db: Database) -> None:
    b: Browser = await web(org.admin)
    for path in PAGES:
        await b.get(path)
        with count_statements(db) as seen:
            assert (await b.get(path)).status_code == 200
        assert len(seen) <= 8, (path, len(seen), seen)
