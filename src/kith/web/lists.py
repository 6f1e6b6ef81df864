"""Lists of contacts, companies, leads, deals and activities: search as you type, filters on any
field (custom fields too), sort, column choice, keyset paging, saved views, bulk actions, export.

The page's query string *is* the API list's query string (same filter names, ``q``, ``sort``,
``limit``, ``cursor``) plus the page's own ``col`` (repeated: the columns shown), ``partial=rows``
(only the table, for search as you type) and ``view`` (the saved view applied). So a view can be
saved as its query string, and the export link is the API's export with the same filters.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import Response

from kith.auth.access import require
from kith.core import clock, ids
from kith.core.errors import BadRequest, Conflict, FieldError, KithError, NotFound, ValidationFailed, invalid
from kith.core.listing import DEFAULT_LIMIT, MAX_LIMIT, ListQuery, Page
from kith.core.uow import UnitOfWork
from kith.customfields import service as custom_fields
from kith.pipelines import service as pipelines
from kith.web import pickers
from kith.web.objects import OBJECTS, ObjectSpec
from kith.web.render import Posted, Web, field, may, redirect, render, web_router
from kith.web.sessions import SessionActor
from kith.web.tables import saved_views

router = web_router()

PAGE_PARAMS = frozenset({"col", "partial", "view", "limit", "cursor", "sort", "q", "csrf_token"})
VIEW_DROPS = frozenset({"cursor", "partial", "view", "csrf_token"})
MAX_VIEWS = 50


def _uow(request: Request) -> UnitOfWork:
    return UnitOfWork(request.app.state.db)


def _limit(raw: str | None) -> int:
    try:
        return max(1, min(MAX_LIMIT, int(raw))) if raw else DEFAULT_LIMIT
    except ValueError:
        return DEFAULT_LIMIT


def list_query(spec: ObjectSpec, params: Any) -> ListQuery:
    """The service's ``ListQuery`` from the page's query string (``params``: a multi-dict)."""
    q = (params.get("q") or "").strip() or None
    default_sort = "relevance" if q and spec.path in {"contacts", "companies"} else (
        "-occurred_at" if spec.path == "activities" else "-created_at")
    filters: dict[str, str] = {}
    for name, value in params.multi_items():
        if name not in PAGE_PARAMS and value.strip():
            filters[name] = value.strip()
    return ListQuery(limit=_limit(params.get("limit")), cursor=params.get("cursor") or None,
                     sort=params.get("sort") or default_sort, filters=filters, q=q if spec.search else None)


async def _context(uow: UnitOfWork, who: SessionActor, spec: ObjectSpec, rows: list[dict[str, Any]],
                   query: ListQuery, *, full: bool) -> dict[str, Any]:
    """Lookups a list page needs beside its rows: the names of the users the rows (and the owner
    filter) mention, the owner picker's first choices (full page only), custom fields, stages."""
    mentioned = [r.get(k) for r in rows for k in ("owner_id", "actor_id", "assignee_id")]
    ctx: dict[str, Any] = {
        "user_names": await pickers.user_names(uow, who.actor, [*mentioned, query.filters.get("owner_id")]),
        "owner_choices": [], "custom": [], "stage_names": {}, "stage_options": []}
    if full and ("owner_id" in spec.filters or "owner" in spec.bulk) and may(who, "user:read"):
        ctx["owner_choices"] = await pickers.user_choices(uow, who.actor, None, pickers.FIRST)
    if spec.custom_fields:
        ctx["custom"] = [f for f in await custom_fields.list_fields(uow, who.actor, spec.singular)]
    if spec.path == "deals":
        for p in await pipelines.list_pipelines(uow, who.actor):
            for s in p["stages"]:
                ctx["stage_names"][s["id"]] = s["name"]
                ctx["stage_options"].append((s["id"], f'{p["name"]}: {s["name"]}'))
    elif spec.path == "companies":
        stages = await pipelines.company_stages(uow, who.actor)
        ctx["stage_options"] = [(s["name"], s["name"]) for s in stages["stages"]]
    elif spec.path == "contacts":
        ctx["stage_options"] = [(s, s) for s in spec.choices["stage"]]
    return ctx


async def _views(uow: UnitOfWork, who: SessionActor, spec: ObjectSpec) -> list[dict[str, Any]]:
    v = saved_views.c
    q = (sa.select(v.id, v.name, v.spec).where(v.org_id == who.actor.org_id, v.user_id == who.actor.user_id,
                                             v.object == spec.path).order_by(v.name).limit(MAX_VIEWS))
    async with uow.transaction():
        return [dict(r._mapping) for r in await uow.execute(q)]


def _columns(spec: ObjectSpec, params: Any, custom: list[dict[str, Any]]) -> list[tuple[str, str]]:
    available = dict(spec.columns) | {f'custom:{f["name"]}': f.get("label") or f["name"] for f in custom}
    wanted = [c for c in params.getlist("col") if c in available] or list(spec.default_columns)
    return [(c, available[c]) for c in wanted]


