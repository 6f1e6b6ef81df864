"""The bare-framework reference: a minimal FastAPI app served by uvicorn exactly like `kith serve`.

One async POST route that parses a small pydantic body (the same JSON the benchmark sends to
`POST /api/v1/contacts`) and answers JSON, and one async GET route with a path parameter. No
database, no auth, no middleware: the ceiling the framework + server put on any endpoint.
"""

from __future__ import annotations

import itertools

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()
_ids = itertools.count(1)


class ContactIn(BaseModel):
    name: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    stage: str = "lead"
    source: str | None = None


@app.post("/items", status_code=201)
async def create_item(body: ContactIn) -> dict[str, object]:
    return {"id": f"item_{next(_ids)}", **body.model_dump()}


@app.get("/items/{item_id}")
async def get_item(item_id: str) -> dict[str, object]:
    return {"id": item_id, "name": "Ada Lovelace", "email": "ada@example.com", "stage": "qualified"}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
