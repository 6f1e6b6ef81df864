"""The pipeline board: columns and totals, cards, rotting highlight, the form/keyboard move through
the same verb and rules, CSRF, escaping, permissions, other orgs' pipelines, bounded queries."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from kith.core import clock
from kith.core.db import Database
from tests.conftest import Org
from tests.web.conftest import Browser, count_statements


async def _post(client, persona, path: str, body: dict) -> dict:
    resp = await client.post(path, json=body, headers=persona.h)
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


async def _pipeline(client, org: Org) -> dict:
    resp = await client.get("/api/v1/pipelines", headers=org.admin.h)
    assert resp.status_code == 200, resp.text
    return next(p for p in resp.json()["data"] if p["is_default"])


async def _deal(client, org: Org, title: str, amount: str = "1000", persona=None, **extra) -> dict:
    persona = persona or org.rep
    return await _post(client, persona, "/api/v1/deals",
                       {"title": title, "value": {"amount": amount, "currency": "USD"}, **extra})


async def test_the_board_shows_stages_totals_and_cards(web, org: Org, client) -> None:
    p = await _pipeline(client, org)
    first = p["stages"][0]
    await _deal(client, org, "Acme renewal", "1000")
    await _deal(client, org, "Globex pilot", "3000")
    b: Browser = await web(org.rep)
    resp = await b.get("/board")
    assert resp.status_code == 200, resp.text
    html = resp.text
    for s in p["stages"]:
        assert f'data-stage="{s["id"]}"' in html and s["name"] in html
    assert "Acme renewal" in html and "Globex pilot" in html
    assert "4,000.00 USD" in html  # the first column's value
    weighted = 4000 * first["probability"] / 100
    assert f"weighted {weighted:,.2f} USD" in html
    same = await b.get(f"/pipelines/{p['id']}/board")
    assert same.status_code == 200 and "Acme renewal" in same.text
    partial = await b.get("/board?partial=columns")
    assert partial.status_code == 200 and "<html" not in partial.text and "Acme renewal" in partial.text


async def test_rotting_deals_are_highlighted(web, org: Org, client) -> None:
    with clock.frozen(clock.now() - timedelta(days=400)):
        await _deal(client, org, "Old and forgotten")
    await _deal(client, org, "Fresh one")
    b: Browser = await web(org.rep)
    html = (await b.get("/board")).text
    old = html.split('data-title="Old and forgotten"')[0].rsplit("<li", 1)[1]
    fresh = html.split('data-title="Fresh one"')[0].rsplit("<li", 1)[1]
    assert "rotting" in old and "rotting" not in fresh


async def test_moving_a_card_by_form_uses_the_verb(web, org: Org, client) -> None:
    p = await _pipeline(client, org)
    deal = await _deal(client, org, "Move me")
    target = p["stages"][1]
    b: Browser = await web(org.rep)
    await b.get("/board")
    resp = await b.post(f"/board/deals/{deal['id']}/move", {"stage_id": target["id"], "back": "/board"})
    assert resp.status_code == 303 and resp.headers["location"] == "/board"
    got = (await client.get(f"/api/v1/deals/{deal['id']}", headers=org.admin.h)).json()
    assert got["stage_id"] == target["id"]
    events = (await client.get(f"/api/v1/events?subject_id={deal['id']}", headers=org.admin.h))
    if events.status_code == 200:
        assert any(e["type"] == "deal.stage-moved" for e in events.json()["data"])


async def test_moving_to_lost_without_a_reason_shows_the_rule(web, org: Org, client) -> None:
    p = await _pipeline(client, org)
    lost = next(s for s in p["stages"] if s["outcome"] == "lost")
    deal = await _deal(client, org, "Lose me")
    b: Browser = await web(org.rep)
    await b.get("/board")
    resp = await b.post(f"/board/deals/{deal['id']}/move", {"stage_id": lost["id"]})
    assert resp.status_code == 422 and "deal-lost-requires-reason" in resp.text
    got = (await client.get(f"/api/v1/deals/{deal['id']}", headers=org.admin.h)).json()
    assert got["status"] == "open" and got["stage_id"] == p["stages"][0]["id"]
    ok = await b.post(f"/board/deals/{deal['id']}/move", {"stage_id": lost["id"], "reason": "Budget cut"})
    assert ok.status_code == 303
    got = (await client.get(f"/api/v1/deals/{deal['id']}", headers=org.admin.h)).json()
    assert got["status"] == "lost" and got["lost_reason"] == "Budget cut"
    assert 'data-title="Lose me"' not in (await b.get("/board")).text  # the board shows open deals only


async def test_a_bad_move_is_a_422_page_not_a_500(web, org: Org, client) -> None:
    deal = await _deal(client, org, "Stay")
    b: Browser = await web(org.rep)
    await b.get("/board")
    assert (await b.post(f"/board/deals/{deal['id']}/move", {})).status_code == 422
    assert (await b.post(f"/board/deals/{deal['id']}/move", {"stage_id": "x" * 300})).status_code == 422
    assert (await b.post(f"/board/deals/{deal['id']}/move", {"stage_id": "nope"})).status_code in (404, 422)


async def test_a_move_without_csrf_is_refused(web, org: Org, client) -> None:
    p = await _pipeline(client, org)
    deal = await _deal(client, org, "Guarded")
    b: Browser = await web(org.rep)
    await b.get("/board")
    resp = await b.post(f"/board/deals/{deal['id']}/move", {"stage_id": p["stages"][1]["id"]}, csrf=False)
    assert resp.status_code == 403
    got = (await client.get(f"/api/v1/deals/{deal['id']}", headers=org.admin.h)).json()
    assert got["stage_id"] == p["stages"][0]["id"]


async def test_output_is_escaped(web, org: Org, client) -> None:
    await _deal(client, org, '<script>alert("x")</script>')
    b: Browser = await web(org.rep)
    html = (await b.get("/board")).text
    assert '<script>alert("x")</script>' not in html
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize("persona,sees_board,may_move", [
    ("admin", True, True), ("manager", True, True), ("rep", True, True),
    ("viewer", True, False), ("support", False, False), ("marketing", False, False),
])
async def test_personas(web, org: Org, client, persona: str, sees_board: bool, may_move: bool) -> None:
    p = await _pipeline(client, org)
    deal = await _deal(client, org, "Rep's deal")
    b: Browser = await web(getattr(org, persona))
    page = await b.get("/board")
    assert page.status_code == (200 if sees_board else 403), page.status_code
    assert ("Rep&#39;s deal" in page.text) is sees_board
    assert ('draggable="true"' in page.text) is may_move  # no move controls for who cannot move
    resp = await b.post(f"/board/deals/{deal['id']}/move", {"stage_id": p["stages"][1]["id"]})
    assert (resp.status_code == 303) is may_move, (resp.status_code, resp.text[:300])
    if not may_move:
        assert resp.status_code in (403, 404)


async def test_another_orgs_pipeline_and_deal_are_404(web, org: Org, other_org: Org, client) -> None:
    theirs = await _pipeline(client, other_org)
    their_deal = await _deal(client, other_org, "Theirs")
    b: Browser = await web(org.admin)
    assert (await b.get(f"/pipelines/{theirs['id']}/board")).status_code == 404
    await b.get("/board")
    resp = await b.post(f"/board/deals/{their_deal['id']}/move", {"stage_id": theirs["stages"][1]["id"]})
    assert resp.status_code == 404
    assert "Theirs" not in (await b.get("/board")).text


async def test_a_board_render_runs_a_fixed_number_of_statements(web, org: Org, client, db: Database) -> None:
    b: Browser = await web(org.manager)
    companies = [await _post(client, org.rep, "/api/v1/companies", {"name": f"Co {i}"}) for i in range(3)]
    await _deal(client, org, "Deal 0", company_id=companies[0]["id"])
    await b.get("/board")
    with count_statements(db) as few:
        assert (await b.get("/board")).status_code == 200
    for i in range(1, 12):
        await _deal(client, org, f"Deal {i}", company_id=companies[i % 3]["id"])
    with count_statements(db) as many:
        html = (await b.get("/board")).text
    assert "Co 2" in html and "Deal 11" in html
    assert len(many) == len(few), (len(few), len(many))
    assert len(many) <= 8, many


async def test_column_totals_count_every_open_deal_not_only_the_cards_shown(
        web, org: Org, client, monkeypatch: pytest.MonkeyPatch) -> None:
    from kith.web import board

    monkeypatch.setattr(board, "MAX_CARDS", 2)
    p = await _pipeline(client, org)
    first = p["stages"][0]
    for i, amount in enumerate(("1000", "2000", "4000.50")):
        await _deal(client, org, f"Deal {i}", amount)
    await _deal(client, org, "Other rep's", "100000", persona=org.other_rep)
    await _post(client, org.rep, "/api/v1/deals", {"title": "In euros", "value": {"amount": "500", "currency": "EUR"}})
    html = (await (await web(org.rep)).get("/board")).text
    assert "Showing the 2 open deals" in html
    assert "7,000.50 USD" in html  # all three of the rep's USD deals, though two cards are shown
    weighted = Decimal("7000.50") * first["probability"] / 100
    assert f"weighted {weighted:,.2f} USD" in html
    assert "+ 500.00 EUR" in html
    assert "100,000.00" not in html  # the other rep's deal is not the rep's to see
    section = html.split(f'data-stage="{first["id"]}"', 1)[1].split("</header>", 1)[0]
    assert "<span data-count>4</span>" in section
