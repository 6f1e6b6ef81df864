"""Org settings: merge-patch semantics, validation, and the widget key rotation."""

from __future__ import annotations

import httpx

from tests.conftest import Org, problem


async def test_settings_merge_and_untouched_settings_stay(client: httpx.AsyncClient, org: Org) -> None:
    r = await client.patch("/api/v1/org", headers=org.admin.h, json={"settings": {
        "currency": "eur", "high_value_threshold": {"amount": "75000", "currency": "EUR"}}})
    assert r.status_code == 200, r.text
    s = r.json()["settings"]
    assert s["currency"] == "EUR" and s["high_value_threshold"] == {"amount": "75000.00", "currency": "EUR"}
    assert s["qualify_score_threshold"] == 40  # untouched settings stay
    r = await client.patch("/api/v1/org", headers=org.admin.h, json={"settings": {"currency": None}})
    assert problem(r, 422)["errors"][0]["field"] == "settings.currency"  # every setting has a value
    r = await client.patch("/api/v1/org", headers=org.admin.h, json={"settings": {"currency": "usd"}})
    assert r.status_code == 200 and r.json()["settings"]["currency"] == "USD"
    assert r.json()["settings"]["high_value_threshold"]["currency"] == "EUR"


async def test_rotating_the_widget_key_retires_the_old_one(client: httpx.AsyncClient, org: Org) -> None:
    r = await client.patch("/api/v1/org", headers=org.admin.h, json={"rotate_widget_key": True})
    new_key = r.json()["widget_key"]
    assert new_key != org.widget_key and new_key.startswith("pk_")
    old = await client.post("/api/v1/widget/identify", json={"visitor_id": "v"},
                            headers={"X-Kith-Widget-Key": org.widget_key})
    problem(old, 401)
    ok = await client.post("/api/v1/widget/identify", json={"visitor_id": "v"}, headers={"X-Kith-Widget-Key": new_key})
    assert ok.status_code == 200


async def test_invalid_settings_name_the_field(client: httpx.AsyncClient, org: Org) -> None:
    for body, field in [({"settings": {"timezone": "Mars/Base"}}, "settings.timezone"),
                        ({"settings": {"qualify_score_threshold": 101}}, "settings.qualify_score_threshold"),
                        ({"settings": {"currency": "XXX"}}, "settings.currency")]:
        r = await client.patch("/api/v1/org", headers=org.admin.h, json=body)
        assert problem(r, 422)["errors"][0]["field"] == field
