"""The built-in recipes read XDM fields by their standard stored-form paths.

A recipe's input field that the XDM standard does not define could never be ingested with unknown
columns rejected; this checks every built-in recipe against the standard ExperienceEvent class
with the field groups that hold those fields.
"""

from __future__ import annotations

from dsw_recipe.recipes.purchase import PurchasePredictionRecipe

import dsw_xdm as xdm

ENDUSER_IDS = "https://ns.adobe.com/xdm/context/experienceevent-enduserids"
# Order-line columns of a flat transactions table (one product per row), read when present: XDM
# holds products in the `productListItems` array, and has no unit price.
FLAT_TABLE_ONLY = {
    "productListItems.SKU",
    "productListItems.quantity",
    "productListItems.priceTotal",
    "unitPrice",
}


def test_purchase_recipe_fields_exist_in_the_standard() -> None:
    schema = xdm.compose(
        xdm.ids.EXPERIENCE_EVENT,
        [ENDUSER_IDS, xdm.ids.COMMERCE_DETAILS],
        title="Shop events",
    )
    columns = set(xdm.feature_columns(schema))
    for field in PurchasePredictionRecipe.input_fields:
        if field.name in FLAT_TABLE_ONLY:
            assert not field.required, field.name
            continue
        assert field.name in columns, field.name
        assert schema.field(field.name).xdm_type == field.type, field.name
