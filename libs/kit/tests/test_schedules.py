"""Cron schedules: validation, time zones (DST), the window, and missed ticks fired once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dsw_kit.schedules import CronSchedule, ScheduleError, due_tick, validate_cron


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type,misc]


@pytest.mark.parametrize(
    ("cron", "timezone", "field", "fragment"),
    [
        ("* * * *", "UTC", "cron", "expected 5 fields"),
        ("0 0 * * * *", "UTC", "cron", "expected 5 fields"),
        ("61 * * * *", "UTC", "cron", "not a valid cron expression"),
        ("0 0 30 2 *", "UTC", "cron", "never fires"),
        ("0 6 * * *", "Mars/Olympus", "timezone", "not a known IANA time zone"),
        ("0 6 * * *", "../etc/passwd", "timezone", "not a known IANA time zone"),
        ("0 6 * * *", "", "timezone", "not a known IANA time zone"),
    ],
)
def test_invalid_schedules_name_the_field(
    cron: str, timezone: str, field: str, fragment: str
) -> None:
    with pytest.raises(ScheduleError) as caught:
        CronSchedule.parse(cron, timezone)
    assert caught.value.field == field
    assert fragment in caught.value.message


def test_bounds_must_be_aware_and_ordered() -> None:
    with pytest.raises(ScheduleError) as naive:
        CronSchedule.parse("0 * * * *", start=datetime(2026, 1, 1))
    assert naive.value.field == "start"
    with pytest.raises(ScheduleError) as misordered:
        CronSchedule.parse("0 * * * *", start=at(2026, 2, 1), end=at(2026, 1, 1))
    assert misordered.value.field == "end"


def test_whitespace_is_normalised() -> None:
    assert validate_cron("  */5   *  * * 1-5 ") == "*/5 * * * 1-5"


def test_local_time_survives_daylight_saving() -> None:
    paris = CronSchedule.parse("0 6 * * *", "Europe/Paris")
    # 06:00 in Paris is 05:00 UTC in winter and 04:00 UTC in summer (DST began 2026-03-29).
    assert paris.next_after(at(2026, 3, 28, 12)) == at(2026, 3, 29, 4)
    assert paris.next_after(at(2026, 3, 27, 12)) == at(2026, 3, 28, 5)


def test_the_window_bounds_the_ticks() -> None:
    hourly = CronSchedule.parse("0 * * * *", start=at(2026, 1, 1, 10), end=at(2026, 1, 1, 12))
    assert hourly.next_after(at(2025, 12, 31)) == at(2026, 1, 1, 10)  # a tick at start counts
    assert hourly.next_after(at(2026, 1, 1, 10)) == at(2026, 1, 1, 11)
    assert hourly.next_after(at(2026, 1, 1, 11)) is None  # 12:00 is the (exclusive) end


def test_missed_ticks_fire_once_and_the_next_is_after_now() -> None:
    hourly = CronSchedule.parse("0 * * * *")
    # Down from 09:30 to 14:10: the 10:00 tick was awaited; 11, 12, 13 and 14 were missed too.
    decision = due_tick(hourly, at(2026, 1, 1, 10), now=at(2026, 1, 1, 14, 10))
    assert decision.due
    assert decision.tick == at(2026, 1, 1, 10)
    assert decision.missed == 4
    assert decision.next_fire_at == at(2026, 1, 1, 15)
    # Deciding again with the stored next tick: nothing more is due (no replay).
    again = due_tick(hourly, decision.next_fire_at, now=at(2026, 1, 1, 14, 11))
    assert not again.due
    assert again.next_fire_at == at(2026, 1, 1, 15)


def test_a_tick_exactly_now_is_due() -> None:
    daily = CronSchedule.parse("30 2 * * *")
    decision = due_tick(daily, at(2026, 5, 1, 2, 30), now=at(2026, 5, 1, 2, 30))
    assert decision.due
    assert decision.missed == 0
    assert decision.next_fire_at == at(2026, 5, 2, 2, 30)


def test_nothing_is_due_without_a_next_tick() -> None:
    ended = CronSchedule.parse("0 * * * *", end=at(2026, 1, 1))
    assert ended.next_after(at(2026, 6, 1)) is None
    assert not due_tick(ended, None, now=at(2026, 6, 1)).due


def test_the_last_tick_before_the_end_fires_and_then_the_schedule_ends() -> None:
    hourly = CronSchedule.parse("0 * * * *", end=at(2026, 1, 1, 12))
    decision = due_tick(hourly, at(2026, 1, 1, 11), now=at(2026, 1, 1, 13))
    assert decision.due
    assert decision.next_fire_at is None
