"""Prediction inputs: the platform's one name rule and text values converted as at ingestion."""

from __future__ import annotations

import numpy as np
import pytest

from dsw_serving.predict.inputs import FieldSpec, InputError, rows_of, to_arrays

FIELDS = (
    FieldSpec("date", "date", True),
    FieldSpec("store", "integer", True),
    FieldSpec("markDown", "number", False),
    FieldSpec("isHoliday", "boolean", True),
)


def _arrays(records: list[dict[str, object]]) -> dict[str, np.ndarray]:
    columns, count, form = rows_of({"records": records}, 100)
    return to_arrays(columns, count, FIELDS, form)


def test_names_match_without_regard_to_case_or_tenant_prefix() -> None:
    # As copied from the retail CSV / the dataset's stored names.
    arrays = _arrays(
        [{"Date": "2012-04-06", "_retail.store": 3, "markdown": 12.5, "ISHOLIDAY": True}]
    )
    assert arrays["store"].tolist() == [3]
    assert arrays["markDown"].tolist() == [12.5]
    assert arrays["isHoliday"].tolist() == [True]
    assert str(arrays["date"][0]) == "2012-04-06T00:00:00.000000"


def test_text_values_convert_like_csv_cells() -> None:
    arrays = _arrays(
        [
            {"date": "2012-04-06", "store": "3", "markDown": "0.5", "isHoliday": "TRUE"},
            {"date": "2012-04-13", "store": 4, "markDown": None, "isHoliday": "no"},
        ]
    )
    assert arrays["store"].tolist() == [3, 4]
    assert arrays["markDown"][0] == 0.5
    assert np.isnan(arrays["markDown"][1])
    assert arrays["isHoliday"].tolist() == [True, False]


def test_what_does_not_convert_is_a_422_naming_each_field() -> None:
    with pytest.raises(InputError) as refused:
        _arrays([{"date": "2012-04-06", "store": "three", "isHoliday": "maybe"}])
    pointers = {error.pointer: error.message for error in refused.value.errors}
    assert set(pointers) == {"/body/records/store", "/body/records/isHoliday"}
    assert "'maybe' is not a boolean" in pointers["/body/records/isHoliday"]
    with pytest.raises(InputError):
        _arrays([{"date": "2012-04-06", "store": True, "isHoliday": True, "markDown": "nan"}])
