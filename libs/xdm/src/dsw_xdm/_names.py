"""The one rule by which a name someone wrote finds a field: ingestion, recipes and serving.

A name matches a field exactly; else without regard to case, when exactly one field matches so;
else after a tenant namespace (`_acme.store` answers to `store` or `Store`), again only when one
field matches. CSV headers, recipe inputs and prediction requests all go through
:func:`match_name`, so a record copied from the file a dataset was ingested from reads the same
everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["match_name"]


def match_name(available: Iterable[str], name: str) -> str | None:
    """The one name of ``available`` that ``name`` means, or None (absent or ambiguous)."""
    names = available if isinstance(available, (list, tuple, set, frozenset)) else list(available)
    if name in names:
        return name
    lowered = name.casefold()
    matches = [candidate for candidate in names if candidate.casefold() == lowered]
    if len(matches) == 1:
        return matches[0]
    if matches:
        return None
    prefixed = [
        candidate
        for candidate in names
        if candidate.startswith("_")
        and "." in candidate
        and candidate.split(".", 1)[1].casefold() == lowered
    ]
    return prefixed[0] if len(prefixed) == 1 else None
