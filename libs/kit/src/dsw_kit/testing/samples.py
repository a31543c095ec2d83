"""Documents describing the sample data shipped with the platform, shared by tests and benchmarks.

The retail sales sample (``dsw_recipe.datasets.retail_training_path()``, CC0) is ingested by most
integration tests and every benchmark; its XDM schema is written once, here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RETAIL_FORMATS", "RETAIL_SCHEMA"]

# A custom XDM schema of the retail CSV: Profile class, the columns as tenant fields.
RETAIL_SCHEMA: dict[str, Any] = {
    "title": "Retail sales",
    "class": "https://ns.adobe.com/xdm/context/profile",
    "tenantId": "retail",
    "tenantFields": {
        "properties": {
            "date": {"type": "string", "format": "date"},
            "store": {"type": "integer", "minimum": 1, "maximum": 1000},
            "storeType": {"type": "string", "enum": ["A", "B", "C"]},
            "weeklySales": {"type": "number", "minimum": 0},
            "storeSize": {"type": "integer", "minimum": 0},
            "temperature": {"type": "number"},
            "regionalFuelPrice": {"type": "number", "minimum": 0},
            "markDown": {"type": "number"},
            "cpi": {"type": "number"},
            "unemployment": {"type": "number", "minimum": 0, "maximum": 100},
            "isHoliday": {"type": "boolean"},
        },
        "required": ["date", "store", "weeklySales"],
    },
}
# The sample's dates are US style, two-digit years (2/5/10).
RETAIL_FORMATS = {"_retail.date": "%m/%d/%y"}
