"""Login throttling (per IP + email and per IP) and constant-time refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kith.auth import keys
from kith.auth.model import Actor
from kith.core import clock
from kith.core.db import Database
from kith.core.uow import UnitOfWork
from kith.orgs import service as orgs
from kith.orgs.schemas import UserPatch
from kith.web.throttle import LoginThrottle
from tests.conftest import Org
from tests.web.conftest import PASSWORD, Browser, set_password

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def browser_from(web_app: object, ip: str) -> Browser:
    transport = httpx.ASGITransport(app=web_app, client=(ip, 40000))  # type: ignore[arg-type]
    return Browser(httpx.AsyncClient(transport=transport, base_url="http://kith.test"))


async def attempt(b: Browser, email: str, password: str) -> httpx.Response:
    await b.get("/login")
    return await b.post("/login", {"email": email, "password": password})


async def test_ten_failures_for_one_email_answer_429_with_retry_after_even_for_the_right_password(
        web_app: object, org: Org, db: Database) -> None:
    await set_password(db, org.rep)
    b = browser_from(web_app, "10.0.0.1")
    with clock.frozen(T0):
        for _ in range(10):
            assert (await attempt(b, "rep@acme.test", "wrong")).status_code == 401
        refused = await attempt(b, "REP@acme.test", PASSWORD)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == str(15 * 60)
    assert "Too many failed logins" in refused.text
    assert "kith_session" not in refused.headers.get("set-cookie", "")
    # another address is not blocked for that email, and the window passes
    assert (await attempt(browser_from(web_app, "10.0.0.2"), "rep@acme.test", PASSWORD)).status_code == 303
    with clock.frozen(T0 + timedelta(minutes=15, seconds=1)):
        assert (await attempt(b, "rep@acme.test", PASSWORD)).status_code == 303
    await b.c.aclose()


async def test_a_successful_login_resets_the_count_for_that_email(web_app: object, org: Org, db: Database) -> None:
    await set_password(db, org.rep)
    b = browser_from(web_app, "10.0.0.3")
    with clock.frozen(T0):
        for _ in range(9):
            await attempt(b, "rep@acme.test", "wrong")
        assert (await attempt(b, "rep@acme.test", PASSWORD)).status_code == 303
        for _ in range(9):
            assert (await attempt(b, "rep@acme.test", "wrong")).status_code == 401
        assert (await attempt(b, "rep@acme.test", "wrong")).status_code == 401  # the 10th failure
        assert (await attempt(b, "rep@acme.test", "wrong")).status_code == 429
    await b.c.aclose()


async def test_one_address_spraying_many_emails_is_limited_per_ip(web_app: object, org: Org) -> None:
    b = browser_from(web_app, "10.0.0.4")
    with clock.frozen(T0):
        for i in range(50):
            assert (await attempt(b, f"user{i}@acme.test", "wrong")).status_code == 401
        resp = await attempt(b, "someone-new@acme.test", "wrong")
    assert resp.status_code == 429 and int(resp.headers["retry-after"]) == 900
    await b.c.aclose()


async def test_unknown_and_deactivated_emails_cost_a_password_check_like_a_wrong_password(
        web_app: object, org: Org, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every refusal runs exactly one real argon2 verify (against a dummy hash when no account
    matches), so its cost does not tell whether the account exists. Asserted by counting the verify
    calls (the real function still runs), not by timing, which is noise on a shared machine."""
    await set_password(db, org.rep)
    await set_password(db, org.other_rep)
    await orgs.update_user(UnitOfWork(db), Actor.system(org.id), org.other_rep.user_id, UserPatch(is_active=False))
    verified: list[str] = []
    real_verify = keys.verify_password

    def counting_verify(stored: str, password: str) -> bool:
        verified.append(stored)
        return real_verify(stored, password)

    monkeypatch.setattr(keys, "verify_password", counting_verify)
    b = browser_from(web_app, "10.0.0.5")
    for email, password in (("rep@acme.test", "wrong password"), ("nobody@acme.test", PASSWORD),
                            ("other_rep@acme.test", PASSWORD), ("not an email", PASSWORD)):
        await b.get("/login")
        verified.clear()
        resp = await b.post("/login", {"email": email, "password": password})
        assert resp.status_code == 401, (email, resp.text)
        assert len(verified) == 1 and verified[0].startswith("$argon2"), (email, verified)
    await b.c.aclose()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1200), st.sampled_from(["a@x.test", "b@x.test"]),
                          st.sampled_from(["1.1.1.1", "2.2.2.2"])), max_size=60))
def test_the_throttle_never_lets_a_pair_fail_more_than_its_limit_inside_a_window(
        attempts: list[tuple[int, str, str]]) -> None:
    throttle = LoginThrottle(pair_limit=3, ip_limit=5, window=timedelta(seconds=300))
    allowed: list[tuple[int, str, str]] = []
    for second, email, ip in sorted(attempts):
        with clock.frozen(T0 + timedelta(seconds=second)):
            wait = throttle.retry_after(ip, email)
            if wait is None:
                throttle.failed(ip, email)
                allowed.append((second, email, ip))
            else:
                assert 0 < wait <= 300
    for second, email, ip in allowed:
        recent = [a for a in allowed if second - 300 < a[0] <= second]
        assert len([a for a in recent if a[1:] == (email, ip)]) <= 3
        assert len([a for a in recent if a[2] == ip]) <= 5
