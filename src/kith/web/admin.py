"""The AdminApp pages (issue 7 point 5): pipelines and stages, company stages, users and roles, API
keys, the widget key and allowed origins, webhooks with delivery logs, automation rules, custom
fields, org thresholds and the import wizard.

Every page needs ``org:manage`` (crm-admin): anyone else gets the 403 page. Every form is a POST
carrying the session's CSRF token and calls the same service as the API, so rules, validation
(422 with the field at fault) and events are the API's. Secrets (a new API key, a webhook's or an
automation's signing secret) follow POST-redirect-GET through ``kith.web.reveal``: the POST seals
the secret for this browser session and redirects to the page with a one-time ``?shown=`` id; that
GET shows it and consumes it, so a reload says "already shown" instead of making another one. The
secret is never put in a URL or a cookie, nor stored in clear.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import Response

from kith.auth.access import require
from kith.auth.permissions import ROLES
from kith.automations import service as automations
from kith.automations.schemas import AutomationCreate, AutomationPatch
from kith.config import Settings
from kith.core.errors import FieldError, KithError, ValidationFailed
from kith.core.listing import ListQuery
from kith.core.uow import UnitOfWork
from kith.customfields import service as customfields
from kith.customfields.model import OBJECTS, FieldType
from kith.customfields.schemas import CustomFieldCreate
from kith.orgs import service as orgs
from kith.orgs.schemas import ApiKeyCreate, OrgPatch, UserCreate, UserPatch
from kith.pipelines import service as pipelines
from kith.pipelines.schemas import CompanyStagesPatch, PipelineCreate, PipelinePatch, StagesPatch
from kith.rules import RULES
from kith.web import reveal, sessions
from kith.web.board import parse
from kith.web.render import Posted, Web, field, redirect, render, web_router
from kith.web.sessions import SessionActor
from kith.webhooks import service as webhooks
from kith.webhooks.schemas import WebhookCreate, WebhookPatch

router = web_router()

SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("pipelines", "Pipelines & stages", "Deal pipelines: stages, order, probability, rot period, outcomes."),
    ("company-stages", "Company stages", "The lifecycle stages of companies."),
    ("users", "Users & roles", "Create users, change roles and managers, deactivate."),
    ("api-keys", "API keys", "Create (the secret is shown once) and revoke keys."),
    ("widget", "Website widget", "The publishable widget key, allowed origins and the install snippet."),
    ("webhooks", "Webhooks", "Subscriptions and their delivery logs."),
    ("automations", "Automation rules", "When an event happens and conditions hold, do actions."),
    ("custom-fields", "Custom fields", "Extra fields on contacts and companies."),
    ("settings", "Thresholds & settings", "Business-rule thresholds, currency, rot period, time zone."),
    ("imports", "Import", "Upload a CSV or XLSX, map columns, dry run, run, revert."),
)


def _guard(who: SessionActor) -> None:
    require(who.actor, "org:manage")


def _uow(request: Request) -> UnitOfWork:
    return UnitOfWork(request.app.state.db)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _window(request: Request) -> timedelta:
    return timedelta(seconds=_settings(request).outbox_window_seconds)


def _page(request: Request, who: SessionActor, template: str, section: str, *, code: int = 200,
          **ctx: Any) -> Response:
    return render(request, who, template, status=code, sections=SECTIONS, section=section, **ctx)


def _int(form: FormData, name: str) -> int | str | None:
    """An integer field (the model reports a bad value with the field's name); None when blank."""
    raw = field(form, name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return raw


def _json(form: FormData, name: str, default: Any) -> Any:
    raw = field(form, name)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValidationFailed("the form has invalid values", errors=[FieldError(name, f"not JSON: {exc}")]) from None


def _lines(raw: str | None) -> list[str]:
    return [x.strip() for x in (raw or "").replace(",", "\n").splitlines() if x.strip()]


async def _reveal_next(request: Request, who: SessionActor, url: str, secret: str, meta: dict[str, Any],
                       flash: str) -> Response:
    """Seal ``secret`` for this session and redirect to ``url`` with its one-time reveal id."""
    token = request.cookies.get(sessions.COOKIE) or ""
    rid = await reveal.seal(_uow(request), who.actor.org_id, token, secret, meta)
    return redirect(f"{url}{'&' if '?' in url else '?'}{urlencode({'shown': rid})}", flash=flash)


async def _revealed(request: Request, who: SessionActor) -> dict[str, Any]:
    """``secret`` and ``created`` for the page after a create (once); ``already_shown`` after that."""
    rid = request.query_params.get("shown")
    if not rid:
        return {}
    got = await reveal.take(_uow(request), who.actor.org_id, request.cookies.get(sessions.COOKIE) or "", rid)
    if got is None:
        return {"already_shown": True}
    return {"secret": got[0], "created": got[1]}


async def _inline(show: Callable[..., Any], exc: KithError, **ctx: Any) -> Response:
    """Re-render a page with the error shown above its forms (status of the error)."""
    resp: Response = await show(error=exc, code=exc.status, **ctx)
    return resp


# --- index ------------------------------------------------------------------------------------------

@router.get("/admin")
async def index(request: Request, who: Web) -> Response:
    _guard(who)
    org = await orgs.get_org(_uow(request), who.actor)
    return _page(request, who, "admin/index.html", "", org=org)


# --- pipelines and stages ---------------------------------------------------------------------------

async def _pipelines_page(request: Request, who: SessionActor, **ctx: Any) -> Response:
    uow = _uow(request)
    plist = [p for p in await pipelines.list_pipelines(uow, who.actor) if p.get("kind", "deal") == "deal"]
    return _page(request, who, "admin/pipelines.html", "pipelines", pipelines=plist, **ctx)


@router.get("/admin/pipelines")
async def pipelines_page(request: Request, who: Web) -> Response:
    _guard(who)
    return await _pipelines_page(request, who)


@router.post("/admin/pipelines")
async def pipeline_create(request: Request, who: Web, form: Posted) -> Response:
    _guard(who)
    cmd = parse(PipelineCreate, {"name": field(form, "name") or "", "is_default": form.get("is_default") == "on"})
    p = await pipelines.create_pipeline(_uow(request), who.actor, cmd)
    return redirect("/admin/pipelines", flash=f"Created pipeline {p['name']}.")


@router.post("/admin/pipelines/{pipeline_id}")
async def pipeline_update(request: Request, who: Web, form: Posted, pipeline_id: str) -> Response:
    _guard(who)
    patch = parse(PipelinePatch, {"name": field(form, "name"),
                                  "is_default": True if form.get("is_default") == "on" else None})
    await pipelines.update_pipeline(_uow(request), who.actor, pipeline_id, patch)
    return redirect("/admin/pipelines", flash="Pipeline saved.")


@router.post("/admin/pipelines/{pipeline_id}/delete")
async def pipeline_delete(request: Request, who: Web, form: Posted, pipeline_id: str) -> Response:
    _guard(who)
    await pipelines.delete_pipeline(_uow(request), who.actor, pipeline_id)
    return redirect("/admin/pipelines", flash="Pipeline deleted.")


def stage_rows(form: FormData, *, outcomes: bool) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The editor's rows (``s{n}.id``, ``.name``, ``.position``, ``.probability``, ``.rot``,
    ``.outcome``, ``.delete``, ``.target``) as the ordered stage list and the targets of deleted
    stages. A row without an id and a name is the empty "new stage" row and is left out."""
    rows: list[tuple[float, int, dict[str, Any]]] = []
    targets: dict[str, str] = {}
    n = 0
    while f"s{n}.name" in form or f"s{n}.id" in form:
        p = f"s{n}."
        sid, name = field(form, p + "id"), field(form, p + "name")
        if form.get(p + "delete") == "on":
            if sid and (target := field(form, p + "target")):
                targets[sid] = target
        elif sid or name:
            stage: dict[str, Any] = {"name": name or ""}
            if sid:
                stage["id"] = sid
            if outcomes:
                for key, src in (("probability", "probability"), ("rot_period_days", "rot")):
                    if (v := _int(form, p + src)) is not None:
                        stage[key] = v
                stage["outcome"] = field(form, p + "outcome")
            raw_pos = field(form, p + "position")
            try:
                pos = float(raw_pos) if raw_pos is not None else float(n)
            except ValueError:
                pos = float(n)
            rows.append((pos, n, stage))
        n += 1
    return [s for _, _, s in sorted(rows, key=lambda r: (r[0], r[1]))], targets


@router.post("/admin/pipelines/{pipeline_id}/stages")
async def stages_save(request: Request, who: Web, form: Posted, pipeline_id: str) -> Response:
    _guard(who)
    stages, targets = stage_rows(form, outcomes=True)
    cmd = parse(StagesPatch, {"stages": stages, "move_deals_to": targets})
    try:
        await pipelines.replace_stages(_uow(request), who.actor, pipeline_id, cmd)
    except KithError as exc:
        return await _inline(lambda **kw: _pipelines_page(request, who, **kw), exc, failed=pipeline_id)
    return redirect("/admin/pipelines", flash="Stages saved.")


# --- company stages ---------------------------------------------------------------------------------

async def _company_page(request: Request, who: SessionActor, **ctx: Any) -> Response:
    p = await pipelines.company_stages(_uow(request), who.actor)
    return _page(request, who, "admin/company_stages.html", "company-stages", pipeline=p, **ctx)


@router.get("/admin/company-stages")
async def company_stages_page(request: Request, who: Web) -> Response:
    _guard(who)
    return await _company_page(request, who)


@router.post("/admin/company-stages")
async def company_stages_save(request: Request, who: Web, form: Posted) -> Response:
    _guard(who)
    stages, targets = stage_rows(form, outcomes=False)
    cmd = parse(CompanyStagesPatch, {"stages": stages, "move_companies_to": targets})
    try:
        await pipelines.replace_company_stages(_uow(request), who.actor, cmd)
    except KithError as exc:
        return await _inline(lambda **kw: _company_page(request, who, **kw), exc)
    return redirect("/admin/company-stages", flash="Company stages saved.")


# --- users and roles --------------------------------------------------------------------------------

@router.get("/admin/users")
async def users_page(request: Request, who: Web) -> Response:
    _guard(who)
    users = await orgs.list_users(_uow(request), who.actor)
    return _page(request, who, "admin/users.html", "users", users=users, roles=ROLES,
                 names={u["id"]: u["name"] for u in users})


@router.post("/admin/users")
async def user_create(request: Request, who: Web, form: Posted) -> Response:
    _guard(who)
    cmd = parse(UserCreate, {"email": field(form, "email") or "", "name": field(form, "name") or "",
                             "password": field(form, "password"), "roles": form.getlist("roles"),
                             "manager_id": field(form, "manager_id")})
    user = await orgs.create_user(_uow(request), who.actor, cmd)
    return redirect("/admin/users", flash=f"Created user {user['email']}.")


@router.post("/admin/users/{user_id}")
async def user_update(request: Request, who: Web, form: Posted, user_id: str) -> Response:
    _guard(who)
    values: dict[str, Any] = {}
    if "roles" in form or form.get("roles_sent") == "1":
        values["roles"] = form.getlist("roles")
    if "manager_id" in form:
        values["manager_id"] = field(form, "manager_id")
    if (name := field(form, "name")) is not None:
        values["name"] = name
    if (active := field(form, "is_active")) is not None:
        values["is_active"] = active == "true"
    user = await orgs.update_user(_uow(request), who.actor, user_id, parse(UserPatch, values))
    return redirect("/admin/users", flash=f"Saved {user['email']}.")


# --- API keys ---------------------------------------------------------------------------------------

async def _keys_page(request: Request, who: SessionActor, user_id: str | None, **ctx: Any) -> Response:
    uow = _uow(request)
    users = await orgs.list_users(uow, who.actor)
    user_id = user_id if user_id in {u["id"] for u in users} else who.actor.user_id
    keys = await orgs.list_api_keys(uow, who.actor, user_id) if user_id else []
    return _page(request, who, "admin/api_keys.html", "api-keys", users=users, user_id=user_id, keys=keys, **ctx)


@router.get("/admin/api-keys")
async def keys_page(request: Request, who: Web) -> Response:
    _guard(who)
    return await _keys_page(request, who, request.query_params.get("user"), **await _revealed(request, who))


@router.post("/admin/api-keys")
async def key_create(request: Request, who: Web, form: Posted) -> Response:
    _guard(who)
    user_id = field(form, "user_id") or who.actor.user_id or ""
    cmd = parse(ApiKeyCreate, {"name": field(form, "name") or "default"})
    row, secret = await orgs.create_api_key(_uow(request), who.actor, user_id, cmd)
    return await _reveal_next(request, who, f"/admin/api-keys?{urlencode({'user': row['user_id']})}", secret,
                              {"name": row["name"], "id": row["id"]}, f"Created key {row['name']}.")


@router.post("/admin/api-keys/{key_id}/revoke")
async def key_revoke(request: Request, who: Web, form: Posted, key_id: str) -> Response:
    _guard(who)
    row = await orgs.revoke_api_key(_uow(request), who.actor, key_id)
    return redirect(f"/admin/api-keys?user={row['user_id']}", flash=f"Revoked key {row['name']}.")


# --- widget -----------------------------------------------------------------------------------------

@router.get("/admin/widget")
async def widget_page(request: Request, who: Web) -> Response:
    _guard(who)
    org = await orgs.get_org(_uow(request), who.actor)
    base = str(request.base_url).rstrip("/")
    return _page(request, who, "admin/widget.html", "widget", org=org, base=base)


@router.post("/admin/widget")
async def widget_save(request: Request, who: Web, form: Posted) -> Response:
    _guard(who)
    patch = parse(OrgPatch, {"settings": {"widget_origins": _lines(form.get("origins") if isinstance(
        form.get("origins"), str) else None)}})  # type: ignore[arg-type]
    await orgs.update_org(_uow(request), who.actor, patch)
    return redirect("/admin/widget", flash="Allowed origins saved.")


@router.post("/admin/widget/rotate")
async def widget_rotate(request: Request, who: Web, form: Posted) -> Response:
    _guard(who)
    await orgs.update_org(_uow(request), who.actor, OrgPatch(rotate_widget_key=True))
    return redirect("/admin/widget", flash="Issued a new widget key: update the snippet on your site.")


# --- webhooks ---------------------------------------------------------------------------------------

async def _hooks_page(request: Request, who: SessionActor, **ctx: Any) -> Response:
    page = await webhooks.list_webhooks(_uow(request), who.actor, ListQuery(limit=100, sort="created_at"))
    return _page(request, who, "admin/webhooks.html", "webhooks", hooks=page["data"], **ctx)


@router.get("/admin/webhooks")
async def hooks_page(request: Request, who: Web) -> Response:
    _guard(who)
    return await _hooks_page(request, who, **await _revealed(request, who))


@router.post("/admin/webhooks")
async def hook_create(request: Request, who: Web, form: Posted) -> Response:
    _guard(who)
    cmd = parse(WebhookCreate, {"url": field(form, "url") or "", "events": _lines(field(form, "events")),
                                "description": field(form, "description")})
    row = await webhooks.create_webhook(_uow(request), who.actor, cmd,
                                        allow_private=_settings(request).webhooks_allow_private,
                                        window=_window(request))
    return await _reveal_next(request, who, "/admin/webhooks", row["secret"], {"url": row["url"], "id": row["id"]},
                              "Webhook created.")


@router.get("/admin/webhooks/{webhook_id}")
async def hook_detail(request: Request, who: Web, webhook_id: str) -> Response:
    _guard(who)
    uow = _uow(request)
    hook = await webhooks.get_webhook(uow, who.actor, webhook_id)
    status = request.query_params.get("status") or None
    filters = {"status": status} if status in {"pending", "succeeded", "failed"} else {}
    deliveries = await webhooks.list_deliveries(uow, who.actor, webhook_id, ListQuery(
        limit=50, sort="-created_at", cursor=request.query_params.get("cursor") or None, filters=filters))
    return _page(request, who, "admin/webhook.html", "webhooks", hook=hook, deliveries=deliveries["data"],
                 next_cursor=deliveries["next_cursor"], status_filter=status or "")


@router.post("/admin/webhooks/{webhook_id}/enabled")
async def hook_enable(request: Request, who: Web, form: Posted, webhook_id: str) -> Response:
    _guard(who)
    patch = parse(WebhookPatch, {"enabled": field(form, "enabled") == "true"})
    await webhooks.update_webhook(_uow(request), who.actor, webhook_id, patch,
                                  allow_private=_settings(request).webhooks_allow_private)
    return redirect(f"/admin/webhooks/{webhook_id}", flash="Saved.")


@router.post("/admin/webhooks/{webhook_id}/delete")
async def hook_delete(request: Request, who: Web, form: Posted, webhook_id: str) -> Response:
    _guard(who)
    await webhooks.delete_webhook(_uow(request), who.actor, webhook_id)
    return redirect("/admin/webhooks", flash="Webhook deleted.")


# --- automation rules -------------------------------------------------------------------------------

async def _automations_page(request: Request, who: SessionActor, **ctx: Any) -> Response:
    page = await automations.list_automations(_uow(request), who.actor, ListQuery(limit=100, sort="created_at"))
    return _page(request, who, "admin/automations.html", "automations", rules=page["data"], **ctx)


@router.get("/admin/automations")
async def automations_page(request: Request, who: Web) -> Response:
    _guard(who)
    return await _automations_page(request, who, **await _revealed(request, who))


@router.post("/admin/automations")
async def automation_create(request: Request, who: Web, form: Posted) -> Response:
    _guard(who)
    cmd = parse(AutomationCreate, {"name": field(form, "name") or "", "trigger": field(form, "trigger") or "",
                                   "enabled": form.get("enabled") == "on",
                                   "conditions": _json(form, "conditions", {}), "actions": _json(form, "actions", [])})
    row = await automations.create_automation(_uow(request), who.actor, cmd,
                                              allow_private=_settings(request).webhooks_allow_private,
                                              window=_window(request))
    return await _reveal_next(request, who, "/admin/automations", row["secret"], {"name": row["name"], "id": row["id"]},
                              f"Created rule {row['name']}.")


@router.post("/admin/automations/{automation_id}/enabled")
async def automation_enable(request: Request, who: Web, form: Posted, automation_id: str) -> Response:
    _guard(who)
    patch = parse(AutomationPatch, {"enabled": field(form, "enabled") == "true"})
    await automations.update_automation(_uow(request), who.actor, automation_id, patch,
                                        allow_private=_settings(request).webhooks_allow_private,
                                        window=_window(request))
    return redirect("/admin/automations", flash="Saved.")


# --- custom fields ----------------------------------------------------------------------------------

@router.get("/admin/custom-fields")
async def fields_page(request: Request, who: Web) -> Response:
    _guard(who)
    rows = await customfields.list_fields(_uow(request), who.actor)
    return _page(request, who, "admin/custom_fields.html", "custom-fields", fields=rows,
                 types=[t.value for t in FieldType], objects=OBJECTS)


@router.post("/admin/custom-fields")
async def field_create(request: Request, who: Web, form: Posted) -> Response:
    _guard(who)
    options = _lines(field(form, "options"))
    cmd = parse(CustomFieldCreate, {"object": field(form, "object") or "", "name": field(form, "name") or "",
                                    "label": field(form, "label") or "", "type": field(form, "type") or "",
                                    "options": options or None, "required": form.get("required") == "on",
                                    "description": field(form, "description")})
    row = await customfields.create_field(_uow(request), who.actor, cmd)
    return redirect("/admin/custom-fields", flash=f"Created field {row['name']}.")


@router.post("/admin/custom-fields/{field_id}/delete")
async def field_delete(request: Request, who: Web, form: Posted, field_id: str) -> Response:
    _guard(who)
    await customfields.delete_field(_uow(request), who.actor, field_id)
    return redirect("/admin/custom-fields", flash="Field deleted.")


# --- thresholds and settings ------------------------------------------------------------------------

@router.get("/admin/settings")
async def settings_page(request: Request, who: Web) -> Response:
    _guard(who)
    org = await orgs.get_org(_uow(request), who.actor)
    return _page(request, who, "admin/settings.html", "settings", org=org, rules=RULES)


@router.post("/admin/settings")
async def settings_save(request: Request, who: Web, form: Posted) -> Response:
    _guard(who)
    settings: dict[str, Any] = {}
    for name in ("qualify_score_threshold", "lead_qualify_score_threshold", "rot_period_days"):
        if (v := _int(form, name)) is not None:
            settings[name] = v
    for name in ("timezone", "currency"):
        if (s := field(form, name)) is not None:
            settings[name] = s
    amount, currency = field(form, "high_value_amount"), field(form, "high_value_currency")
    if amount is not None or currency is not None:
        settings["high_value_threshold"] = {"amount": amount or "", "currency": currency or ""}
    patch: dict[str, Any] = {"settings": settings}
    if (org_name := field(form, "org_name")) is not None:
        patch["name"] = org_name
    await orgs.update_org(_uow(request), who.actor, parse(OrgPatch, patch))
    return redirect("/admin/settings", flash="Settings saved.")


# --- import wizard ----------------------------------------------------------------------------------

@router.get("/admin/imports")
async def imports_page(request: Request, who: Web) -> Response:
    _guard(who)
    return _page(request, who, "admin/imports.html", "imports")
