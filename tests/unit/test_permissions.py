"""The permission matrix (seed 004 §3) and the access rules of DESIGN §3, without a database.

The expected matrix below is typed again from the seed's text on purpose: it must not be derived
from ``kith.auth.permissions``, or a typo there would be copied here and go unnoticed.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kith.auth.access import can, check_record, require, visible_owner_ids
from kith.auth.model import Actor
from kith.auth.permissions import MATRIX, ROLES, SEED_MATRIX, Grant, grant
from kith.core.errors import Forbidden, NotFound

# Seed 004 §3, column order: crm-admin, sales-manager, sales-rep, support-agent, marketing, viewer.
# A = ✓ (all), O = ◑ (own), . = — (none).
SEED_ROLES = ("crm-admin", "sales-manager", "sales-rep", "support-agent", "marketing", "viewer")
SEED_TABLE: dict[str, str] = {
    "contact:read": "AAAAAA",
    "contact:create": "AAA.A.",
    "contact:update": "AAO...",
    "contact:delete": "A.....",
    "contact:reassign": "AA....",
    "lead:read": "AAO.AA",
    "lead:create": "AAA.A.",
    "lead:qualify": "AAO...",
    "lead:disqualify": "AAO...",
    "lead:convert": "AAO...",
    "deal:read": "AAO..A",
    "deal:create": "AAA...",
    "deal:update": "AAO...",
    "deal:close-won": "AAO...",
    "deal:close-lost": "AAO...",
    "deal:delete": "A.....",
    "activity:read": "AAOA.A",
    "activity:create": "AAAA..",
    "activity:update": "AAOO..",
    "ticket:read": "A..A..",
    "ticket:create": "A..A..",
    "ticket:assign": "A..A..",
    "ticket:resolve": "A..A..",
    "campaign:read": "AA..AA",
    "campaign:create": "A...A.",
    "campaign:launch": "A...A.",
    "pipeline:manage": "A.....",
    "analytics:read": "AA..AA",
}
_LETTER = {"A": Grant.ALL, "O": Grant.OWN, ".": Grant.NONE}

CELLS = [
    pytest.param(role, perm, _LETTER[row[i]], id=f"{perm}|{role}")
    for perm, row in SEED_TABLE.items()
    for i, role in enumerate(SEED_ROLES)
]


def test_the_expected_table_is_well_formed() -> None:
    assert len(SEED_TABLE) == 28
    assert all(len(row) == 6 and set(row) <= set(_LETTER) for row in SEED_TABLE.values())
    assert len(CELLS) == 28 * 6


@pytest.mark.parametrize(("role", "perm", "expected"), CELLS)
def test_every_cell_of_the_seed_matrix(role: str, perm: str, expected: Grant) -> None:
    assert grant(frozenset({role}), perm) is expected


def test_seed_matrix_has_exactly_the_seed_permissions() -> None:
    assert set(SEED_MATRIX) == set(SEED_TABLE), (
        f"missing: {sorted(set(SEED_TABLE) - set(SEED_MATRIX))}, extra: {sorted(set(SEED_MATRIX) - set(SEED_TABLE))}")
    assert list(SEED_MATRIX) == list(SEED_TABLE)  # same order as the seed, so the two read side by side


def test_roles_are_the_seed_roles_and_every_row_names_all_of_them() -> None:
    assert tuple(ROLES) == SEED_ROLES
    for perm, row in MATRIX.items():
        assert set(row) == set(SEED_ROLES), perm


def test_kith_rows_do_not_override_seed_rows() -> None:
    for perm, row in SEED_TABLE.items():
        assert MATRIX[perm] == {role: _LETTER[row[i]] for i, role in enumerate(SEED_ROLES)}, perm


def test_no_roles_and_unknown_roles_grant_nothing() -> None:
    assert grant(frozenset(), "contact:read") is Grant.NONE
    assert grant(frozenset({"superuser"}), "contact:read") is Grant.NONE


def test_unknown_permission_is_an_error_not_a_silent_denial_or_grant() -> None:
    with pytest.raises(KeyError):
        grant(frozenset({"crm-admin"}), "contact:fly")


# --- access rules (DESIGN §3) ------------------------------------------------------------------

ORG = "org_x"
REP, REPORT, STRANGER, BOSS = "user_rep", "user_report", "user_stranger", "user_boss"


def actor(*roles: str, user_id: str = REP, team: tuple[str, ...] = ()) -> Actor:
    return Actor(org_id=ORG, user_id=user_id, roles=frozenset(roles), team_ids=frozenset({user_id, *team}))


def test_require_without_any_grant_is_forbidden() -> None:
    with pytest.raises(Forbidden) as exc:
        require(actor("marketing"), "deal:read")
    assert exc.value.status == 403 and exc.value.extra["permission"] == "deal:read"
    assert require(actor("sales-rep"), "deal:read") is Grant.OWN
    assert require(actor("viewer"), "deal:read") is Grant.ALL


@pytest.mark.parametrize("owner", [REP, STRANGER, None], ids=["own", "not-own", "no-owner"])
def test_check_record_without_any_grant_is_forbidden_whoever_owns_it(owner: str | None) -> None:
    # marketing has no deal:read and no deal:update; support-agent no lead:qualify.
    with pytest.raises(Forbidden):
        check_record(actor("marketing"), "deal:read", owner, kind="deal", record_id="deal_1")
    with pytest.raises(Forbidden):
        check_record(actor("marketing"), "deal:update", owner, kind="deal", record_id="deal_1")
    with pytest.raises(Forbidden):
        check_record(actor("support-agent"), "lead:qualify", owner, kind="lead", record_id="lead_1")


def test_own_only_read_of_own_record_passes() -> None:
    check_record(actor("sales-rep"), "deal:read", REP, kind="deal", record_id="deal_1")
    check_record(actor("sales-rep"), "lead:read", REP, kind="lead", record_id="lead_1")


@pytest.mark.parametrize("owner", [STRANGER, None], ids=["someone-else", "nobody"])
def test_own_only_read_of_a_record_not_owned_is_not_found(owner: str | None) -> None:
    with pytest.raises(NotFound) as exc:
        check_record(actor("sales-rep"), "deal:read", owner, kind="deal", record_id="deal_1")
    assert exc.value.status == 404 and exc.value.extra == {"id": "deal_1"}
    assert "deal_1" in exc.value.detail


def test_own_only_write_to_a_readable_record_not_owned_is_forbidden() -> None:
    # support-agent: activity:read ✓ (all) but activity:update ◑ (own).
    support = actor("support-agent")
    check_record(support, "activity:read", STRANGER, kind="activity", record_id="activity_1")
    with pytest.raises(Forbidden) as exc:
        check_record(support, "activity:update", STRANGER, kind="activity", record_id="activity_1")
    assert exc.value.extra["permission"] == "activity:update"
    # ... and it may update its own.
    check_record(support, "activity:update", REP, kind="activity", record_id="activity_1")
    # contact: sales-rep reads all contacts but updates only its own.
    with pytest.raises(Forbidden):
        check_record(actor("sales-rep"), "contact:update", STRANGER, kind="contact", record_id="contact_1")


@pytest.mark.parametrize(("perm", "kind"), [
    ("deal:update", "deal"), ("deal:close-won", "deal"), ("deal:close-lost", "deal"),
    ("lead:qualify", "lead"), ("lead:disqualify", "lead"), ("lead:convert", "lead"),
    ("activity:update", "activity"),
])
def test_own_only_write_to_a_record_the_caller_may_not_read_is_not_found(perm: str, kind: str) -> None:
    with pytest.raises(NotFound):
        check_record(actor("sales-rep"), perm, STRANGER, kind=kind, record_id=f"{kind}_1")
    check_record(actor("sales-rep"), perm, REP, kind=kind, record_id=f"{kind}_1")


def test_all_grant_ignores_ownership() -> None:
    for roles in (("crm-admin",), ("sales-manager",)):
        for perm in ("deal:read", "deal:update", "lead:convert", "activity:update"):
            check_record(actor(*roles, user_id=BOSS), perm, STRANGER, kind="x", record_id="x_1")
            check_record(actor(*roles, user_id=BOSS), perm, None, kind="x", record_id="x_1")


def test_a_manager_is_treated_as_owner_of_a_direct_reports_records() -> None:
    lead_rep = actor("sales-rep", user_id=BOSS, team=(REPORT,))
    for perm in ("deal:read", "deal:update", "deal:close-won", "lead:read", "lead:convert", "activity:update"):
        check_record(lead_rep, perm, REPORT, kind="x", record_id="x_1")
        assert can(lead_rep, perm, REPORT)
    # ... but not of someone outside the team, nor of the manager's own manager's records.
    with pytest.raises(NotFound):
        check_record(lead_rep, "deal:read", STRANGER, kind="deal", record_id="deal_1")
    with pytest.raises(NotFound):
        check_record(lead_rep, "deal:update", STRANGER, kind="deal", record_id="deal_1")
    # The report does not own its manager's records.
    report = actor("sales-rep", user_id=REPORT)
    with pytest.raises(NotFound):
        check_record(report, "deal:read", BOSS, kind="deal", record_id="deal_1")


def test_multiple_roles_take_the_best_grant() -> None:
    rep_viewer = actor("sales-rep", "viewer")
    assert grant(rep_viewer.roles, "deal:read") is Grant.ALL
    check_record(rep_viewer, "deal:read", STRANGER, kind="deal", record_id="deal_1")  # viewer's ✓ wins
    # Reading everything does not widen writing: update stays own-only, and now answers 403, not 404.
    with pytest.raises(Forbidden):
        check_record(rep_viewer, "deal:update", STRANGER, kind="deal", record_id="deal_1")
    assert visible_owner_ids(rep_viewer, "deal") is None
    # marketing (no deal:create) + sales-rep (✓) may create; support + marketing still may not.
    assert require(actor("marketing", "sales-rep"), "deal:create") is Grant.ALL
    with pytest.raises(Forbidden):
        require(actor("marketing", "support-agent"), "deal:create")
    # An ◑ from one role and a — from another is ◑.
    assert grant(frozenset({"sales-rep", "marketing"}), "lead:qualify") is Grant.OWN
    assert grant(frozenset({"support-agent", "sales-rep"}), "activity:update") is Grant.OWN


def test_lists_under_own_only_read_are_limited_to_the_team() -> None:
    assert visible_owner_ids(actor("sales-rep"), "deal") == frozenset({REP})
    assert visible_owner_ids(actor("sales-rep", user_id=BOSS, team=(REPORT,)), "lead") == frozenset({BOSS, REPORT})
    assert visible_owner_ids(actor("sales-rep"), "activity") == frozenset({REP})
    for roles in (("crm-admin",), ("sales-manager",), ("viewer",)):
        assert visible_owner_ids(actor(*roles), "deal") is None
    assert visible_owner_ids(actor("sales-rep"), "contact") is None  # contact:read is ✓ for reps
    with pytest.raises(Forbidden):
        visible_owner_ids(actor("marketing"), "deal")
    with pytest.raises(Forbidden):
        visible_owner_ids(actor("support-agent"), "lead")


def test_an_actor_without_a_team_owns_nothing() -> None:
    nobody = Actor(org_id=ORG, user_id=None, roles=frozenset({"sales-rep"}))
    with pytest.raises(NotFound):
        check_record(nobody, "deal:read", None, kind="deal", record_id="deal_1")
    assert visible_owner_ids(nobody, "deal") == frozenset()


# --- property: several roles ---------------------------------------------------------------------

PERMISSIONS = sorted(MATRIX)


@given(roles=st.frozensets(st.sampled_from(SEED_ROLES)), perm=st.sampled_from(PERMISSIONS))
def test_grant_of_a_role_set_is_the_best_single_role_grant(roles: frozenset[str], perm: str) -> None:
    single = [grant(frozenset({r}), perm) for r in roles]
    assert grant(roles, perm) is max(single, default=Grant.NONE)


@given(roles=st.frozensets(st.sampled_from(SEED_ROLES)), perm=st.sampled_from(sorted(SEED_TABLE)))
def test_grant_of_a_role_set_matches_the_seed_table(roles: frozenset[str], perm: str) -> None:
    expected = max((_LETTER[SEED_TABLE[perm][SEED_ROLES.index(r)]] for r in roles), default=Grant.NONE)
    assert grant(roles, perm) is expected
