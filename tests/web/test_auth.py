"""Login, logout, sessions and CSRF: the web app's front door, and the API through the cookie."""

from __future__ import annotations

import pytest

from kith.core.db import Database
from tests.conftest import Org, count_rows, problem
from tests.web.conftest import PASSWORD, Browser, csrf_of, set_password


async def test_an_anonymous_page_view_goes_to_the_login_page(web) -> None:
    b: Browser = await web(None)
    resp = await b.c.get("/contacts?stage=lead")
    assert resp.status_code == 303
    assert resp.headers["location"] == "/login?next=%2Fcontacts%3Fstage%3Dlead"


async def test_logging_in_sets_an_httponly_lax_session_cookie_and_lands_on_next(web, org: Org, db: Database
                                                                                  ) -> None:
    await set_password(db, org.rep)
    b: Browser = await web(None)
    page = await b.get("/login?next=/contacts")
    assert page.status_code == 200 and 'autocomplete="current-password"' in page.text
    resp = await b.post("/login", {"email": "REP@acme.test", "password": PASSWORD, "next": "/contacts"})
    assert resp.status_code == 303 and resp.headers["location"] == "/contacts"
    cookie = next(c for c in resp.headers.get_list("set-cookie") if c.startswith("kith_session="))
    assert "kith_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Max-Age" not in cookie  # without "remember me" the cookie ends with the browser
    home = await b.get("/")
    assert home.status_code == 200 and "Rep" in home.text and "SalesApp" in home.text


async def test_remember_me_gives_a_thirty_day_cookie(web, org: Org, db: Database) -> None:
    await set_password(db, org.admin)
    b: Browser = await web(None)
    await b.get("/login")
    resp = await b.post("/login", {"email": "admin@acme.test", "password": PASSWORD, "remember": "on"})
    assert resp.status_code == 303
    cookie = next(c for c in resp.headers.get_list("set-cookie") if c.startswith("kith_session="))
    assert "Max-Age=25919" in cookie or "Max-Age=2592000" in cookie


@pytest.mark.parametrize("email,password", [
    pytest.param("rep@acme.test", "wrong password", id="wrong-password"),
    pytest.param("nobody@acme.test", PASSWORD, id="unknown-email"),
    pytest.param("not an email", PASSWORD, id="malformed-email"),
])
async def test_a_failed_login_says_so_without_saying_which_part(web, org: Org, db: Database, email: str,
                                                                 password: str) -> None:
    await set_password(db, org.rep)
    b: Browser = await web(None)
    await b.get("/login")
    resp = await b.post("/login", {"email": email, "password": password})
    assert resp.status_code == 401
    assert "the email or password is not right" in resp.text
    assert "kith_session" not in resp.headers.get("set-cookie", "")


async def test_a_login_post_without_the_form_token_is_refused(web, org: Org, db: Database) -> None:
    await set_password(db, org.rep)
    b: Browser = await web(None)
    await b.get("/login")
    resp = await b.post("/login", {"email": "rep@acme.test", "password": PASSWORD}, csrf=False)
    assert resp.status_code == 403
    assert (await count_rows(db, "web_sessions"))["web_sessions"] == 0


async def test_a_deactivated_user_loses_the_session_at_once(web, org: Org, client) -> None:
    b: Browser = await web(org.rep)
    assert (await b.get("/")).status_code == 200
    r = await client.patch(f"/api/v1/users/{org.rep.user_id}", json={"is_active": False}, headers=org.admin.h)
    assert r.status_code == 200
    assert (await b.c.get("/")).status_code == 303


async def test_logout_ends_the_session_on_the_server(web, org: Org, db: Database) -> None:
    b: Browser = await web(org.rep)
    token = b.c.cookies.get("kith_session")
    resp = await b.post("/logout")
    assert resp.status_code == 303 and resp.headers["location"] == "/login"
    assert (await count_rows(db, "web_sessions"))["web_sessions"] == 0
    b.c.cookies.set("kith_session", token)  # a stolen copy of the cookie no longer works either
    assert (await b.c.get("/")).status_code == 303


