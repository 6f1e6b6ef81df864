"""Login and logout pages. The login form has no session yet, so its CSRF token is a
double-submit one: a random cookie echoed by a hidden field (a cross-site form cannot read it)."""

from __future__ import annotations

import secrets

from fastapi import Request
from starlette.responses import Response

from kith.core.errors import KithError, Unauthorized
from kith.web import sessions
from kith.web.render import Posted, field, redirect, render, web_router
from kith.web.throttle import LoginThrottle

router = web_router()
LOGIN_CSRF_COOKIE = "kith_login_csrf"


def _next(raw: str | None) -> str:
    # Only a path on this site: "//host" and "/\\host" are other sites to a browser.
    return raw if raw and raw.startswith("/") and not raw.startswith(("//", "/\\")) else "/"


def _login_page(request: Request, *, error: str | None = None, status: int = 200, email: str = "",
                ask_org: bool = False, next_url: str | None = None,
                headers: dict[str, str] | None = None) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    resp = render(request, None, "login.html", status=status, error=error, email=email, login_csrf=token,
                  next=_next(next_url or request.query_params.get("next")), ask_org=ask_org, headers=headers)
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, path="/login", httponly=True, samesite="strict",
                    secure=request.app.state.settings.cookie_secure)
    return resp


def _throttle(request: Request) -> LoginThrottle:
    """The app's login throttle (process-local: one per app, made on first use)."""
    throttle = getattr(request.app.state, "login_throttle", None)
    if not isinstance(throttle, LoginThrottle):
        throttle = request.app.state.login_throttle = LoginThrottle()
    return throttle


def _client_ip(request: Request) -> str:
    # The socket's peer; behind a proxy run uvicorn with --proxy-headers so this is the client's.
    return request.client.host if request.client else "unknown"


@router.get("/login")
async def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    back = field(form, "next")
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not cookie or not sessions.csrf_ok(cookie, field(form, "csrf_token")):
        return _login_page(request, status=403, error="The form expired or did not come from this site: try again.",
                           next_url=back)
    email, password = field(form, "email") or "", form.get("password")
    if not isinstance(password, str) or not password or not email:
        return _login_page(request, status=422, error="Give your email and password.", email=email,
                           next_url=back)
    throttle, ip = _throttle(request), _client_ip(request)
    if (wait := throttle.retry_after(ip, email)) is not None:
        return _login_page(request, status=429, email=email, next_url=back, headers={"Retry-After": str(wait)},
                           error=f"Too many failed logins: try again in {(wait + 59) // 60} minute(s).")
    settings = request.app.state.settings
    try:
        s = await sessions.login(request.app.state.db, email, password, org=field(form, "org"),
                                 remember=form.get("remember") == "on", session_hours=settings.session_hours,
                                 remember_days=settings.remember_days)
    except Unauthorized as exc:
        throttle.failed(ip, email)
        return _login_page(request, status=401, error=exc.detail, email=email, next_url=back)
    except KithError as exc:
        return _login_page(request, status=exc.status, error=exc.detail, email=email, ask_org=True, next_url=back)
    throttle.succeeded(ip, email)
    resp = redirect(_next(back))
    max_age = int((s.expires_at - s.expires_at.now(s.expires_at.tzinfo)).total_seconds()) if s.remember else None
    resp.set_cookie(sessions.COOKIE, s.token, max_age=max_age, path="/", httponly=True, samesite="lax",
                    secure=settings.cookie_secure)
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return resp


@router.post("/logout")
async def logout(request: Request, form: Posted) -> Response:
    token = request.cookies.get(sessions.COOKIE)
    if token:
        await sessions.logout(request.app.state.db, token)
    resp = redirect("/login", flash="You are logged out.")
    resp.delete_cookie(sessions.COOKIE, path="/")
    return resp
