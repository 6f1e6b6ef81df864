"""Activities routes: log, list, read, change, complete and delete activities; a record's activities;
my open tasks."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from starlette.responses import Response

from kith.activities import service
from kith.activities.schemas import ActivityComplete, ActivityCreate, ActivityOut, ActivityPage, ActivityPatch
from kith.core.listing import MAX_LIMIT, ListQuery
from kith.http import responses as r
from kith.http.deps import CurrentActor, IfMatch, Listing, Uow
from kith.http.routing import READ, WRITE, router

api = router("activities")

Id = Annotated[str, Path(max_length=40)]


async def activity_listing(request: Request, query: Listing) -> ListQuery:
    """The list parameters, sorted by ``-occurred_at`` unless ``sort`` is given."""
    return query if "sort" in request.query_params else replace(query, sort=service.DEFAULT_SORT)


ActivityListing = Annotated[ListQuery, Depends(activity_listing)]

_FILTERS_DOC = (
    "Filters: `type`, `direction`, `channel`, `contact_id`, `company_id`, `deal_id`, `lead_id`, `actor_id`, "
    "`assignee_id` (`me` names you), `open` (`true`: to-dos not completed), `due_after`/`due_before`, "
    "`occurred_after`/`occurred_before` (ISO 8601 with timezone). Sort: `occurred_at` (default, newest "
    "first), `created_at`, `updated_at`, prefix `-` for descending. A sales-rep sees the activities they "
    "wrote or are assigned to (and their team's, for a manager).")


@api.get("/activities", response_model=ActivityPage, responses=READ, summary="List activities")
async def list_activities(query: ActivityListing, actor: CurrentActor, uow: Uow) -> r.JSON:
    page = await service.list_activities(uow, actor, query)
    return r.JSON({"data": page.data, "next_cursor": page.next_cursor})


list_activities.__doc__ = f"Keyset-paginated activities. {_FILTERS_DOC}"


@api.post("/activities", response_model=ActivityOut, status_code=201, responses=WRITE, summary="Log an activity")
async def create_activity(body: ActivityCreate, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Log a call, email, meeting, note, task, demo, sms or chat. Links (`contact_id`, `company_id`,
    `deal_id`, `lead_id`) must be records of your org you can see (422 otherwise); on a lead or deal
    without `contact_id`, the lead's (deal's) contact is linked too.

    A task, anything with `due_at` and anything dated in the future is a **to-do** (`status: open`,
    assigned to you unless `assignee_id` names another active user, who is notified); anything else
    is a record of what happened (`status: completed`).

    Seed 002 communications: a done **outbound** call, email, meeting, demo, sms or chat sets the
    contact's `last_contacted_at` (when later than the current one) and moves its `new` leads to
    `contacted`: the one named by `lead_id`, or without `lead_id` every `new` lead of the contact."""
    row = await service.log_activity(uow, actor, body)
    return r.record(row, 201, {"Location": f"/api/v1/activities/{row['id']}"})


@api.get("/tasks/mine", response_model=ActivityPage, responses=READ, summary="My open tasks")
async def my_tasks(actor: CurrentActor, uow: Uow,
                   limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
                   cursor: Annotated[str | None, Query(max_length=2000)] = None) -> r.JSON:
    """Your open to-dos (any activity assigned to you and not completed), soonest due first, those
    without a due date last; `overdue` is true when `due_at` has passed."""
    page = await service.my_tasks(uow, actor, limit=limit, cursor=cursor)
    return r.JSON({"data": page.data, "next_cursor": page.next_cursor})


@api.get("/activities/{activity_id}", response_model=ActivityOut, responses=READ, summary="Get an activity")
async def get_activity(activity_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    return r.record(await service.get_activity(uow, actor, activity_id))


@api.patch("/activities/{activity_id}", response_model=ActivityOut, responses=WRITE, summary="Update an activity")
async def update_activity(activity_id: Id, body: ActivityPatch, actor: CurrentActor, uow: Uow,
                          version: IfMatch) -> r.JSON:
    """Change only the fields sent; `metadata` merges (RFC 7386). Send `If-Match` to refuse a stale
    write (412). Changing `assignee_id` to another user notifies them."""
    return r.record(await service.update_activity(uow, actor, activity_id, body, version))


@api.post("/activities/{activity_id}/complete", response_model=ActivityOut, responses=WRITE,
          summary="Complete an activity")
async def complete_activity(activity_id: Id, actor: CurrentActor, uow: Uow,
                            body: ActivityComplete | None = None) -> r.JSON:
    """open → completed, with an optional `outcome`. Completing a completed activity answers 409
    (`invalid-transition`). A done outbound communication updates its contact and leads as when logged."""
    outcome = body.outcome if body is not None else None
    return r.record(await service.complete_activity(uow, actor, activity_id, outcome))


@api.delete("/activities/{activity_id}", status_code=204, responses=WRITE, summary="Delete an activity")
async def delete_activity(activity_id: Id, actor: CurrentActor, uow: Uow, version: IfMatch) -> Response:
    """Remove the activity from every list and timeline (the `activity.deleted` event stays in the
    linked records' timelines)."""
    await service.delete_activity(uow, actor, activity_id, version)
    return Response(status_code=204)


def _record_activities(plural: str, resource: str) -> None:
    async def record_activities(record_id: Id, query: ActivityListing, actor: CurrentActor, uow: Uow) -> r.JSON:
        page = await service.activities_of(uow, actor, resource, record_id, query)
        return r.JSON({"data": page.data, "next_cursor": page.next_cursor})

    record_activities.__doc__ = (f"The activities linked to this {resource} that you may read (404 when the "
                                 f"{resource} is absent or not visible to you). {_FILTERS_DOC}")
    api.add_api_route(f"/{plural}/{{record_id}}/activities", record_activities, methods=["GET"],
                      response_model=ActivityPage, responses=READ, name=f"{resource}_activities",
                      summary=f"A {resource}'s activities")


for _plural, _resource in (("contacts", "contact"), ("companies", "company"), ("deals", "deal"), ("leads", "lead")):
    _record_activities(_plural, _resource)