async def test_logout_without_the_csrf_token_is_refused(web, org: Org) -> None:
    b: Browser = await web(org.rep)
    resp = await b.post("/logout", csrf=False)
    assert resp.status_code == 403
    assert "CSRF" in resp.text
    assert (await b.get("/")).status_code == 200


async def test_the_api_accepts_the_session_cookie_for_reads(web, org: Org) -> None:
    b: Browser = await web(org.rep)
    resp = await b.c.get("/api/v1/contacts")
    assert resp.status_code == 200 and resp.json()["data"] == []


async def test_an_api_write_by_cookie_needs_the_csrf_header(web, org: Org, db: Database) -> None:
    b: Browser = await web(org.rep)
    refused = await b.c.post("/api/v1/contacts", json={"name": "Alice"})
    problem(refused, 403)
    wrong = await b.c.post("/api/v1/contacts", json={"name": "Alice"}, headers={"X-CSRF-Token": "nope"})
    problem(wrong, 403)
    assert (await count_rows(db, "contacts"))["contacts"] == 0
    ok = await b.api("POST", "/api/v1/contacts", json={"name": "Alice"})
    assert ok.status_code == 201, ok.text
    assert ok.json()["owner_id"] == org.rep.user_id


async def test_a_bearer_key_still_wins_and_needs_no_csrf(client, org: Org) -> None:
    client.cookies.set("kith_session", "garbage")
    resp = await client.post("/api/v1/contacts", json={"name": "Bob"}, headers=org.rep.h)
    assert resp.status_code == 201


async def test_an_unknown_session_cookie_on_the_api_is_401(client) -> None:
    client.cookies.set("kith_session", "garbage")
    resp = await client.get("/api/v1/contacts")
    problem(resp, 401)


async def test_the_csrf_token_is_per_session(web, org: Org) -> None:
    a: Browser = await web(org.rep)
    b: Browser = await web(org.rep)
    assert a.csrf and b.csrf and a.csrf != b.csrf
    b.csrf = a.csrf
    assert (await b.post("/logout")).status_code == 403


def test_csrf_of_reads_the_hidden_field() -> None:
    assert csrf_of('<input type="hidden" name="csrf_token" value="abc">') == "abc"


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "https://evil.example/"])
async def test_login_never_redirects_off_site(web, org: Org, db: Database, target: str) -> None:
    await set_password(db, org.rep)
    b: Browser = await web(None)
    await b.get("/login")
    resp = await b.post("/login", {"email": "rep@acme.test", "password": PASSWORD, "next": target})
    assert resp.status_code == 303 and resp.headers["location"] == "/"


async def test_an_expired_session_is_refused(web, org: Org) -> None:
    from datetime import UTC, datetime, timedelta

    from kith.core import clock

    b: Browser = await web(org.rep)
    with clock.frozen(datetime.now(UTC) + timedelta(hours=13)):
        assert (await b.c.get("/")).status_code == 303
        assert (await b.c.get("/api/v1/contacts")).status_code == 401


async def test_idempotent_retries_work_by_cookie_too(web, org: Org, db: Database) -> None:
    b: Browser = await web(org.rep)
    first = await b.api("POST", "/api/v1/contacts", json={"name": "Once"}, headers={"Idempotency-Key": "k1"})
    again = await b.api("POST", "/api/v1/contacts", json={"name": "Once"}, headers={"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    assert (await count_rows(db, "contacts"))["contacts"] == 1


@pytest.mark.parametrize("persona", ["manager", "rep", "admin", "support"])
async def test_a_session_actor_carries_the_users_team_whatever_the_role(web, org: Org, db: Database,
                                                                        persona: str) -> None:
    """A cookie session acts with the same team as the user's API key: themselves plus the people they
    manage (the realtime rep channels of a manager's reports depend on it)."""
    from kith.web.sessions import session_actor

    who = getattr(org, persona)
    b: Browser = await web(who)
    token = b.c.cookies.get("kith_session")
    assert token
    actor = (await session_actor(db, token)).actor
    expected = {who.user_id, *((org.rep.user_id,) if persona == "manager" else ())}
    assert set(actor.team_ids) == expected, (persona, actor.team_ids)
    assert org.other_rep.user_id not in actor.team_ids
