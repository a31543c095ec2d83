"""Cron schedules: validation, next fire times in a time zone, and the missed-tick rule.

A schedule fires on a five-field cron expression evaluated in an IANA time zone (so that
"0 6 * * *" in ``Europe/Paris`` stays at 06:00 local time across daylight saving changes), only
within an optional ``[start, end)`` window. Times going in and out are UTC-aware datetimes.

Missed ticks (the process was down across several) are replayed **at most once**: a schedule that
comes back finds one tick due, fires once, and its next tick is the first one after now
(:func:`due_tick`). Services keep ``next_fire_at`` on the schedule's row (see
:class:`ScheduleMixin`) and claim due rows atomically, so two processes never fire the same tick.

``croniter`` is imported lazily: only the services that schedule work depend on it.

Errors::

    ValueError
    └── ScheduleError        field ("cron", "timezone", "start", "end") + message
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Boolean, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from dsw_kit.db import UTCDateTime

__all__ = [
    "CronSchedule",
    "DueTick",
    "ScheduleError",
    "ScheduleMixin",
    "due_tick",
    "validate_cron",
    "validate_timezone",
]

# Ticks are searched at most this far ahead: an expression that fires less often than this
# (e.g. "0 0 30 2 *", February 30th) is refused as "never fires".
_SEARCH_YEARS = 5
_ONE_SECOND = timedelta(seconds=1)


class ScheduleError(ValueError):
    """An invalid schedule field: ``field`` is ``cron``, ``timezone``, ``start`` or ``end``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def validate_cron(expression: str) -> str:
    """The expression with its fields normalised to single spaces; :class:`ScheduleError` if it
    is not a valid five-field cron expression (minute hour day-of-month month day-of-week)."""
    from croniter import croniter

    fields = expression.split()
    if len(fields) != 5:
        raise ScheduleError(
            "cron",
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}",
        )
    normalised = " ".join(fields)
    if not croniter.is_valid(normalised):
        raise ScheduleError("cron", f"{normalised!r} is not a valid cron expression")
    return normalised


def validate_timezone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (e.g. ``Europe/Paris``, ``UTC``); :class:`ScheduleError` if
    unknown."""
    try:
        if not name or name != name.strip() or name.startswith(("/", ".")):
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise ScheduleError("timezone", f"{name!r} is not a known IANA time zone") from error


def _utc(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise ScheduleError(field, "give a time zone offset (e.g. 2026-01-01T00:00:00Z)")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class CronSchedule:
    """A validated cron expression in a time zone, within an optional ``[start, end)`` window."""

    cron: str
    timezone: str = "UTC"
    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def parse(
        cls,
        cron: str,
        timezone: str = "UTC",
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> CronSchedule:
        """A checked schedule: :class:`ScheduleError` for a bad expression or zone, naive or
        misordered bounds, or an expression that never fires."""
        schedule = cls(
            cron=validate_cron(cron),
            timezone=validate_timezone(timezone).key,
            start=_utc(start, "start") if start is not None else None,
            end=_utc(end, "end") if end is not None else None,
        )
        if schedule.start and schedule.end and schedule.start >= schedule.end:
            raise ScheduleError("end", "end must be after start")
        probe = schedule.start or datetime(2000, 1, 1, tzinfo=UTC)
        if schedule._next_tick(probe) is None:
            raise ScheduleError("cron", f"{schedule.cron!r} never fires")
        return schedule

    def next_after(self, instant: datetime) -> datetime | None:
        """The first tick strictly after ``instant`` (UTC) that is in the window; None when the
        schedule has ended."""
        instant = _utc(instant, "instant")
        if self.start is not None and instant < self.start:
            # A tick exactly at ``start`` counts: search from just before it.
            instant = self.start.replace(microsecond=0) - _ONE_SECOND
        tick = self._next_tick(instant)
        if tick is None or (self.end is not None and tick >= self.end):
            return None
        return tick

    def _next_tick(self, instant: datetime) -> datetime | None:
        from croniter import CroniterBadDateError, croniter

        local = instant.astimezone(ZoneInfo(self.timezone))
        try:
            tick = croniter(self.cron, local, max_years_between_matches=_SEARCH_YEARS).get_next(
                datetime
            )
        except CroniterBadDateError:
            return None
        assert isinstance(tick, datetime)
        return tick.astimezone(UTC)


@dataclass(frozen=True)
class DueTick:
    """Whether a schedule fires now, and when it fires next (None: never again)."""

    due: bool
    tick: datetime | None
    next_fire_at: datetime | None
    missed: int = 0


def due_tick(schedule: CronSchedule, next_fire_at: datetime | None, now: datetime) -> DueTick:
    """Decide a schedule at ``now`` given the tick it was waiting for.

    If ``next_fire_at`` has come, one run is due, however many ticks passed meanwhile (they are
    counted in ``missed`` but never replayed), and the next tick is the first after ``now``.
    Otherwise nothing is due and the schedule keeps waiting.
    """
    now = _utc(now, "now")
    if next_fire_at is None or _utc(next_fire_at, "next_fire_at") > now:
        return DueTick(due=False, tick=None, next_fire_at=next_fire_at)
    following = schedule.next_after(now)
    return DueTick(
        due=True,
        tick=_utc(next_fire_at, "next_fire_at"),
        next_fire_at=following,
        missed=_missed(schedule, _utc(next_fire_at, "next_fire_at"), now),
    )


def _missed(schedule: CronSchedule, tick: datetime, now: datetime, cap: int = 1000) -> int:
    """Ticks strictly between ``tick`` and ``now`` (inclusive of ``now``) that are skipped."""
    count = 0
    cursor = schedule.next_after(tick)
    while cursor is not None and cursor <= now and count < cap:
        count += 1
        cursor = schedule.next_after(cursor)
    return count


class ScheduleMixin:
    """Columns of a scheduled job's row: cron (optional), window, "on new data", firing state.

    ``next_fire_at`` is indexed: tickers select due rows by it and claim each one with a guarded
    UPDATE (``... WHERE id = :id AND version = :seen``), so that a tick fires once.
    """

    cron: Mapped[str | None] = mapped_column(String(128), nullable=True, default=None)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, default=None)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, default=None)
    on_new_data: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    next_fire_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, nullable=True, default=None, index=True
    )
    last_fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, default=None)
    last_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, default=None)

    def cron_schedule(self) -> CronSchedule | None:
        """The row's cron schedule (None without a cron expression); rows hold valid values."""
        if not self.cron:
            return None
        return CronSchedule(self.cron, self.timezone, self.start, self.end)
