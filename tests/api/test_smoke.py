from __future__ import annotations

import httpx

from tests.conftest import Org


async def test_admin_creates_and_reads_a_contact(client: httpx.AsyncClient, org: Org) -> None:
    r = await client.post("/api/v1/contacts", json={"name": "Alice", "email": "Alice@Acme.com"}, headers=org.admin.h)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["email"] == "alice@acme.com"
    got = await client.get(f"/api/v1/contacts/{body['id']}", headers=org.admin.h)
    assert got.status_code == 200
    assert got.headers["etag"] == '"v1"'
