"""Pipelines and the company-stage list over HTTP (seed 004 §4 Pipeline & Stage, §8 Pipelines;
DESIGN §4): several deal pipelines with exactly one default, a full ordered stage list edited in
one PATCH that never loses a deal or a company's stage, permissions, another org, bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kith.core.db import Database
from tests.api.deal_support import PERSONAS, V1, deal, events_of, ok, pipeline, snapshot, stage_named, verb
from tests.conftest import Org, problem

API = f"{V1}/pipelines"


def keep(p: dict[str, Any], *names: str, **changes: dict[str, Any]) -> list[dict[str, Any]]:
    """The stage list of ``p`` restricted to ``names`` (in that order), as a PATCH body sends it."""
    out = []
    for name in names:
        s = stage_named(p, name)
        out.append({"id": s["id"], "name": s["name"], "outcome": s["outcome"], **changes.get(name, {})})
    return out


async def test_a_new_org_has_the_default_pipeline_and_company_stages(client: httpx.AsyncClient, org: Org) -> None:
    data = (await ok(await client.get(API, headers=org.viewer.h)))["data"]
    assert len(data) == 1 and data[0]["is_default"] and data[0]["kind"] == "deal"
    assert [(s["name"], s["order"], s["probability"], s["outcome"]) for s in data[0]["stages"]] == [
        ("appointment", 0, 10, None), ("qualification", 1, 20, None), ("proposal", 2, 50, None),
        ("negotiation", 3, 80, None), ("closed won", 4, 100, "won"), ("closed lost", 5, 0, "lost")]
    assert all(s["rot_period_days"] == 30 for s in data[0]["stages"])
    cs = await ok(await client.get(f"{V1}/company-stages", headers=org.support.h))
    assert [s["name"] for s in cs["stages"]] == ["Lead", "Qualified", "Opportunity", "Customer", "Churned"]


async def test_creating_a_default_pipeline_unsets_the_previous_default(client: httpx.AsyncClient, db: Database,
                                                                       org: Org) -> None:
    old = await pipeline(client, org)
    new = await ok(await client.post(API, json={"name": "Enterprise", "is_default": True, "stages": [
        {"name": "Discovery", "probability": 10, "rot_period_days": 14}, {"name": "Signed", "outcome": "won"},
        {"name": "Gone", "outcome": "lost"}]}, headers=org.admin.h), 201)
    assert new["is_default"] and [s["order"] for s in new["stages"]] == [0, 1, 2]
    assert new["stages"][0]["rot_period_days"] == 14 and new["stages"][1]["rot_period_days"] == 30
    listed = (await ok(await client.get(API, headers=org.rep.h)))["data"]
    assert [p["id"] for p in listed if p["is_default"]] == [new["id"]]
    d = await deal(client, org.rep)
    assert d["pipeline_id"] == new["id"] and d["stage_id"] == new["stages"][0]["id"]
    back = await ok(await client.patch(f"{API}/{old['id']}", json={"is_default": True}, headers=org.admin.h))
    assert back["is_default"] and not (await ok(await client.get(f"{API}/{new['id']}", headers=org.admin.h)))[
        "is_default"]
    assert len(await events_of(db, "pipeline.created", new["id"])) == 1
    assert len(await events_of(db, "pipeline.updated", old["id"])) == 1


async def test_a_pipeline_without_stages_gets_the_standard_ones(client: httpx.AsyncClient, org: Org) -> None:
    p = await ok(await client.post(API, json={"name": "Plain"}, headers=org.admin.h), 201)
    assert [s["name"] for s in p["stages"]][-2:] == ["closed won", "closed lost"] and not p["is_default"]


async def test_reordering_and_renaming_keeps_every_deal(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    p = await pipeline(client, org)
    d = await deal(client, org.rep)
    body = {"stages": keep(p, "qualification", "appointment", "proposal", "negotiation", "closed won",
                           "closed lost", appointment={"name": "First call"})}
    after = await ok(await client.patch(f"{API}/{p['id']}/stages", json=body, headers=org.admin.h))
    assert [s["name"] for s in after["stages"]][:2] == ["qualification", "First call"]
    assert after["version"] == p["version"] + 1
    assert (await ok(await client.get(f"{V1}/deals/{d['id']}", headers=org.rep.h)))["stage_id"] == d["stage_id"]
    [event] = await events_of(db, "pipeline.stages-changed", p["id"])
    assert event["data"]["moved_deals"] == 0 and event["data"]["before"][0]["name"] == "appointment"


async def test_deleting_a_stage_that_holds_deals_needs_a_target_and_moves_each_deal(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    p = await pipeline(client, org)
    first = stage_named(p, "appointment")
    deals = [await deal(client, org.rep) for _ in range(3)]
    pinned = await deal(client, org.rep, probability=33)
    await ok(await client.delete(f"{V1}/deals/{deals[2]['id']}", headers=org.admin.h), 204)  # trash counts too
    body: dict[str, Any] = {"stages": keep(p, "qualification", "proposal", "negotiation", "closed won",
                                           "closed lost")}
    url = f"{API}/{p['id']}"
    before = await snapshot(client, db, org, [url])
    resp = problem(await client.patch(f"{url}/stages", json=body, headers=org.admin.h), 422)
    assert resp["errors"][0]["field"] == f"move_deals_to.{first['id']}"
    assert await snapshot(client, db, org, [url]) == before
    target = stage_named(p, "qualification")
    body["move_deals_to"] = {first["id"]: target["id"]}
    after = await ok(await client.patch(f"{url}/stages", json=body, headers=org.admin.h))
    assert first["id"] not in [s["id"] for s in after["stages"]]
    for d in (deals[0], deals[1], pinned):
        got = await ok(await client.get(f"{V1}/deals/{d['id']}", headers=org.admin.h))
        assert got["stage_id"] == target["id"] and got["version"] == d["version"] + 1
        [moved] = await events_of(db, "deal.stage-moved", d["id"])
        assert moved["data"]["from_stage_id"] == first["id"] and moved["data"]["reason"] == "stage deleted"
    assert (await ok(await client.get(f"{V1}/deals/{deals[0]['id']}", headers=org.admin.h)))["probability"] == 20
    assert (await ok(await client.get(f"{V1}/deals/{pinned['id']}", headers=org.admin.h)))["probability"] == 33
    restored = await ok(await client.post(f"{V1}/deals/{deals[2]['id']}/restore", headers=org.admin.h))
    assert restored["stage_id"] == target["id"]
    [event] = await events_of(db, "pipeline.stages-changed", p["id"])
    assert event["data"]["moved_deals"] == 4 and event["data"]["deleted"] == [first["id"]]


async def test_a_new_probability_carries_the_deals_that_follow_the_stage(client: httpx.AsyncClient, org: Org) -> None:
    p = await pipeline(client, org)
    follows, pinned = await deal(client, org.rep), await deal(client, org.rep, probability=77)
    names = ("appointment", "qualification", "proposal", "negotiation", "closed won", "closed lost")
    body = {"stages": keep(p, *names, appointment={"probability": 15}) + [{"name": "on hold", "probability": 5}]}
    after = await ok(await client.patch(f"{API}/{p['id']}/stages", json=body, headers=org.admin.h))
    assert stage_named(after, "appointment")["probability"] == 15 and after["stages"][-1]["name"] == "on hold"
    assert (await ok(await client.get(f"{V1}/deals/{follows['id']}", headers=org.admin.h)))["probability"] == 15
    assert (await ok(await client.get(f"{V1}/deals/{pinned['id']}", headers=org.admin.h)))["probability"] == 77


async def test_open_deals_never_land_in_an_outcome_stage(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    p = await pipeline(client, org)
    await deal(client, org.rep)
    body = {"stages": keep(p, "qualification", "proposal", "negotiation", "closed won", "closed lost"),
            "move_deals_to": {stage_named(p, "appointment")["id"]: stage_named(p, "closed won")["id"]}}
    before = await snapshot(client, db, org, [])
    problem(await client.patch(f"{API}/{p['id']}/stages", json=body, headers=org.admin.h), 422)
    assert await snapshot(client, db, org, []) == before


async def test_won_deals_follow_a_deleted_won_stage_to_its_target(client: httpx.AsyncClient, org: Org) -> None:
    p = await pipeline(client, org)
    d = await deal(client, org.rep, expected_close_date="2026-12-31")
    await ok(await verb(client, org.rep, d["id"], "won"))
    body = {"stages": keep(p, "appointment", "qualification", "proposal", "negotiation", "closed lost") + [
        {"name": "won (new)", "outcome": "won"}],
        "move_deals_to": {stage_named(p, "closed won")["id"]: stage_named(p, "negotiation")["id"]}}
    await ok(await client.patch(f"{API}/{p['id']}/stages", json=body, headers=org.admin.h))
    got = await ok(await client.get(f"{V1}/deals/{d['id']}", headers=org.admin.h))
    assert got["status"] == "won" and got["stage_id"] == stage_named(p, "negotiation")["id"]


async def test_deleting_pipelines(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    p = await pipeline(client, org)
    problem(await client.delete(f"{API}/{p['id']}", headers=org.admin.h), 409)
    spare = await ok(await client.post(API, json={"name": "Spare"}, headers=org.admin.h), 201)
    d = await deal(client, org.rep, pipeline_id=spare["id"])
    await ok(await client.delete(f"{V1}/deals/{d['id']}", headers=org.admin.h), 204)
    assert problem(await client.delete(f"{API}/{spare['id']}", headers=org.admin.h), 409)["deals"] == 1
    await ok(await client.delete(f"{V1}/deals/{d['id']}", params={"permanent": "true"}, headers=org.admin.h), 204)
    await ok(await client.delete(f"{API}/{spare['id']}", headers=org.admin.h), 204)
    problem(await client.get(f"{API}/{spare['id']}", headers=org.admin.h), 404)
    assert len(await events_of(db, "pipeline.deleted", spare["id"])) == 1


async def test_a_stale_if_match_is_refused(client: httpx.AsyncClient, org: Org) -> None:
    p = await pipeline(client, org)
    await ok(await client.patch(f"{API}/{p['id']}", json={"name": "Sales 2"}, headers=org.admin.h))
    problem(await client.patch(f"{API}/{p['id']}/stages", json={"stages": keep(p, "appointment")},
                               headers={**org.admin.h, "If-Match": f'"v{p["version"]}"'}), 412)


# --- bad input -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "field"), [
    pytest.param({"stages": []}, "stages", id="empty"),
    pytest.param({"stages": [{"name": ""}]}, "stages.0.name", id="empty-name"),
    pytest.param({"stages": [{"name": "x" * 121}]}, "stages.0.name", id="long-name"),
    pytest.param({"stages": [{"name": "a", "probability": 101}]}, "stages.0.probability", id="probability"),
    pytest.param({"stages": [{"name": "a", "probability": "high"}]}, "stages.0.probability", id="probability-text"),
    pytest.param({"stages": [{"name": "a", "rot_period_days": 0}]}, "stages.0.rot_period_days", id="rot"),
    pytest.param({"stages": [{"name": "a", "outcome": "maybe"}]}, "stages.0.outcome", id="outcome"),
    pytest.param({"stages": [{"name": "a"}, {"name": "A"}]}, "stages.1.name", id="duplicate-name"),
    pytest.param({"stages": [{"name": "a", "outcome": "won"}]}, "stages", id="no-open-stage"),
    pytest.param({"stages": [{"id": "stage_nope", "name": "a"}]}, "stages.0.id", id="unknown-id"),
    pytest.param({"stages": [{"name": "a"}] * 51}, "stages", id="too-many"),
    pytest.param({"stages": [{"name": "a"}], "extra": 1}, "extra", id="unknown-field"),
])
async def test_a_bad_stage_list_names_the_field_and_changes_nothing(client: httpx.AsyncClient, db: Database,
                                                                    org: Org, body: dict[str, Any], field: str
                                                                    ) -> None:
    p = await pipeline(client, org)
    before = await snapshot(client, db, org, [f"{API}/{p['id']}"])
    resp = problem(await client.patch(f"{API}/{p['id']}/stages", json=body, headers=org.admin.h), 422)
    fields = [e["field"].removeprefix("body.") for e in resp.get("errors", [])]
    assert any(f == field or f.startswith(field + ".") for f in fields), resp
    assert await snapshot(client, db, org, [f"{API}/{p['id']}"]) == before


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": None}, {"is_default": False}, {"name": 3},
                                  {"stages": [{"name": "a"}]}])
async def test_a_bad_pipeline_patch_changes_nothing(client: httpx.AsyncClient, db: Database, org: Org,
                                                    body: dict[str, Any]) -> None:
    p = await pipeline(client, org)
    before = await snapshot(client, db, org, [f"{API}/{p['id']}"])
    r = await client.patch(f"{API}/{p['id']}", json=body, headers=org.admin.h)
    if body == {}:
        assert (await ok(r))["version"] == p["version"]
    else:
        problem(r, 422)
    assert await snapshot(client, db, org, [f"{API}/{p['id']}"]) == before


@pytest.mark.parametrize("body", [{}, {"name": "x" * 201}, {"name": "x", "is_default": "yes"},
                                  {"name": "x", "stages": [{"name": "a", "outcome": "lost"}]}])
async def test_a_bad_new_pipeline_is_refused(client: httpx.AsyncClient, db: Database, org: Org,
                                             body: dict[str, Any]) -> None:
    before = await snapshot(client, db, org, [])
    problem(await client.post(API, json=body, headers=org.admin.h), 422)
    assert await snapshot(client, db, org, []) == before


# --- permissions and tenancy -------------------------------------------------------------------------------

@pytest.mark.parametrize("persona", PERSONAS)
async def test_everyone_reads_pipelines_and_only_the_admin_changes_them(client: httpx.AsyncClient, db: Database,
                                                                        org: Org, persona: str) -> None:
    who = getattr(org, persona)
    p = await pipeline(client, org)
    await ok(await client.get(API, headers=who.h))
    await ok(await client.get(f"{API}/{p['id']}", headers=who.h))
    await ok(await client.get(f"{V1}/company-stages", headers=who.h))
    if persona == "admin":
        return
    before = await snapshot(client, db, org, [f"{API}/{p['id']}"])
    problem(await client.post(API, json={"name": "x"}, headers=who.h), 403)
    problem(await client.patch(f"{API}/{p['id']}", json={"name": "x"}, headers=who.h), 403)
    problem(await client.patch(f"{API}/{p['id']}/stages", json={"stages": keep(p, "appointment")}, headers=who.h),
            403)
    problem(await client.delete(f"{API}/{p['id']}", headers=who.h), 403)
    problem(await client.patch(f"{V1}/company-stages", json={"stages": [{"name": "x"}]}, headers=who.h), 403)
    assert await snapshot(client, db, org, [f"{API}/{p['id']}"]) == before


async def test_another_orgs_pipelines_and_stages_do_not_exist(client: httpx.AsyncClient, db: Database, org: Org,
                                                              other_org: Org) -> None:
    theirs = await pipeline(client, other_org)
    mine = await pipeline(client, org)
    before = await snapshot(client, db, org, [])
    problem(await client.get(f"{API}/{theirs['id']}", headers=org.admin.h), 404)
    problem(await client.patch(f"{API}/{theirs['id']}", json={"name": "x"}, headers=org.admin.h), 404)
    problem(await client.delete(f"{API}/{theirs['id']}", headers=org.admin.h), 404)
    body = {"stages": [{"id": theirs["stages"][0]["id"], "name": "stolen"}]}
    problem(await client.patch(f"{API}/{theirs['id']}/stages", json=body, headers=org.admin.h), 404)
    resp = problem(await client.patch(f"{API}/{mine['id']}/stages", json=body, headers=org.admin.h), 422)
    assert resp["errors"][0]["field"] == "stages.0.id"
    company_pid = (await ok(await client.get(f"{V1}/company-stages", headers=org.admin.h)))["id"]
    problem(await client.get(f"{API}/{company_pid}", headers=org.admin.h), 404)  # not a deal pipeline
    assert await snapshot(client, db, org, []) == before
    assert [p["id"] for p in (await ok(await client.get(API, headers=org.admin.h)))["data"]] == [mine["id"]]


# --- company stages ---------------------------------------------------------------------------------------------

async def company(client: httpx.AsyncClient, org: Org, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Initech")
    return await ok(await client.post(f"{V1}/companies", json=body, headers=org.admin.h), 201)  # type: ignore[no-any-return]


async def test_renaming_a_company_stage_renames_it_on_companies(client: httpx.AsyncClient, db: Database,
                                                                org: Org) -> None:
    cs = await ok(await client.get(f"{V1}/company-stages", headers=org.admin.h))
    a = await company(client, org, stage="lead")
    b = await company(client, org, name="Other", stage="Qualified")
    body = {"stages": [{"id": s["id"], "name": {"Lead": "Prospect", "Qualified": "Lead"}.get(s["name"], s["name"])}
                       for s in cs["stages"]]}
    after = await ok(await client.patch(f"{V1}/company-stages", json=body, headers=org.admin.h))
    assert [s["name"] for s in after["stages"]][:2] == ["Prospect", "Lead"]
    got_a = await ok(await client.get(f"{V1}/companies/{a['id']}", headers=org.admin.h))
    got_b = await ok(await client.get(f"{V1}/companies/{b['id']}", headers=org.admin.h))
    assert (got_a["stage"], got_b["stage"]) == ("Prospect", "Lead")
    [event] = await events_of(db, "pipeline.stages-changed", cs["id"])
    assert event["data"]["renamed_on_companies"] == 2
    problem(await client.patch(f"{V1}/companies/{a['id']}", json={"stage": "Opportunityy"}, headers=org.admin.h), 422)
    await ok(await client.patch(f"{V1}/companies/{a['id']}", json={"stage": "prospect"}, headers=org.admin.h))


async def test_deleting_a_company_stage_in_use_needs_a_target(client: httpx.AsyncClient, db: Database,
                                                              org: Org) -> None:
    cs = await ok(await client.get(f"{V1}/company-stages", headers=org.admin.h))
    ids = {s["name"]: s["id"] for s in cs["stages"]}
    a = await company(client, org, stage="Churned")
    kept = [{"id": s["id"], "name": s["name"]} for s in cs["stages"] if s["name"] != "Churned"]
    before = await snapshot(client, db, org, [f"{V1}/companies/{a['id']}"])
    resp = problem(await client.patch(f"{V1}/company-stages", json={"stages": kept}, headers=org.admin.h), 422)
    assert resp["errors"][0]["field"] == f"move_companies_to.{ids['Churned']}"
    assert await snapshot(client, db, org, [f"{V1}/companies/{a['id']}"]) == before
    body = {"stages": kept + [{"name": "Churned"}], "move_companies_to": {ids["Churned"]: ids["Lead"]}}
    after = await ok(await client.patch(f"{V1}/company-stages", json=body, headers=org.admin.h))
    assert [s["name"] for s in after["stages"]][-1] == "Churned" and after["stages"][-1]["id"] != ids["Churned"]
    got = await ok(await client.get(f"{V1}/companies/{a['id']}", headers=org.admin.h))
    assert got["stage"] == "Lead"
    [event] = await events_of(db, "company.stage-changed", a["id"])
    assert event["data"]["before"] == {"stage": "Churned"} and event["data"]["after"] == {"stage": "Lead"}
    unused = [{"id": s["id"], "name": s["name"]} for s in after["stages"] if s["name"] != "Opportunity"]
    await ok(await client.patch(f"{V1}/company-stages", json={"stages": unused}, headers=org.admin.h))


async def test_company_stages_refuse_outcomes_and_duplicates(client: httpx.AsyncClient, org: Org) -> None:
    problem(await client.patch(f"{V1}/company-stages", json={"stages": [{"name": "a", "outcome": "won"}]},
                               headers=org.admin.h), 422)
    problem(await client.patch(f"{V1}/company-stages", json={"stages": [{"name": "a"}, {"name": "A "}]},
                               headers=org.admin.h), 422)


async def test_the_stages_get_returns_can_be_sent_back_and_their_order_values_reorder(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    p = await pipeline(client, org)
    url = f"{API}/{p['id']}/stages"
    # GET's stages, sent back unchanged (order included): accepted, nothing changes but the version
    same = await ok(await client.patch(url, json={"stages": p["stages"]}, headers=org.admin.h))
    assert [(s["id"], s["name"], s["order"]) for s in same["stages"]] == \
        [(s["id"], s["name"], s["order"]) for s in p["stages"]]
    # order values decide over the list's order: swap the first two by their numbers only
    swapped = [dict(s) for s in same["stages"]]
    swapped[0]["order"], swapped[1]["order"] = swapped[1]["order"], swapped[0]["order"]
    after = await ok(await client.patch(url, json={"stages": swapped}, headers=org.admin.h))
    assert [s["id"] for s in after["stages"]][:2] == [p["stages"][1]["id"], p["stages"][0]["id"]]
    # some with an order, some without: refused, nothing written
    before = await snapshot(client, db, org, [f"{API}/{p['id']}"])
    half = [dict(s) for s in after["stages"]]
    del half[2]["order"]
    assert "stages" in problem(await client.patch(url, json={"stages": half}, headers=org.admin.h),
                               422)["errors"][0]["field"]
    assert await snapshot(client, db, org, [f"{API}/{p['id']}"]) == before
    # the company-stage list takes order values the same way
    company = await ok(await client.get(f"{V1}/company-stages", headers=org.admin.h))
    n = len(company["stages"])
    reversed_by_order = [{"id": s["id"], "name": s["name"], "order": n - i} for i, s in enumerate(company["stages"])]
    back = await ok(await client.patch(f"{V1}/company-stages", json={"stages": reversed_by_order},
                                       headers=org.admin.h))
    assert [s["id"] for s in back["stages"]] == [s["id"] for s in reversed(company["stages"])]


async def test_the_company_stages_get_returns_can_be_sent_back_whole(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    company = await ok(await client.get(f"{V1}/company-stages", headers=org.admin.h))
    # GET's body, every field included (probability 0, rot and outcome null), sent back: accepted,
    # the stages unchanged
    same = await ok(await client.patch(f"{V1}/company-stages", json={"stages": company["stages"]},
                                       headers=org.admin.h))
    assert same["stages"] == company["stages"] and same["version"] == company["version"] + 1
    # the echoed fields change nothing: a company stage cannot be given a probability, rot period or
    # outcome, and each refusal names its field and writes nothing
    before = await snapshot(client, db, org, [f"{V1}/company-stages"])
    for field, value in (("probability", 40), ("rot_period_days", 30), ("outcome", "won")):
        bad = [dict(s) for s in same["stages"]]
        bad[1][field] = value
        err = problem(await client.patch(f"{V1}/company-stages", json={"stages": bad}, headers=org.admin.h), 422)
        assert err["errors"][0]["field"].endswith(f"stages.1.{field}"), err
        assert await snapshot(client, db, org, [f"{V1}/company-stages"]) == before
