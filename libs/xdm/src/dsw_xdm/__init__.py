"""dsw_xdm: the Experience Data Model (XDM) schema library.

Standard components (classes, field groups, data types) in a `Registry`; custom schemas composed
from a class, field groups and tenant fields (`compose`, `schema_from_json`); validation of one
record (`validate_record`) or of a whole Arrow table, vectorised (`validate_table`); conversions to
Arrow and JSON Schema, between flat dotted columns and nested records, from CSV text, and between
the standard and stored forms of documents.
"""

from ._arrow_validate import RowViolation, TableValidation, validate_table
from ._convert import arrow_type, to_arrow_schema, to_json_schema
from ._evolution import Change, compare
from ._exceptions import (
    ComponentNotFoundError,
    ConversionError,
    DuplicateComponentError,
    DuplicateFieldError,
    IncompatibleFieldGroupError,
    InvalidDefinitionError,
    ReferenceCycleError,
    SchemaError,
    UnknownReferenceError,
    XDMError,
)
from ._fields import INTEGER_RANGES, XDM_TYPES, Field
from ._flat import (
    CellError,
    Coercion,
    coerce_table,
    feature_columns,
    flatten_record,
    flatten_table,
    read_csv,
    unflatten_record,
    unflatten_table,
)
from ._forms import PREFIXES, to_standard_form, to_stored_form
from ._names import match_name
from ._registry import KINDS, Component, Registry, pointers_to, standard_registry
from ._schema import Identity, Schema, compose, schema_from_json
from ._standard import EVENT_TYPES, ids
from ._validate import RULES, Violation, validate_record

__all__ = [
    "EVENT_TYPES",
    "INTEGER_RANGES",
    "KINDS",
    "PREFIXES",
    "RULES",
    "XDM_TYPES",
    "CellError",
    "Change",
    "Coercion",
    "Component",
    "ComponentNotFoundError",
    "ConversionError",
    "DuplicateComponentError",
    "DuplicateFieldError",
    "Field",
    "Identity",
    "IncompatibleFieldGroupError",
    "InvalidDefinitionError",
    "ReferenceCycleError",
    "Registry",
    "RowViolation",
    "Schema",
    "SchemaError",
    "TableValidation",
    "UnknownReferenceError",
    "Violation",
    "XDMError",
    "arrow_type",
    "coerce_table",
    "compare",
    "compose",
    "feature_columns",
    "flatten_record",
    "flatten_table",
    "ids",
    "match_name",
    "pointers_to",
    "read_csv",
    "schema_from_json",
    "standard_registry",
    "to_arrow_schema",
    "to_json_schema",
    "to_standard_form",
    "to_stored_form",
    "unflatten_record",
    "unflatten_table",
    "validate_record",
    "validate_table",
]
