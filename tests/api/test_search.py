"""Text search (issue 3 item 6): `q` on the contact and company lists and `GET /api/v1/search`:
prefix matching on every indexed field, ranking, safety against query syntax, the index kept in
step with create/update/delete/restore, org scoping, permissions and keyset pagination."""

from __future__ import annotations

import string
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kith.core.db import Database
from kith.search import query as sq
from tests.conftest import Org, problem

A = "/api/v1"


async def contact(client: httpx.AsyncClient, who: Any, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Someone")
    r = await client.post(f"{A}/contacts", json=body, headers=who.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def company(client: httpx.AsyncClient, who: Any, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Some Co")
    r = await client.post(f"{A}/companies", json=body, headers=who.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def listed(client: httpx.AsyncClient, who: Any, q: str, plural: str = "contacts", **params: Any) -> list[str]:
    r = await client.get(f"{A}/{plural}", params={"q": q, "limit": 500, **params}, headers=who.h)
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["data"]]


async def found(client: httpx.AsyncClient, who: Any, q: str, **params: Any) -> list[str]:
    r = await client.get(f"{A}/search", params={"q": q, "limit": 100, **params}, headers=who.h)
    assert r.status_code == 200, r.text
    return [h["id"] for h in r.json()["data"]]


def backend(db: Database) -> str:
    return db.backend


# --- matching --------------------------------------------------------------------------------

async def test_prefixes_of_names_and_email_parts_find_contacts_and_companies(client: httpx.AsyncClient,
                                                                            org: Org) -> None:
    alice = await contact(client, org.admin, name="Alice Liddell", email="alice@acme.com")
    acme = await company(client, org.admin, name="Acme Corporation", domain="acme.com")
    bob = await contact(client, org.admin, name="Bob Stone", email="bob@globex.test")
    assert await listed(client, org.admin, "ali") == [alice["id"]]
    assert await listed(client, org.admin, "ALI") == [alice["id"]]
    assert await listed(client, org.admin, "acm") == [alice["id"]]  # the email's domain
    assert await listed(client, org.admin, "acm", "companies") == [acme["id"]]
    assert await listed(client, org.admin, "acme.com", "companies") == [acme["id"]]
    assert set(await found(client, org.admin, "acm")) == {alice["id"], acme["id"]}
    assert await listed(client, org.admin, "alice@acme.com") == [alice["id"]]
    assert await listed(client, org.admin, "globex") == [bob["id"]]
    assert await listed(client, org.admin, "liddell alice") == [alice["id"]]  # every word, any order
    assert await listed(client, org.admin, "alice stone") == []  # every word must match
    assert await listed(client, org.admin, "xyzzy") == []


async def test_every_indexed_contact_field_is_searchable(client: httpx.AsyncClient, org: Org) -> None:
    c = await contact(client, org.admin, name="Quentin Q", first_name="Quinto", last_name="Quartermaine",
                      email="q.hunter@frobnicate.test", phone="+1 (555) 010-2030", mobile="+44 7700 900123",
                      title="Chief Wombat Officer", notes="Loves the analytical engine.",
                      tags=["platinum-tier", "Café"])
    for q in ("quinto", "quarterm", "hunter", "frobni", "q.hunter", "15550102030", "555 010", "7700",
              "447700900", "wombat", "chief offi", "analytic", "platinum", "tier", "cafe", "café", "CAFÉ"):
        assert await listed(client, org.admin, q) == [c["id"]], q


async def test_every_indexed_company_field_is_searchable(client: httpx.AsyncClient, org: Org) -> None:
    c = await company(client, org.admin, name="Initech", domain="initech-software.example",
                      external_id="crm-4711", notes="Makes TPS reports.", tags=["enterprise"])
    for q in ("init", "initech-soft", "software", "4711", "crm-4711", "tps report", "enterp"):
        assert await listed(client, org.admin, q, "companies") == [c["id"]], q


async def test_accents_and_case_are_ignored_and_other_scripts_work(client: httpx.AsyncClient, org: Org) -> None:
    zoe = await contact(client, org.admin, name="Zoë Ångström")
    jose = await contact(client, org.admin, name="JOSÉ Núñez")
    kyiv = await contact(client, org.admin, name="Олена Київська")
    yamada = await contact(client, org.admin, name="山田太郎")
    assert await listed(client, org.admin, "zoe") == [zoe["id"]]
    assert await listed(client, org.admin, "ZOË angst") == [zoe["id"]]
    assert await listed(client, org.admin, "jose nun") == [jose["id"]]
    assert await listed(client, org.admin, "оле") == [kyiv["id"]]
    assert await listed(client, org.admin, "山田") == [yamada["id"]]


async def test_postgresql_also_finds_substrings_of_name_and_email(client: httpx.AsyncClient, db: Database,
                                                                 org: Org) -> None:
    c = await contact(client, org.admin, name="Marianne Kowalski", email="mk@example.test")
    expected = [c["id"]] if db.backend == "postgresql" else []
    assert await listed(client, org.admin, "owalsk") == expected
    assert await listed(client, org.admin, "ow") == []  # too short for a substring


# --- safety ----------------------------------------------------------------------------------

NASTY = ['"', '""', "'", "*", "ali*", "-", "-ali", "ali -bob", "NEAR", "NEAR(ali bob)", "ali AND", "AND", "OR",
         "NOT", "ali OR bob", "(", ")", "(ali", "name:ali", ":", "ali:", "^ali", "{name email}: ali", "ali + bob",
         "\\", "%", "_", "%_%", "a'b\"c", "&|!<->", "ali:*", "'ali':*", "!ali", "ali & !bob", "<->",
         "\u0000", "ali\u0000", "\u200b", "\ud7ff", "😀", "ali😀ce", "\u0301", "e\u0301", "İ", "ß", "ǅ", "ﬁ",
         " ", "   ", "\t\n", "x" * 200, "a " * 100, "🙂" * 200]


@pytest.mark.parametrize("q", NASTY)
async def test_any_text_is_a_plain_query_never_an_error(client: httpx.AsyncClient, org: Org, q: str) -> None:
    await contact(client, org.admin, name="Alice Bob", email="ali@bob.test")
    for path, params in ((f"{A}/contacts", {}), (f"{A}/companies", {}), (f"{A}/search", {}),
                         (f"{A}/contacts", {"sort": "name"})):
        r = await client.get(path, params={"q": q, **params}, headers=org.admin.h)
        if q == "" or "\u0000" in q:  # NUL is refused in every parameter (no backend can compare it)
            names = [e["field"] for e in problem(r, 422)["errors"]]
            assert names == ["q"], names
        else:
            assert r.status_code == 200, (path, q, r.status_code, r.text)


async def test_operators_are_searched_as_words(client: httpx.AsyncClient, org: Org) -> None:
    near = await contact(client, org.admin, name="Nearly Andersen", email="or.not@and.test")
    assert await listed(client, org.admin, "NEAR") == [near["id"]]
    assert await listed(client, org.admin, "AND") == [near["id"]]
    assert await listed(client, org.admin, "or not") == [near["id"]]
    assert await listed(client, org.admin, '"nearly') == [near["id"]]
    assert await listed(client, org.admin, "near*") == [near["id"]]
    assert await listed(client, org.admin, "-near") == [near["id"]]  # not a negation
    assert await listed(client, org.admin, "!*%") == []  # nothing to search for: no matches


@pytest.mark.anyio
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(min_size=1, max_size=200))
async def test_arbitrary_text_never_yields_a_5xx(client: httpx.AsyncClient, org: Org, q: str) -> None:
    for path in (f"{A}/contacts", f"{A}/companies", f"{A}/search"):
        r = await client.get(path, params={"q": q}, headers=org.admin.h)
        assert r.status_code < 500, (path, q, r.text)
        if r.status_code != 200:
            problem(r, r.status_code)


WORDS = st.text(alphabet=st.sampled_from(string.ascii_letters + "àáâäçèéêëìíîïñòóôöùúûüýÿßøåæœ"
                                         "абвгдежзийклмнопрстуфхцчшщыэюяαβγδεζηθικλμνξοπρστυφχψω"),
                min_size=3, max_size=20)


@pytest.mark.anyio
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(word=WORDS, data=st.data())
async def test_a_random_word_is_found_by_any_prefix_of_three_letters_or_more(
        client: httpx.AsyncClient, org: Org, word: str, data: st.DataObject) -> None:
    c = await contact(client, org.admin, name=word)
    try:
        n = data.draw(st.integers(min_value=3, max_value=len(word)), label="prefix length")
        prefix = word[:n]
        assert c["id"] in await listed(client, org.admin, prefix), prefix
        shouted = "".join(ch.upper() if len(ch.upper()) == 1 else ch for ch in prefix)  # not ß -> SS
        assert c["id"] in await found(client, org.admin, shouted, types="contact"), prefix
    finally:
        r = await client.delete(f"{A}/contacts/{c['id']}", params={"permanent": "true"}, headers=org.admin.h)
        assert r.status_code == 204


# --- ranking ---------------------------------------------------------------------------------

async def test_better_matches_come_first(client: httpx.AsyncClient, org: Org) -> None:
    in_notes = await contact(client, org.admin, name="Zed Zimmer", notes="Introduced by ann at the fair")
    in_title = await contact(client, org.admin, name="Yves Young", title="Annual planning lead")
    word = await contact(client, org.admin, name="Lee Ann Womack")
    by_email = await contact(client, org.admin, name="Xavier Xu", email="ann.x@xu.test")
    prefix_b = await contact(client, org.admin, name="Annika Berg")
    prefix_a = await contact(client, org.admin, name="Annabel Lee")
    exact = await contact(client, org.admin, name="Ann")
    r = await client.get(f"{A}/contacts", params={"q": "ann"}, headers=org.admin.h)
    assert r.status_code == 200
    got = [c["id"] for c in r.json()["data"]]
    # exact name; names then emails starting with the query (by name); a word of the name; the rest
    assert got == [exact["id"], prefix_a["id"], prefix_b["id"], by_email["id"], word["id"], in_title["id"],
                   in_notes["id"]]
    hits = (await client.get(f"{A}/search", params={"q": "ann"}, headers=org.admin.h)).json()["data"]
    assert [h["id"] for h in hits] == got
    assert [h["rank"] for h in hits] == [0, 1, 1, 1, 2, 3, 3]
    assert hits[0] == {"type": "contact", "id": exact["id"], "name": "Ann", "rank": 0, "email": None,
                       "title": None, "stage": "lead", "owner_id": org.admin.user_id}


async def test_an_exact_email_or_domain_ranks_first(client: httpx.AsyncClient, org: Org) -> None:
    other = await contact(client, org.admin, name="Acme Fan", email="fan@acme.test")
    exact = await contact(client, org.admin, name="Zora", email="acme@acme.test")
    co = await company(client, org.admin, name="Zeta Acme", domain="acme.test")
    hits = (await client.get(f"{A}/search", params={"q": "acme@acme.test"}, headers=org.admin.h)).json()["data"]
    assert [h["id"] for h in hits][0] == exact["id"]
    hits = (await client.get(f"{A}/search", params={"q": "acme.test"}, headers=org.admin.h)).json()["data"]
    assert hits[0]["id"] == co["id"] and hits[0]["type"] == "company" and hits[0]["domain"] == "acme.test"
    assert {h["id"] for h in hits} == {co["id"], other["id"], exact["id"]}


# --- pagination, sort and filters -------------------------------------------------------------

async def test_relevance_pages_visit_every_match_once_in_order(client: httpx.AsyncClient, org: Org) -> None:
    names = ["Kim", "Kimberly Ames", "Kim Ames", "Akim Kimura", "Kimi", "Joe Kimble", "Kim"]
    made = [await contact(client, org.admin, name=n, notes="kim" if i % 2 else None) for i, n in enumerate(names)]
    await contact(client, org.admin, name="Unrelated Person")
    full = await listed(client, org.admin, "kim")
    assert sorted(full) == sorted(c["id"] for c in made)
    for limit in (1, 2, 3):
        pages, cursor = [], None
        while True:
            params = {"q": "kim", "limit": limit} | ({"cursor": cursor} if cursor else {})
            body = (await client.get(f"{A}/contacts", params=params, headers=org.admin.h)).json()
            pages.append([c["id"] for c in body["data"]])
            cursor = body["next_cursor"]
            if cursor is None:
                break
            assert len(pages[-1]) == limit
        assert [i for p in pages for i in p] == full, limit


async def test_search_pages_merge_types_in_order(client: httpx.AsyncClient, org: Org) -> None:
    for i in range(4):
        await contact(client, org.admin, name=f"Orion {i}")
        await company(client, org.admin, name=f"Orion {i}")
    await company(client, org.admin, name="Orion")
    full = (await client.get(f"{A}/search", params={"q": "orion", "limit": 100}, headers=org.admin.h)).json()
    assert full["next_cursor"] is None and len(full["data"]) == 9
    keys = [(h["rank"], h["name"].lower(), h["type"], h["id"]) for h in full["data"]]
    assert keys == sorted(keys) and full["data"][0]["name"] == "Orion"
    for limit in (1, 2, 4):
        seen, cursor = [], None
        while True:
            params = {"q": "orion", "limit": limit} | ({"cursor": cursor} if cursor else {})
            body = (await client.get(f"{A}/search", params=params, headers=org.admin.h)).json()
            seen += [h["id"] for h in body["data"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == [h["id"] for h in full["data"]], limit


async def test_an_explicit_sort_orders_the_matches_by_that_field(client: httpx.AsyncClient, org: Org) -> None:
    b = await contact(client, org.admin, name="Bea Fisher", lead_score=10)
    a = await contact(client, org.admin, name="Fisher", lead_score=50)
    c = await contact(client, org.admin, name="Carl Fisherman", lead_score=30)
    await contact(client, org.admin, name="Dan Other", lead_score=99)
    assert await listed(client, org.admin, "fisher", sort="-lead_score") == [a["id"], c["id"], b["id"]]
    assert await listed(client, org.admin, "fisher", sort="name") == [b["id"], c["id"], a["id"]]
    assert await listed(client, org.admin, "fisher", sort="relevance") == [a["id"], b["id"], c["id"]]
    pages, cursor = [], None
    while True:
        params = {"q": "fisher", "limit": 1, "sort": "-lead_score"} | ({"cursor": cursor} if cursor else {})
        body = (await client.get(f"{A}/contacts", params=params, headers=org.admin.h)).json()
        pages += [x["id"] for x in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == [a["id"], c["id"], b["id"]]


async def test_q_combines_with_filters(client: httpx.AsyncClient, org: Org) -> None:
    lead = await contact(client, org.admin, name="Pia Lead", stage="lead", tags=["vip"])
    qual = await contact(client, org.admin, name="Pia Qualified", stage="qualified")
    assert await listed(client, org.admin, "pia", stage="qualified") == [qual["id"]]
    assert await listed(client, org.admin, "pia", tag="vip") == [lead["id"]]
    assert await listed(client, org.admin, "pia", stage="customer") == []


async def test_bad_sorts_and_cursors_are_refused(client: httpx.AsyncClient, org: Org) -> None:
    await contact(client, org.admin, name="Rae")
    await contact(client, org.admin, name="Rae")
    body = problem(await client.get(f"{A}/contacts", params={"sort": "relevance"}, headers=org.admin.h), 422)
    assert body["errors"][0]["field"] == "sort"
    body = problem(await client.get(f"{A}/contacts", params={"q": "rae", "sort": "-relevance"}, headers=org.admin.h),
                   422)
    assert body["errors"][0]["field"] == "sort"
    nxt = (await client.get(f"{A}/contacts", params={"q": "rae", "limit": 1}, headers=org.admin.h)).json()
    assert nxt["next_cursor"]
    # a relevance cursor is refused by a list sorted otherwise, and garbage is a 400
    problem(await client.get(f"{A}/contacts", params={"q": "rae", "sort": "name", "cursor": nxt["next_cursor"]},
                             headers=org.admin.h), 400)
    for cursor in ("garbage", "W10", nxt["next_cursor"][:-3]):
        for path in (f"{A}/contacts", f"{A}/search"):
            r = await client.get(path, params={"q": "rae", "cursor": cursor}, headers=org.admin.h)
            problem(r, 400)
    problem(await client.get(f"{A}/search", params={"q": "rae", "types": "contact,deal"}, headers=org.admin.h), 422)
    problem(await client.get(f"{A}/search", params={"q": "rae", "types": ","}, headers=org.admin.h), 422)
    problem(await client.get(f"{A}/search", params={"q": "rae", "limit": 101}, headers=org.admin.h), 422)
    problem(await client.get(f"{A}/search", headers=org.admin.h), 422)


async def test_tampered_relevance_cursors_are_refused(client: httpx.AsyncClient, org: Org) -> None:
    from kith.core.listing import encode_cursor

    await contact(client, org.admin, name="Rae")
    for value in ([0], ["0", "rae"], [True, "rae"], [0, 1], None, {"t": "2024-01-01T00:00:00+00:00"}):
        cursor = encode_cursor("relevance", value, "contact_x")
        problem(await client.get(f"{A}/contacts", params={"q": "rae", "cursor": cursor}, headers=org.admin.h), 400)
        cursor = encode_cursor("search", value, "contact_x")
        problem(await client.get(f"{A}/search", params={"q": "rae", "cursor": cursor}, headers=org.admin.h), 400)


# --- the index follows the records --------------------------------------------------------------

async def test_the_index_follows_updates_deletes_and_restores(client: httpx.AsyncClient, db: Database,
                                                             org: Org) -> None:
    c = await contact(client, org.admin, name="Olga Petrova", email="olga@old.test", tags=["alpha"])
    co = await company(client, org.admin, name="Oldco", domain="oldco.test")
    r = await client.patch(f"{A}/contacts/{c['id']}", json={"name": "Olga Ivanova", "email": "olga@new.test",
                                                            "tags": ["beta"]}, headers=org.admin.h)
    assert r.status_code == 200
    assert await listed(client, org.admin, "petrova") == []
    assert await listed(client, org.admin, "ivanova") == [c["id"]]
    assert await listed(client, org.admin, "old.test") == []
    assert await listed(client, org.admin, "new.test") == [c["id"]]
    assert await listed(client, org.admin, "alpha") == []
    assert await listed(client, org.admin, "beta") == [c["id"]]
    r = await client.patch(f"{A}/contacts/{c['id']}", json={"lead_score": 5}, headers=org.admin.h)  # not indexed
    assert r.status_code == 200 and await listed(client, org.admin, "ivanova") == [c["id"]]
    r = await client.patch(f"{A}/companies/{co['id']}", json={"name": "Newco"}, headers=org.admin.h)
    assert await listed(client, org.admin, "oldco", "companies") == [co["id"]]  # still the domain
    assert await listed(client, org.admin, "newco", "companies") == [co["id"]]

    assert (await client.delete(f"{A}/contacts/{c['id']}", headers=org.admin.h)).status_code == 204
    assert (await client.delete(f"{A}/companies/{co['id']}", headers=org.admin.h)).status_code == 204
    assert await listed(client, org.admin, "ivanova") == []
    assert await found(client, org.admin, "newco") == []
    assert (await client.post(f"{A}/contacts/{c['id']}/restore", headers=org.admin.h)).status_code == 200
    assert await listed(client, org.admin, "ivanova") == [c["id"]]
    assert await found(client, org.admin, "ivanova") == [c["id"]]
    r = await client.delete(f"{A}/contacts/{c['id']}", params={"permanent": "true"}, headers=org.admin.h)
    assert r.status_code == 204
    assert await listed(client, org.admin, "ivanova") == []
    await assert_index_consistent(db)


async def assert_index_consistent(db: Database) -> None:
    """SQLite: FTS5's integrity-check compares the index with the rows (the view) and fails on any
    difference; PostgreSQL's expression index cannot drift."""
    if db.backend != "sqlite":
        return
    async with db.engine.connect() as conn:
        for table in ("contacts_fts", "companies_fts"):
            await conn.execute(sa.text(f"INSERT INTO {table}({table}, rank) VALUES('integrity-check', 1)"))
        await conn.commit()


async def test_the_widget_and_bulk_paths_are_indexed_too(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    r = await client.post(f"{A}/widget/identify", json={"visitor_id": "v-search-1", "email": "wanda@widgetco.test",
                                                        "name": "Wanda Widget", "company": {"name": "Widgetco"}},
                          headers={"X-Kith-Widget-Key": org.widget_key})
    assert r.status_code in {200, 201}, r.text
    assert len(await listed(client, org.admin, "wanda")) == 1
    assert len(await listed(client, org.admin, "widgetco", "companies")) == 1
    await assert_index_consistent(db)


# --- scope and access -------------------------------------------------------------------------

async def test_search_stays_inside_the_org(client: httpx.AsyncClient, org: Org, other_org: Org) -> None:
    mine = await contact(client, org.admin, name="Selma Scope")
    theirs = await contact(client, other_org.admin, name="Selma Scope")
    await company(client, other_org.admin, name="Selma Scope Inc")
    assert await listed(client, org.admin, "selma") == [mine["id"]]
    assert await found(client, org.admin, "selma") == [mine["id"]]
    assert await listed(client, other_org.admin, "selma") == [theirs["id"]]


async def test_own_only_readers_see_only_their_teams_records(client: httpx.AsyncClient, org: Org,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from kith.auth import permissions as perms
    from kith.auth.permissions import Grant

    mine = await contact(client, org.admin, name="Tess Team", owner_id=org.rep.user_id)
    await contact(client, org.admin, name="Tess Other", owner_id=org.other_rep.user_id)
    co = await company(client, org.admin, name="Tess Co", owner_id=org.rep.user_id)
    for perm in ("contact:read", "company:read"):
        monkeypatch.setitem(perms.MATRIX, perm, {**perms.MATRIX[perm], "sales-rep": Grant.OWN})
    assert await listed(client, org.rep, "tess") == [mine["id"]]
    assert set(await found(client, org.rep, "tess")) == {mine["id"], co["id"]}
    assert len(await found(client, org.manager, "tess")) == 3


async def test_types_the_caller_may_not_read_are_left_out(client: httpx.AsyncClient, org: Org,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from kith.auth import permissions as perms
    from kith.auth.permissions import Grant

    c = await contact(client, org.admin, name="Ursula")
    await company(client, org.admin, name="Ursula Ltd")
    monkeypatch.setitem(perms.MATRIX, "company:read", {**perms.MATRIX["company:read"], "viewer": Grant.NONE})
    assert await found(client, org.viewer, "ursula") == [c["id"]]
    assert await found(client, org.viewer, "ursula", types="contact,company") == [c["id"]]
    problem(await client.get(f"{A}/search", params={"q": "ursula", "types": "company"}, headers=org.viewer.h), 403)
    assert len(await found(client, org.admin, "ursula")) == 2
    problem(await client.get(f"{A}/search", params={"q": "ursula"}), 401)


# --- the tokenizer -----------------------------------------------------------------------------

def test_tokens_are_words_only_and_the_match_expression_is_quoted() -> None:
    assert sq.tokenize('"ali" NEAR(bob*) -x a:b') == ["ali", "NEAR", "bob", "x", "a", "b"]
    assert sq.fts5_match(["ali", "NEAR"]) == '"ali"* "NEAR"*'
    assert sq.tokenize("ali ali ALI") == ["ali", "ALI"]
    assert len(sq.tokenize(" ".join(f"w{i}" for i in range(50)))) == sq.MAX_TOKENS
    terms = sq.parse("  O'Brien\u0000  ")
    assert terms.tokens == ("O", "Brien") and terms.whole == "o'brien" and terms.joined == "o brien"
    assert not sq.parse("%_*").empty and sq.parse("%_*").literal  # symbols match literally
    assert sq.parse("  \t ").empty and not sq.parse("bob@acme.com").literal


@given(st.text(max_size=300))
def test_no_token_holds_a_character_fts5_or_tsquery_would_read_as_syntax(text: str) -> None:
    for tok in sq.tokenize(text):
        assert tok and not any(ch in tok for ch in "\"'*:()-^+&|!<>{}\\% _\u0000")