async def show(request: Request, who: SessionActor, spec: ObjectSpec) -> Response:
    require(who.actor, f"{spec.singular}:read")
    uow, params = _uow(request), request.query_params
    query = list_query(spec, params)
    error: KithError | None = None
    try:
        page = await spec.list(uow, who.actor, query)
    except (ValidationFailed, BadRequest) as exc:  # a bad filter or cursor: show it, keep the page
        page, error = Page([], None), exc
    ctx = await _context(uow, who, spec, page.data, query, full=params.get("partial") != "rows")
    columns = _columns(spec, params, ctx["custom"])
    plain = [(k, v) for k, v in params.multi_items() if k not in {"cursor", "partial"}]
    export = "/api/v1/exports?" + urlencode(
        [("object", spec.path), *[(k, v) for k, v in plain if k not in {"col", "view", "limit"} and v]])
    data = dict(spec=spec, rows=page.data, next_cursor=page.next_cursor, columns=columns, query=query,
                params=plain, error=error, export_url=export,
                query_string=urlencode([(k, v) for k, v in plain if k not in VIEW_DROPS]),
                next_url="?" + urlencode([*plain, ("cursor", page.next_cursor)]) if page.next_cursor else None,
                **ctx)
    status = error.status if error else 200
    if params.get("partial") == "rows":
        return render(request, who, "lists/rows.html", status=status, **data)
    views = await _views(uow, who, spec)
    return render(request, who, "lists/list.html", status=status, views=views,
                  all_columns=[*spec.columns, *[(f'custom:{f["name"]}', f.get("label") or f["name"])
                                                for f in ctx["custom"]]],
                  shown={c for c, _ in columns}, **data)


async def save_view(request: Request, who: SessionActor, spec: ObjectSpec, form: FormData) -> Response:
    require(who.actor, f"{spec.singular}:read")
    name = field(form, "name")
    if name is None or len(name) > 200:
        raise invalid("name", "give the view a name (at most 200 characters)")
    raw = field(form, "query") or ""
    from urllib.parse import parse_qsl

    pairs = [(k, v) for k, v in parse_qsl(raw[:4000]) if k not in VIEW_DROPS]
    uow = _uow(request)
    v = saved_views.c
    async with uow.transaction(write=True):
        count = (await uow.execute(sa.select(sa.func.count()).select_from(saved_views).where(
            v.org_id == who.actor.org_id, v.user_id == who.actor.user_id, v.object == spec.path))).scalar_one()
        if count >= MAX_VIEWS:
            raise Conflict(f"you have {MAX_VIEWS} saved views of {spec.path}: delete one first")
        await uow.execute(saved_views.delete().where(
            v.org_id == who.actor.org_id, v.user_id == who.actor.user_id, v.object == spec.path, v.name == name))
        view_id = ids.new("view")
        await uow.execute(saved_views.insert(), {
            "org_id": who.actor.org_id, "id": view_id, "user_id": who.actor.user_id, "object": spec.path,
            "name": name, "spec": {"query": urlencode(pairs)}, "created_at": clock.now()})
    return redirect(f"/{spec.path}?{urlencode([*pairs, ('view', view_id)])}", flash=f"Saved the view “{name}”.")


async def delete_view(request: Request, who: SessionActor, spec: ObjectSpec, view_id: str) -> Response:
    uow = _uow(request)
    v = saved_views.c
    async with uow.transaction(write=True):
        gone = await uow.execute(saved_views.delete().where(
            v.org_id == who.actor.org_id, v.user_id == who.actor.user_id, v.object == spec.path, v.id == view_id))
    if gone.rowcount == 0:
        raise NotFound(f"saved view {view_id!r} does not exist", extra={"id": view_id})
    return redirect(f"/{spec.path}", flash="Deleted the view.")


MAX_BULK = 500


async def bulk(request: Request, who: SessionActor, spec: ObjectSpec, form: FormData) -> Response:
    action_name = field(form, "action") or ""
    action = spec.bulk.get(action_name)
    if action is None:
        raise ValidationFailed("choose a bulk action", errors=[FieldError("action", f"one of {sorted(spec.bulk)}")])
    chosen = list(dict.fromkeys(str(i) for i in form.getlist("id") if isinstance(i, str) and i))
    if not chosen:
        raise invalid("id", "select at least one record")
    if len(chosen) > MAX_BULK:
        raise invalid("id", f"select at most {MAX_BULK} records at once")
    value = field(form, f"{action_name}_value") or ""
    results: list[dict[str, Any]] = []
    for rid in chosen:
        try:
            await action.run(_uow(request), who.actor, rid, value)
            results.append({"id": rid, "ok": True, "message": "done"})
        except KithError as exc:
            msg = exc.detail + (f" [rule {exc.extra['rule']}]" if "rule" in exc.extra else "")
            if exc.errors:
                msg += " (" + "; ".join(f"{e.field}: {e.message}" for e in exc.errors) + ")"
            results.append({"id": rid, "ok": False, "message": msg, "status": exc.status})
    back = field(form, "back") or f"/{spec.path}"
    return render(request, who, "lists/bulk.html", spec=spec, action=action, results=results,
                  done=sum(1 for r in results if r["ok"]), back=back if back.startswith("/") else "/")


def _routes(spec: ObjectSpec) -> None:
    async def list_page(request: Request, who: Web) -> Response:
        return await show(request, who, spec)

    async def view_post(request: Request, who: Web, form: Posted) -> Response:
        return await save_view(request, who, spec, form)

    async def view_delete(request: Request, who: Web, form: Posted, view_id: str) -> Response:
        return await delete_view(request, who, spec, view_id)

    async def bulk_post(request: Request, who: Web, form: Posted) -> Response:
        return await bulk(request, who, spec, form)

    router.add_api_route(f"/{spec.path}", list_page, methods=["GET"], name=f"{spec.path}-list")
    router.add_api_route(f"/{spec.path}/views", view_post, methods=["POST"], name=f"{spec.path}-save-view")
    router.add_api_route(f"/{spec.path}/views/{{view_id}}/delete", view_delete, methods=["POST"],
                         name=f"{spec.path}-delete-view")
    router.add_api_route(f"/{spec.path}/bulk", bulk_post, methods=["POST"], name=f"{spec.path}-bulk")


for _spec in OBJECTS.values():
    _routes(_spec)
