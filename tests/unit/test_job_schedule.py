"""Schedules cut time into contiguous periods whose key is the idempotency key of a job run."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kith.jobs.model import NIGHTLY, Daily, Every, Schedule, Weekly, zone
from kith.jobs.registry import JOBS

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe",
         "Pacific/Chatham", "America/St_Johns", "Pacific/Kiritimati", "Pacific/Pago_Pago"]
SCHEDULES: list[Schedule] = [Every(1), Every(15), Every(30), Every(1440), Daily(), Daily(time(8, 0)),
                             Daily(time(2, 30)), NIGHTLY, Weekly(), Weekly(6, time(23, 45))]

instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                        timezones=st.just(UTC))


@given(at=instants, schedule=st.sampled_from(SCHEDULES), tz=st.sampled_from(ZONES))
def test_a_period_holds_its_instant_and_is_followed_by_the_next(at: datetime, schedule: Schedule, tz: str) -> None:
    p = schedule.period(at, ZoneInfo(tz))
    assert p.start <= at < p.end
    nxt = schedule.period(p.end, ZoneInfo(tz))
    assert nxt.start == p.end and nxt.key != p.key
    assert schedule.period(p.start, ZoneInfo(tz)) == p  # the key is a function of the period
    assert schedule.period(p.end - timedelta(microseconds=1), ZoneInfo(tz)) == p


@given(at=instants, tz=st.sampled_from(ZONES))
def test_a_daily_period_lasts_about_a_day_and_its_key_is_its_local_date(at: datetime, tz: str) -> None:
    p = Daily(time(8, 0)).period(at, ZoneInfo(tz))
    assert timedelta(hours=22) <= p.end - p.start <= timedelta(hours=26)
    assert p.day is not None and p.key == p.day.isoformat()


@pytest.mark.parametrize(("schedule", "at", "key"), [
    pytest.param(Every(30), "2026-12-03T13:44:59+00:00", "2026-12-03T13:30Z", id="half-hour-slot"),
    pytest.param(Every(15), "2026-12-03T00:00:00+00:00", "2026-12-03T00:00Z", id="slot-start"),
    pytest.param(Daily(), "2026-12-03T23:59:59+00:00", "2026-12-03", id="daily-utc"),
    pytest.param(Daily(time(8)), "2026-12-03T07:59:59+00:00", "2026-12-02", id="before-8-is-yesterday"),
    pytest.param(Daily(time(8)), "2026-12-03T08:00:00+00:00", "2026-12-03", id="at-8-is-today"),
    pytest.param(Weekly(), "2026-12-06T23:00:00+00:00", "2026-W49", id="sunday-is-still-this-week"),
    pytest.param(Weekly(), "2026-12-07T00:00:00+00:00", "2026-W50", id="monday-starts-a-week"),
    pytest.param(NIGHTLY, "2026-12-03T00:29:00+00:00", "2026-12-02", id="nightly-before-0030"),
])
def test_period_keys(schedule: Schedule, at: str, key: str) -> None:
    assert schedule.period(datetime.fromisoformat(at), UTC).key == key


def test_daily_periods_follow_the_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 07:30 UTC is 08:30 in Berlin (winter): today's 08:00 period has started there, not in UTC.
    at = datetime(2026, 12, 3, 7, 30, tzinfo=UTC)
    assert Daily(time(8)).period(at, berlin).key == "2026-12-03"
    assert Daily(time(8)).period(at, UTC).key == "2026-12-02"
    assert NIGHTLY.period(at, berlin) == NIGHTLY.period(at, UTC)  # nightly is UTC whatever the org's zone


def test_dst_change_days_are_23_and_25_hours_long() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    spring = Daily().period(datetime(2026, 3, 29, 12, tzinfo=UTC), berlin)
    autumn = Daily().period(datetime(2026, 10, 25, 12, tzinfo=UTC), berlin)
    assert spring.end - spring.start == timedelta(hours=23)
    assert autumn.end - autumn.start == timedelta(hours=25)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        Daily().period(datetime(2026, 1, 1), UTC)


def test_zone_falls_back_to_the_org_then_utc() -> None:
    assert zone("Asia/Tokyo", "Europe/Berlin") == ZoneInfo("Asia/Tokyo")
    assert zone(None, "Europe/Berlin") == ZoneInfo("Europe/Berlin")
    assert zone("Not/AZone", None) is UTC


def test_the_registry_has_the_seed_jobs_with_unique_names() -> None:
    names = [j.name for j in JOBS]
    assert names == ["deal-rotting", "follow-up-reminders", "lead-score-decay", "campaign-stats-sync",
                     "analytics-snapshot"]
    assert all(j.schedule_label and j.description for j in JOBS)
