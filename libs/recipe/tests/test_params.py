from __future__ import annotations

import jsonschema
import pytest
from dsw_recipe import Param, ParamSpec, ParamValidationError

SPEC = ParamSpec.of(
    Param("learning_rate", "number", 0.1, "shrinkage", 0.0, 1.0, exclusive_minimum=True),
    Param("n_estimators", "integer", 100, "rounds", minimum=1, maximum=1000),
    Param("objective", "string", "l2", "loss", choices=("l2", "l1")),
    Param("log_target", "boolean", True, "fit log"),
)


def test_defaults_and_overrides() -> None:
    assert SPEC.validate() == {
        "learning_rate": 0.1,
        "n_estimators": 100,
        "objective": "l2",
        "log_target": True,
    }
    resolved = SPEC.validate({"learning_rate": 1, "objective": "l1"})
    assert resolved["learning_rate"] == 1.0
    assert isinstance(resolved["learning_rate"], float)
    assert resolved["objective"] == "l1"


def test_every_invalid_field_is_reported() -> None:
    with pytest.raises(ParamValidationError) as caught:
        SPEC.validate(
            {
                "learning_rate": 0,
                "n_estimators": 2.5,
                "objective": "huber",
                "log_target": "yes",
                "depth": 3,
            }
        )
    errors = {error.field: error.message for error in caught.value.errors}
    assert errors == {
        "learning_rate": "must be greater than 0.0",
        "n_estimators": "expected an integer, got float",
        "objective": "must be one of 'l2', 'l1'",
        "log_target": "expected a boolean, got str",
        "depth": "unknown parameter",
    }
    assert caught.value.errors[0].to_dict()["value"] == 0


def test_booleans_are_not_numbers() -> None:
    assert SPEC.errors({"n_estimators": True})[0].message == "expected an integer, got bool"


def test_coercion_of_text_values() -> None:
    # DSW configs carry every parameter as a string.
    resolved = SPEC.validate(
        {"learning_rate": "0.2", "n_estimators": "50", "log_target": "false"}, coerce=True
    )
    assert resolved == {
        "learning_rate": 0.2,
        "n_estimators": 50,
        "objective": "l2",
        "log_target": False,
    }
    with pytest.raises(ParamValidationError, match="n_estimators: expected an integer"):
        SPEC.validate({"n_estimators": "5.5"}, coerce=True)


def test_json_schema_agrees_with_validation() -> None:
    schema = SPEC.to_json_schema(title="demo")
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert not list(validator.iter_errors({"learning_rate": 0.5, "objective": "l1"}))
    for bad in ({"learning_rate": 0}, {"n_estimators": 0}, {"objective": "x"}, {"other": 1}):
        assert list(validator.iter_errors(bad)), bad
        assert SPEC.errors(bad), bad
    assert schema["properties"]["learning_rate"] == {
        "type": "number",
        "default": 0.1,
        "description": "shrinkage",
        "exclusiveMinimum": 0.0,
        "maximum": 1.0,
    }


def test_spec_refuses_invalid_defaults_and_duplicates() -> None:
    with pytest.raises(ValueError, match="default of parameter 'x' is invalid"):
        Param("x", "integer", 0, "x", minimum=1)
    with pytest.raises(ValueError, match="duplicate parameter names: a"):
        ParamSpec.of(Param("a", "integer", 1, "a"), Param("a", "integer", 2, "a"))
