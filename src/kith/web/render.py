"""The web app's plumbing: the router factory, the session dependencies, CSRF-checked forms,
templates, flash messages and the error pages. Every page module builds on these (docs/web.md).

- ``web_router()`` gives an ``APIRouter`` whose routes render any ``KithError`` as an HTML page
  with the error's status (a JSON problem is for the API), and send an anonymous browser to
  ``/login?next=…``.
- ``Web`` is the logged-in ``SessionActor`` (the actor + CSRF token + display names).
- ``Posted`` is the form of a POST, refused with 403 unless it carries the session's CSRF token
  (field ``csrf_token``, or header ``X-CSRF-Token`` for ``fetch``).
- ``render(request, who, "page.html", **ctx)`` renders with autoescaping on; every template sees
  ``me``, ``csrf``, ``nav``, ``app_name``, ``flash`` and ``path``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from kith.auth.permissions import Grant, grant
from kith.core.errors import Forbidden, KithError, Unauthorized
from kith.http.problems import from_validation
from kith.web import sessions
from kith.web.sessions import SessionActor

HERE = Path(__file__).parent
FLASH_COOKIE = "kith_flash"

env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                  trim_blocks=True, lstrip_blocks=True)


class LoginRequired(Exception):
    """No (valid) session: the browser goes to the login page."""


# --- navigation per role (seed 004 §1: SalesApp, SupportApp, MarketingApp, AdminApp) ----------------

# (label, href, the permission that shows it)
NAV: tuple[tuple[str, str, str], ...] = (
    ("Dashboard", "/", "org:read"),
    ("Contacts", "/contacts", "contact:read"),
    ("Companies", "/companies", "company:read"),
    ("Leads", "/leads", "lead:read"),
    ("Deals", "/deals", "deal:read"),
    ("Pipeline", "/board", "deal:read"),
    ("Activities", "/activities", "activity:read"),
    ("Tickets", "/tickets", "ticket:read"),
    ("Admin", "/admin", "org:manage"),
)


def app_name(roles: frozenset[str]) -> str:
    if "crm-admin" in roles:
        return "AdminApp"
    if roles & {"sales-manager", "sales-rep", "viewer"}:
        return "SalesApp"
    if "support-agent" in roles:
        return "SupportApp"
    if "marketing" in roles:
        return "MarketingApp"
    return "Kith"


def may(who: SessionActor, permission: str) -> bool:
    """Whether the actor holds any grant for ``permission`` (to show a button; the service decides)."""
    return grant(who.actor.roles, permission) is not Grant.NONE


def nav_for(who: SessionActor) -> list[tuple[str, str]]:
    return [(label, href) for label, href, perm in NAV if may(who, perm)]


# --- templates --------------------------------------------------------------------------------------

def _query(params: Mapping[str, Any], **changes: Any) -> str:
    """``params`` with ``changes`` applied (None removes), as a query string for links."""
    merged = {k: v for k, v in params.items() if k not in changes}
    merged.update({k: v for k, v in changes.items() if v is not None and v != ""})
    return urlencode([(k, v) for k, v in merged.items() if v is not None and v != ""])


def _money(value: Any) -> str:
    if isinstance(value, Mapping):
        amount, currency = value.get("amount"), value.get("currency") or ""
        if amount is None:
            return ""
        try:
            return f"{float(amount):,.2f} {currency}".strip()
        except (TypeError, ValueError):
            return f"{amount} {currency}".strip()
    return "" if value is None else str(value)


def _when(value: Any) -> str:
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text.replace("T", " ")[:16]


env.filters["money"] = _money
env.filters["when"] = _when
env.filters["urlq"] = lambda s: quote(str(s), safe="")
env.globals["query"] = _query


def render(request: Request, who: SessionActor | None, template: str, *, status: int = 200,
           headers: Mapping[str, str] | None = None, **ctx: Any) -> HTMLResponse:
    flash = unquote(request.cookies.get(FLASH_COOKIE) or "")
    base: dict[str, Any] = {
        "request": request, "me": who, "path": request.url.path, "flash": flash,
        "csrf": who.csrf_token if who else "", "nav": nav_for(who) if who else [],
        "app_name": app_name(who.actor.roles) if who else "Kith",
        "may": (lambda p: may(who, p)) if who else (lambda p: False),
        "csrf_field": Markup('<input type="hidden" name="csrf_token" value="{}">').format(
            who.csrf_token if who else ""),
    }
    html = env.get_template(template).render({**base, **ctx})
    resp = HTMLResponse(html, status_code=status, headers=dict(headers or {}))
    if flash:
        resp.delete_cookie(FLASH_COOKIE, path="/")
    return resp


def redirect(url: str, *, flash: str | None = None) -> RedirectResponse:
    """303 to ``url`` (a path on this site) with an optional one-shot message for the next page."""
    if not url.startswith("/") or url.startswith(("//", "/\\")):
        url = "/"
    resp = RedirectResponse(url, status_code=303)
    if flash:
        resp.set_cookie(FLASH_COOKIE, quote(flash[:300], safe=" "), path="/", httponly=True, samesite="lax")
    return resp


def error_page(request: Request, exc: KithError) -> Response:
    who = getattr(request.state, "web_session", None)
    return render(request, who, "error.html", status=exc.status, error=exc, problem=exc.problem(),
                  headers={k: v for k, v in exc.headers.items() if k.lower() != "www-authenticate"})


# --- routes -----------------------------------------------------------------------------------------

class WebRoute(APIRoute):
    """Errors become HTML pages; a missing session becomes a redirect to the login page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
            except KithError as exc:
                return error_page(request, exc)
            except RequestValidationError as exc:
                return error_page(request, from_validation(exc))

        return run


def web_router() -> APIRouter:
    return APIRouter(route_class=WebRoute, include_in_schema=False)


async def current(request: Request) -> SessionActor:
    token = request.cookies.get(sessions.COOKIE)
    if not token:
        raise LoginRequired
    try:
        who = await sessions.session_actor(request.app.state.db, token)
    except Unauthorized:
        raise LoginRequired from None
    request.state.web_session = who
    request.state.actor = who.actor
    return who


Web = Annotated[SessionActor, Depends(current)]


async def posted(request: Request, who: Web) -> FormData:
    form = await request.form()
    given = form.get(sessions.CSRF_FIELD)
    given = given if isinstance(given, str) else request.headers.get(sessions.CSRF_HEADER)
    if not sessions.csrf_ok(who.csrf_token, given):
        raise Forbidden("the form was refused: it did not carry this session's CSRF token (reload the page)",
                        extra={"permission": "csrf"})
    return form


Posted = Annotated[FormData, Depends(posted)]


def field(form: FormData, name: str) -> str | None:
    """A text field, stripped; ``None`` when absent or blank."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None
