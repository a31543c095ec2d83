"""String formats, written once for both validators.

Every regular expression here means the same in Python `re` (with `fullmatch`) and in RE2 (Arrow's
engine, anchored with ^...$): ASCII classes only, no look-arounds, explicit whitespace sets. User
`pattern`s are always evaluated by RE2, on both paths, so the two validators cannot disagree.
"""

from __future__ import annotations

import calendar
import re
from functools import lru_cache
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "DATE",
    "DATE_TIME",
    "FORMAT_PATTERNS",
    "is_valid_date_string",
    "matches_pattern",
    "valid_calendar_day",
]

_WHITESPACE: Final = r" \t\n\r\f\x0b"
_DATE: Final = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
# RFC 3339 date-time; fractions limited to nanoseconds (what Arrow can parse exactly).
_CLOCK: Final = r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?"
_OFFSET: Final = r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
_TIME: Final = _CLOCK + _OFFSET
DATE: Final = f"^{_DATE}$"
DATE_TIME: Final = f"^{_DATE}[Tt]{_TIME}$"
FORMAT_PATTERNS: Final[dict[str, str]] = {
    "date": DATE,
    "date-time": DATE_TIME,
    "email": f"^[^@{_WHITESPACE}]+@[^@{_WHITESPACE}]+\\.[^@{_WHITESPACE}]+$",
    "uri": f"^[A-Za-z][A-Za-z0-9+.-]*:[^{_WHITESPACE}]*$",
    "uri-reference": f"^[^{_WHITESPACE}]*$",
}
_COMPILED: Final = {name: re.compile(pattern[1:-1]) for name, pattern in FORMAT_PATTERNS.items()}


def is_valid_date_string(value: str, string_format: str) -> bool:
    """Whether `value` matches a format, including the day existing in its month."""
    if _COMPILED[string_format].fullmatch(value) is None:
        return False
    if string_format in ("date", "date-time"):
        year, month, day = int(value[0:4]), int(value[5:7]), int(value[8:10])
        return day <= calendar.monthrange(year, month)[1]
    return True


def valid_calendar_day(strings: pa.Array) -> pa.Array:
    """For strings already matching DATE/DATE_TIME: whether the day exists (vectorised).

    Entries that are null stay null. Integer division stands in for a modulo kernel.
    """
    year = pc.cast(pc.utf8_slice_codeunits(strings, 0, 4), pa.int32())
    month = pc.cast(pc.utf8_slice_codeunits(strings, 5, 7), pa.int32())
    day = pc.cast(pc.utf8_slice_codeunits(strings, 8, 10), pa.int32())

    def divisible(by: int) -> pa.Array:
        return pc.equal(pc.multiply(pc.divide(year, by), by), year)

    leap = pc.or_(pc.and_(divisible(4), pc.invert(divisible(100))), divisible(400))
    february = pc.if_else(leap, 29, 28)
    short_month = pc.is_in(month, value_set=pa.array([4, 6, 9, 11], pa.int32()))
    last_day = pc.if_else(pc.equal(month, 2), february, pc.if_else(short_month, 30, 31))
    return pc.less_equal(day, last_day)


@lru_cache(maxsize=512)
def _checked(pattern: str) -> str:
    pc.match_substring_regex(pa.array([""]), pattern)  # raises early on an RE2-invalid pattern
    return pattern


def matches_pattern(value: str, pattern: str) -> bool:
    """JSON Schema `pattern` (unanchored search), evaluated by RE2 like the Arrow path."""
    result = pc.match_substring_regex(pa.array([value]), _checked(pattern))
    return bool(result[0].as_py())
