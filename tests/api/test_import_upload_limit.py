"""Import uploads stream past the general body limit up to their own (KITH_MAX_IMPORT_BYTES)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from kith.config import Settings
from kith.core.db import Database
from kith.entrypoints.app import create_app
from tests.conftest import Org, count_rows, problem

GENERAL_LIMIT = 64 * 1024
IMPORT_LIMIT = 512 * 1024


@pytest.fixture
async def upload_client(db: Database, db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=db_url, max_body_bytes=GENERAL_LIMIT, max_import_bytes=IMPORT_LIMIT)
    app = create_app(settings, db=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kith.test") as c:
        yield c


def people_csv(rows: int) -> bytes:
    lines = ["name,email"] + [f"Person {i:06d},person{i:06d}@example.com" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


async def test_an_upload_over_the_general_limit_but_under_the_import_limit_is_accepted(
        upload_client: httpx.AsyncClient, db: Database, org: Org) -> None:
    content = people_csv(4_000)
    assert GENERAL_LIMIT < len(content) < IMPORT_LIMIT
    resp = await upload_client.post("/api/v1/imports", headers=org.admin.h, data={"object": "contacts"},
                                    files={"file": ("people.csv", content, "text/csv")})
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] == "queued"


async def test_an_upload_over_the_import_limit_is_refused_with_413_and_nothing_is_stored(
        upload_client: httpx.AsyncClient, db: Database, org: Org) -> None:
    before = await count_rows(db)
    content = people_csv(30_000)
    assert len(content) > IMPORT_LIMIT
    resp = await upload_client.post("/api/v1/imports", headers=org.admin.h, data={"object": "contacts"},
                                    files={"file": ("people.csv", content, "text/csv")})
    body = problem(resp, 413)
    assert body["max_bytes"] == IMPORT_LIMIT
    assert await count_rows(db) == before


async def test_a_chunked_upload_growing_past_the_import_limit_is_refused_and_nothing_is_stored(
        upload_client: httpx.AsyncClient, db: Database, org: Org) -> None:
    before = await count_rows(db)
    boundary = "kithboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"object\"\r\n\r\ncontacts\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.csv\"\r\n"
            "Content-Type: text/csv\r\n\r\n").encode()

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the size is only known by counting
        yield head
        for _ in range(12):
            yield people_csv(1_500)
        yield f"\r\n--{boundary}--\r\n".encode()

    kind = f"multipart/form-data; boundary={boundary}"
    resp = await upload_client.post("/api/v1/imports", content=chunks(), headers={**org.admin.h, "content-type": kind})
    assert problem(resp, 413)["max_bytes"] == IMPORT_LIMIT
    assert await count_rows(db) == before


async def test_other_routes_keep_the_general_limit(upload_client: httpx.AsyncClient, org: Org) -> None:
    resp = await upload_client.post("/api/v1/contacts", headers={**org.admin.h, "content-type": "application/json"},
                                    content=b'{"name": "' + b"x" * (GENERAL_LIMIT + 10) + b'"}')
    problem(resp, 413)
