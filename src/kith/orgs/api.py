"""Admin routes: the org, its users and their API keys (DESIGN §3)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from kith.http import responses as r
from kith.http.deps import CurrentActor, IfMatch, Uow
from kith.http.routing import READ, WRITE, router
from kith.orgs import service
from kith.orgs.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    OrgOut,
    OrgPatch,
    UserCreate,
    UserOut,
    UserPatch,
)

api = router("admin")
Id = Annotated[str, Path(max_length=40)]


@api.get("/org", response_model=OrgOut, responses=READ)
async def get_org(actor: CurrentActor, uow: Uow) -> r.JSON:
    return r.record(await service.get_org(uow, actor))


@api.patch("/org", response_model=OrgOut, responses=WRITE)
async def patch_org(body: OrgPatch, actor: CurrentActor, uow: Uow, version: IfMatch) -> r.JSON:
    """Change the org's name or settings (crm-admin); `rotate_widget_key` issues a new widget key."""
    return r.record(await service.update_org(uow, actor, body, version))


@api.get("/users", response_model=list[UserOut], responses=READ)
async def list_users(actor: CurrentActor, uow: Uow) -> r.JSON:
    return r.JSON(await service.list_users(uow, actor))


@api.post("/users", response_model=UserOut, status_code=201, responses=WRITE)
async def create_user(body: UserCreate, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Add a user with roles (crm-admin)."""
    return r.record(await service.create_user(uow, actor, body), 201)


@api.get("/users/{user_id}", response_model=UserOut, responses=READ)
async def get_user(user_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    return r.record(await service.get_user(uow, actor, user_id))


@api.patch("/users/{user_id}", response_model=UserOut, responses=WRITE)
async def patch_user(user_id: Id, body: UserPatch, actor: CurrentActor, uow: Uow, version: IfMatch) -> r.JSON:
    return r.record(await service.update_user(uow, actor, user_id, body, version))


@api.get("/users/{user_id}/api-keys", response_model=list[ApiKeyOut], responses=READ)
async def list_keys(user_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    return r.JSON(await service.list_api_keys(uow, actor, user_id))


@api.post("/users/{user_id}/api-keys", response_model=ApiKeyCreated, status_code=201, responses=WRITE)
async def create_key(user_id: Id, actor: CurrentActor, uow: Uow, body: ApiKeyCreate | None = None) -> r.JSON:
    """Issue an API key acting as the user (crm-admin, or the user for themself). The key is shown once."""
    row, key = await service.create_api_key(uow, actor, user_id, body or ApiKeyCreate())
    return r.JSON({**row, "key": key}, status_code=201)


@api.delete("/api-keys/{key_id}", response_model=ApiKeyOut, responses=WRITE)
async def revoke_key(key_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Revoke a key: it fails from this moment on every process."""
    return r.JSON(await service.revoke_api_key(uow, actor, key_id))
