"""The standard XDM components shipped with the library.

Written here from the public XDM standard's `$id`s and field names (adobe/xdm, CC BY 4.0); the
descriptions are our own summaries. Field names are in the **stored form** (compatibility mode:
`xdm:` dropped, `@id` -> `_id`, `schema:latitude` -> `_schema.latitude`), which is what the catalog
shows and what datasets hold; `to_standard_form` / `to_stored_form` convert documents.

This is the common-case subset: the two core classes, their behaviours, the field groups for
identity, commerce, web, environment, demographic and personal contact details, and the data types
they reference. Each component is a JSON-compatible dict in the component format of `_resolve`.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "EVENT_TYPES",
    "STANDARD_COMPONENTS",
    "ids",
]

_XDM: Final = "https://ns.adobe.com/xdm"


class ids:  # noqa: N801 - a namespace of constants, read like `ids.PROFILE`
    """`$id`s of the shipped standard components."""

    RECORD = f"{_XDM}/data/record"
    TIME_SERIES = f"{_XDM}/data/time-series"
    PROFILE = f"{_XDM}/context/profile"
    EXPERIENCE_EVENT = f"{_XDM}/context/experienceevent"
    IDENTITY_MAP = f"{_XDM}/context/identitymap"
    COMMERCE_DETAILS = f"{_XDM}/context/experienceevent-commerce"
    WEB_DETAILS = f"{_XDM}/context/experienceevent-web"
    ENVIRONMENT_DETAILS = f"{_XDM}/context/experienceevent-environment-details"
    PERSON_DETAILS = f"{_XDM}/context/profile-person-details"
    PERSONAL_CONTACT_DETAILS = f"{_XDM}/context/profile-personal-details"
    IDENTITY_ITEM = f"{_XDM}/context/identityitem"
    AUDITABLE = f"{_XDM}/common/auditable"
    MEASURE = f"{_XDM}/data/measure"
    ORDER = f"{_XDM}/data/order"
    PAYMENT_ITEM = f"{_XDM}/data/paymentitem"
    COMMERCE = f"{_XDM}/context/commerce"
    PRODUCT_LIST_ITEM = f"{_XDM}/content/productlistitem"
    CATEGORY_DATA = f"{_XDM}/datatypes/categorydata"
    WEB_INFO = f"{_XDM}/context/webinfo"
    ENVIRONMENT = f"{_XDM}/context/environment"
    BROWSER_DETAILS = f"{_XDM}/context/browserdetails"
    DEVICE = f"{_XDM}/context/device"
    PLACE_CONTEXT = f"{_XDM}/context/placecontext"
    GEO = f"{_XDM}/common/geo"
    GEO_COORDINATES = "http://schema.org/GeoCoordinates"
    ADDRESS = f"{_XDM}/common/address"
    EMAIL_ADDRESS = f"{_XDM}/context/emailaddress"
    PHONE_NUMBER = f"{_XDM}/context/phonenumber"
    PERSON = f"{_XDM}/context/person"
    PERSON_NAME = f"{_XDM}/context/person-name"


# The 88 known values of the time-series `eventType` soft enum (XDM time-series behaviour).
EVENT_TYPES: Final[tuple[str, ...]] = (
    "advertising.completes",
    "advertising.timePlayed",
    "advertising.federated",
    "advertising.clicks",
    "advertising.conversions",
    "advertising.firstQuartiles",
    "advertising.impressions",
    "advertising.midpoints",
    "advertising.starts",
    "advertising.thirdQuartiles",
    "application.close",
    "application.launch",
    "web.webpagedetails.pageViews",
    "web.webinteraction.linkClicks",
    "web.formFilledOut",
    "commerce.checkouts",
    "commerce.productListAdds",
    "commerce.productListOpens",
    "commerce.productListRemovals",
    "commerce.productListReopens",
    "commerce.productListViews",
    "commerce.productViews",
    "commerce.purchases",
    "commerce.saveForLaters",
    "commerce.backofficeOrderPlaced",
    "commerce.backofficeOrderCancelled",
    "commerce.backofficeOrderItemsShipped",
    "commerce.backofficeCreditMemoIssued",
    "commerce.backofficeShipmentCompleted",
    "decisioning.propositionDisplay",
    "decisioning.propositionInteract",
    "decisioning.propositionSend",
    "decisioning.propositionDismiss",
    "decisioning.propositionTrigger",
    "delivery.feedback",
    "message.feedback",
    "message.tracking",
    "message.renderingData",
    "pushTracking.applicationOpened",
    "pushTracking.customAction",
    "listOperation.removeFromList",
    "listOperation.addToList",
    "leadOperation.scoreChanged",
    "leadOperation.revenueStageChanged",
    "leadOperation.statusInCampaignProgressionChanged",
    "leadOperation.interestingMoment",
    "leadOperation.newLead",
    "leadOperation.convertLead",
    "leadOperation.callWebhook",
    "leadOperation.changeEngagementCampaignCadence",
    "leadOperation.addToCampaign",
    "leadOperation.changeCampaignStream",
    "leadOperation.mergeLeads",
    "directMarketing.emailBounced",
    "directMarketing.emailBouncedSoft",
    "directMarketing.emailDelivered",
    "directMarketing.emailUnsubscribed",
    "directMarketing.emailOpened",
    "directMarketing.emailClicked",
    "directMarketing.emailSent",
    "opportunityEvent.removeFromOpportunity",
    "opportunityEvent.addToOpportunity",
    "opportunityEvent.opportunityUpdated",
    "inappmessageTracking.dismiss",
    "inappmessageTracking.display",
    "inappmessageTracking.interact",
    "media.ping",
    "media.sessionStart",
    "media.play",
    "media.bufferStart",
    "media.pauseStart",
    "media.chapterStart",
    "media.chapterSkip",
    "media.chapterComplete",
    "media.adStart",
    "media.adSkip",
    "media.adComplete",
    "media.adBreakStart",
    "media.adBreakComplete",
    "media.bitrateChange",
    "media.error",
    "media.sessionComplete",
    "media.sessionEnd",
    "media.statesUpdate",
    "media.downloaded",
    "media.customTracking",
    "location.entry",
    "location.exit",
)


# Small builders keep the definitions readable; they produce plain JSON-compatible dicts.
def _string(title: str, **keywords: Any) -> dict[str, Any]:
    return {"title": title, "type": "string", **keywords}


def _number(title: str, **keywords: Any) -> dict[str, Any]:
    return {"title": title, "type": "number", **keywords}


def _integer(title: str, **keywords: Any) -> dict[str, Any]:
    return {"title": title, "type": "integer", **keywords}


def _boolean(title: str, **keywords: Any) -> dict[str, Any]:
    return {"title": title, "type": "boolean", **keywords}


def _datetime(title: str) -> dict[str, Any]:
    return {"title": title, "type": "string", "format": "date-time"}


def _ref(title: str, target: str) -> dict[str, Any]:
    return {"title": title, "$ref": target}


def _array(title: str, items: dict[str, Any]) -> dict[str, Any]:
    return {"title": title, "type": "array", "items": items}


def _soft(*values: str) -> dict[str, str]:
    return {value: value.replace("_", " ").capitalize() for value in values}


def _component(
    component_id: str,
    title: str,
    description: str,
    properties: dict[str, Any],
    *,
    required: list[str] | None = None,
    extends: list[str] | None = None,
    intended_to_extend: list[str] | None = None,
    all_of: list[str] | None = None,
    abstract: bool = False,
    extensible: bool = True,
) -> dict[str, Any]:
    """A component in XDM's `definitions` + `allOf` layout."""
    name = component_id.rstrip("/").rsplit("/", 1)[-1].lower()
    component: dict[str, Any] = {
        "$id": component_id,
        "title": title,
        "description": description,
        "type": "object",
        "meta:abstract": abstract,
        "meta:extensible": extensible,
        "meta:status": "stable",
        "definitions": {name: {"properties": properties}},
        "allOf": [{"$ref": ref} for ref in all_of or []] + [{"$ref": f"#/definitions/{name}"}],
    }
    if extends is not None:
        component["meta:extends"] = extends
    if intended_to_extend is not None:
        component["meta:intendedToExtend"] = intended_to_extend
    if required:
        component["required"] = required
    return component


_STATUS = _soft("active", "incomplete", "pending_verification", "blacklisted", "blocked")
_CURRENCY = {"pattern": "^[A-Z]{3}$"}

_BEHAVIOURS = [
    _component(
        ids.RECORD,
        "Record Schema",
        "Behaviour of data that describes the current state of an entity.",
        {"_id": _string("Identifier", format="uri-reference")},
        abstract=True,
    ),
    _component(
        ids.TIME_SERIES,
        "Time-series Schema",
        "Behaviour of data that records events or observations at a point in time.",
        {
            "_id": _string("Identifier", format="uri-reference"),
            "timestamp": _datetime("Timestamp"),
            "eventType": _string(
                "Event Type",
                description="The primary event type; known values listed, others accepted.",
                **{"meta:enum": {value: value for value in EVENT_TYPES}},
            ),
        },
        abstract=True,
    ),
]

_CLASSES = [
    _component(
        ids.PROFILE,
        "XDM Individual Profile",
        "A singular representation of the attributes and interests of an individual.",
        {"personID": _string("Person ID")},
        extends=[ids.RECORD, ids.AUDITABLE],
        all_of=[ids.AUDITABLE, ids.RECORD],
        abstract=True,
    ),
    _component(
        ids.EXPERIENCE_EVENT,
        "XDM ExperienceEvent",
        "A time-series record of an event or observation involving one or more individuals.",
        {
            "eventMergeId": _string("Event merge ID"),
            "producedBy": _string(
                "Produced by",
                default="self",
                **{"meta:enum": _soft("self", "system", "salesRef", "customerRep")},
            ),
        },
        required=["_id", "timestamp"],
        extends=[ids.TIME_SERIES, ids.IDENTITY_MAP],
        all_of=[ids.IDENTITY_MAP, ids.TIME_SERIES],
        abstract=True,
    ),
]

_FIELD_GROUPS = [
    _component(
        ids.IDENTITY_MAP,
        "IdentityMap",
        "Identities of the subject keyed by identity namespace code.",
        {
            "identityMap": {
                "title": "Identity map",
                "type": "object",
                "meta:xdmType": "map",
                "additionalProperties": _array("Identities", {"$ref": ids.IDENTITY_ITEM}),
            }
        },
        intended_to_extend=[],
    ),
    _component(
        ids.COMMERCE_DETAILS,
        "Commerce Details",
        "Product list items and commerce measures of an experience event.",
        {
            "productListItems": _array("Product list items", {"$ref": ids.PRODUCT_LIST_ITEM}),
            "commerce": _ref("Commerce", ids.COMMERCE),
        },
        intended_to_extend=[ids.EXPERIENCE_EVENT],
        abstract=True,
    ),
    _component(
        ids.WEB_DETAILS,
        "Web Details",
        "Web page details, link clicks and referrer of an experience event.",
        {"web": _ref("Web", ids.WEB_INFO)},
        intended_to_extend=[ids.EXPERIENCE_EVENT],
        abstract=True,
    ),
    _component(
        ids.ENVIRONMENT_DETAILS,
        "Environment Details",
        "Device, environment and place context of an experience event.",
        {
            "environment": _ref("Environment", ids.ENVIRONMENT),
            "device": _ref("Device", ids.DEVICE),
            "placeContext": _ref("Place context", ids.PLACE_CONTEXT),
        },
        intended_to_extend=[ids.EXPERIENCE_EVENT],
        abstract=True,
    ),
    _component(
        ids.PERSON_DETAILS,
        "Demographic Details",
        "Name, birth date, gender and other demographic attributes of a person.",
        {"person": _ref("Person", ids.PERSON)},
        intended_to_extend=[ids.PROFILE, ids.EXPERIENCE_EVENT],
        abstract=True,
    ),
    _component(
        ids.PERSONAL_CONTACT_DETAILS,
        "Personal Contact Details",
        "Personal addresses, email address and phone numbers.",
        {
            "homeAddress": _ref("Home address", ids.ADDRESS),
            "personalEmail": _ref("Personal email", ids.EMAIL_ADDRESS),
            "homePhone": _ref("Home phone", ids.PHONE_NUMBER),
            "mobilePhone": _ref("Mobile phone", ids.PHONE_NUMBER),
            "faxPhone": _ref("Fax phone", ids.PHONE_NUMBER),
            "shippingAddressPhone": _ref("Shipping address phone", ids.PHONE_NUMBER),
            "billingAddressPhone": _ref("Billing address phone", ids.PHONE_NUMBER),
            "shippingAddress": _ref("Shipping address", ids.ADDRESS),
            "billingAddress": _ref("Billing address", ids.ADDRESS),
            "mailingAddress": _ref("Mailing address", ids.ADDRESS),
        },
        intended_to_extend=[ids.PROFILE, ids.EXPERIENCE_EVENT],
        abstract=True,
    ),
]

_MEASURE = _component(
    ids.MEASURE,
    "Measure",
    "A quantified value of an action, such as a count of purchases.",
    {"id": _string("Measure ID"), "value": _number("Value")},
    required=["value"],
    extensible=False,
)

_DATA_TYPES = [
    _component(
        ids.AUDITABLE,
        "Audit trail",
        "Who and which batch created or last modified the record, and when.",
        {
            "repositoryCreatedBy": _string("Created by user ID"),
            "repositoryLastModifiedBy": _string("Modified by user ID"),
            "createdByBatchID": _string("Created by batch ID", format="uri-reference"),
            "modifiedByBatchID": _string("Modified by batch ID", format="uri-reference"),
            "_repo": {
                "title": "Repository dates",
                "type": "object",
                "properties": {
                    "createDate": _datetime("Create date"),
                    "modifyDate": _datetime("Modify date"),
                },
            },
        },
        abstract=True,
    ),
    _component(
        ids.IDENTITY_ITEM,
        "Identity item",
        "One identity of the subject within an identity namespace.",
        {
            "id": _string("Identifier"),
            "authenticatedState": _string(
                "Authenticated state",
                enum=["ambiguous", "authenticated", "loggedOut"],
                default="ambiguous",
            ),
            "primary": _boolean("Primary", default=False),
        },
    ),
    _MEASURE,
    _component(
        ids.PAYMENT_ITEM,
        "Payment Item",
        "One payment towards an order.",
        {
            "transactionID": _string("Transaction ID"),
            "paymentAmount": _number("Payment amount"),
            "paymentType": _string(
                "Payment type",
                default="other",
                **{
                    "meta:enum": _soft(
                        "cash",
                        "credit_card",
                        "debit_card",
                        "gift_card",
                        "check",
                        "paypal",
                        "wire_transfer",
                        "credit_card_reference",
                        "other",
                    )
                },
            ),
            "currencyCode": _string("Currency code", **_CURRENCY),
        },
        extensible=False,
    ),
    _component(
        ids.ORDER,
        "Order",
        "An order placed for one or more products.",
        {
            "purchaseID": _string("Purchase ID"),
            "purchaseOrderNumber": _string("Purchase order number"),
            "payments": _array("Payments", {"$ref": ids.PAYMENT_ITEM}),
            "currencyCode": _string("Currency code", **_CURRENCY),
            "taxAmount": _number("Tax amount"),
            "discountAmount": _number("Discount amount"),
            "priceTotal": _number("Price total"),
            "orderType": _string("Order type", enum=["checkout", "instant_purchase"]),
            "lastUpdatedDate": _datetime("Last updated date"),
            "createdDate": _datetime("Created date"),
            "cancelDate": _datetime("Cancel date"),
            "refundTotal": _number("Refund total"),
        },
        extensible=False,
    ),
    _component(
        ids.COMMERCE,
        "Commerce",
        "The order and the commerce actions (measures) of an event.",
        {
            "order": _ref("Order", ids.ORDER),
            "promotionID": _string("Promotion ID"),
            **{
                name: _ref(title, ids.MEASURE)
                for name, title in [
                    ("cartAbandons", "Cart abandons"),
                    ("checkouts", "Checkouts"),
                    ("productListAdds", "Product list adds"),
                    ("productListOpens", "Product list opens"),
                    ("productListRemovals", "Product list removals"),
                    ("productListReopens", "Product list reopens"),
                    ("productListViews", "Product list views"),
                    ("productViews", "Product views"),
                    ("purchases", "Purchases"),
                    ("saveForLaters", "Save for laters"),
                    ("inStorePurchase", "In-store purchase"),
                    ("instantPurchase", "Instant purchase"),
                ]
            },
        },
    ),
    _component(
        ids.CATEGORY_DATA,
        "Category data",
        "A category a product belongs to.",
        {
            "categoryID": _string("Category ID"),
            "categoryName": _string("Category name"),
            "categoryPath": _string("Category path"),
        },
    ),
    _component(
        ids.PRODUCT_LIST_ITEM,
        "Product list item",
        "A product selected by a customer, with options and pricing.",
        {
            "SKU": _string("SKU"),
            "_id": _string("Line item ID", format="uri-reference"),
            "product": _string("Product", format="uri"),
            "name": _string("Name"),
            "productImageUrl": _string("Product image URL"),
            "productAddMethod": _string("Product add method"),
            "currencyCode": _string("Currency code", **_CURRENCY),
            "quantity": _integer("Quantity"),
            "priceTotal": _number("Price total"),
            "selectedOptions": _array(
                "Selected options",
                {
                    "type": "object",
                    "properties": {
                        "attribute": _string("Attribute"),
                        "value": _string("Value"),
                    },
                    "required": ["attribute", "value"],
                },
            ),
            "discountAmount": _number("Discount amount"),
            "refundAmount": _number("Refund amount"),
            "productCategories": _array("Product categories", {"$ref": ids.CATEGORY_DATA}),
        },
        required=["SKU"],
        extensible=False,
    ),
    _component(
        ids.WEB_INFO,
        "Web information",
        "Web page details, link clicks and referrer.",
        {
            "webPageDetails": {
                "title": "Web page details",
                "type": "object",
                "properties": {
                    "siteSection": _string("Site section"),
                    "name": _string("Name"),
                    "viewName": _string("View name"),
                    "URL": _string("URL"),
                    "server": _string("Server"),
                    "isErrorPage": _boolean("Is error page"),
                    "isHomePage": _boolean("Is home page"),
                    "isPreRendered": _boolean("Is pre-rendered"),
                    "pageViews": _ref("Page views", ids.MEASURE),
                },
            },
            "webInteraction": {
                "title": "Web interaction",
                "type": "object",
                "properties": {
                    "type": _string("Type", enum=["download", "exit", "other"]),
                    "URL": _string("URL"),
                    "name": _string("Name"),
                    "region": _string("Region"),
                    "linkClicks": _ref("Link clicks", ids.MEASURE),
                },
            },
            "webReferrer": {
                "title": "Web referrer",
                "type": "object",
                "properties": {
                    "URL": _string("URL"),
                    "type": _string(
                        "Type",
                        enum=[
                            "internal",
                            "external",
                            "search_engine",
                            "typed_bookmarked",
                            "email",
                            "social",
                            "usenet",
                            "hard_drive",
                            "nojs",
                            "conversational_ai",
                            "unknown",
                        ],
                    ),
                },
            },
        },
    ),
    _component(
        ids.BROWSER_DETAILS,
        "Browser details",
        "The browser an event was observed in.",
        {
            "name": _string("Name"),
            "vendor": _string("Vendor"),
            "version": _string("Version"),
            "acceptLanguage": _string("Accept language"),
            "cookiesEnabled": _boolean("Cookies enabled"),
            "javaScriptEnabled": _boolean("JavaScript enabled"),
            "javaScriptVersion": _string("JavaScript version"),
            "javaEnabled": _boolean("Java enabled"),
            "javaVersion": _string("Java version"),
            "thirdPartyCookiesEnabled": _boolean("Third-party cookies enabled"),
            "viewportHeight": _integer("Viewport height"),
            "viewportWidth": _integer("Viewport width"),
            "userAgent": _string("User agent"),
        },
    ),
    _component(
        ids.ENVIRONMENT,
        "Environment",
        "The software and network environment of an event.",
        {
            "type": _string("Type", enum=["browser", "application", "iot", "external", "widget"]),
            "browserDetails": _ref("Browser details", ids.BROWSER_DETAILS),
            "operatingSystem": _string("Operating system"),
            "operatingSystemVersion": _string("Operating system version"),
            "operatingSystemVendor": _string("Operating system vendor"),
            "colorDepth": _integer("Color depth", minimum=0),
            "viewportHeight": _integer("Viewport height", minimum=0),
            "viewportWidth": _integer("Viewport width", minimum=0),
            "connectionType": _string(
                "Connection type",
                enum=[
                    "dialup",
                    "isdn",
                    "bisdn",
                    "dsl",
                    "cable",
                    "wireless_wifi",
                    "mobile",
                    "mobile_edge",
                    "mobile_gprs",
                    "mobile_2g",
                    "mobile_3g",
                    "mobile_lte",
                    "t1",
                    "t3",
                    "oc3",
                    "lan",
                    "modem",
                ],
            ),
            "carrier": _string("Carrier"),
            "domain": _string("Domain"),
            "ISP": _string("ISP"),
        },
    ),
    _component(
        ids.DEVICE,
        "Device",
        "An identified device, application or browser instance.",
        {
            "typeID": _string("Type ID"),
            "typeIDService": _string("Type ID service", format="uri"),
            "type": _string("Type"),
            "manufacturer": _string("Manufacturer"),
            "model": _string("Model"),
            "modelNumber": _string("Model number"),
            "screenHeight": _integer("Screen height"),
            "screenWidth": _integer("Screen width"),
            "colorDepth": _integer("Color depth"),
            "screenOrientation": _string("Screen orientation", enum=["portrait", "landscape"]),
        },
    ),
    _component(
        ids.GEO_COORDINATES,
        "Geo coordinates",
        "Latitude, longitude and elevation (schema.org GeoCoordinates).",
        {
            "_id": _string("Identifier", format="uri-reference"),
            "_schema": {
                "title": "schema.org",
                "type": "object",
                "properties": {
                    "description": _string("Description"),
                    "latitude": _number("Latitude", minimum=-90, maximum=90),
                    "longitude": _number("Longitude", minimum=-180, maximum=180),
                    "elevation": _number("Elevation"),
                },
            },
        },
    ),
    _component(
        ids.GEO,
        "Geo",
        "A geographic location: country, region, city, postal code and coordinates.",
        {
            "countryCode": _string("Country code", pattern="^[A-Z]{2}$"),
            "stateProvince": _string("State or province", pattern="([A-Z]{2}-[A-Z0-9]{1,3}|)"),
            "city": _string("City"),
            "postalCode": _string("Postal code"),
            "dmaID": _integer("Designated market area"),
            "msaID": _integer("Metropolitan statistical area"),
        },
        extends=[ids.GEO_COORDINATES],
        all_of=[ids.GEO_COORDINATES],
    ),
    _component(
        ids.PLACE_CONTEXT,
        "Place context",
        "The local time and location of an event.",
        {
            "localTime": _datetime("Local time"),
            "ianaTimezone": _string("IANA time zone"),
            "localTimezoneOffset": _integer("Local time zone offset"),
            "geo": _ref("Geo", ids.GEO),
        },
    ),
    _component(
        ids.ADDRESS,
        "Postal address",
        "A postal address.",
        {
            "primary": _boolean("Primary"),
            "label": _string("Label"),
            "street1": _string("Street 1"),
            "street2": _string("Street 2"),
            "street3": _string("Street 3"),
            "street4": _string("Street 4"),
            "region": _string("Region"),
            "postOfficeBox": _string("Post office box", maxLength=20),
            "country": _string("Country"),
            "state": _string("State"),
            "status": _string("Status", default="active", **{"meta:enum": _STATUS}),
            "statusReason": _string("Status reason"),
            "lastVerifiedDate": _string("Last verified date", format="date"),
        },
        extends=[ids.GEO_COORDINATES, ids.GEO],
        all_of=[ids.GEO, ids.AUDITABLE],
        extensible=False,
    ),
    _component(
        ids.EMAIL_ADDRESS,
        "Email address",
        "An email address and its status.",
        {
            "primary": _boolean("Primary"),
            "address": _string("Address", format="email"),
            "label": _string("Label"),
            "type": _string(
                "Type", **{"meta:enum": _soft("unknown", "personal", "work", "education")}
            ),
            "status": _string("Status", default="active", **{"meta:enum": _STATUS}),
            "statusReason": _string("Status reason"),
        },
    ),
    _component(
        ids.PHONE_NUMBER,
        "Phone number",
        "A phone number and its status.",
        {
            "primary": _boolean("Primary"),
            "countryCode": _string(
                "Country code", pattern="^[0-9]{1,3}?$", minLength=1, maxLength=3
            ),
            "number": _string("Number"),
            "extension": _string("Extension"),
            "status": _string(
                "Status",
                default="active",
                **{"meta:enum": _soft("active", "incomplete", "blacklisted", "blocked")},
            ),
            "statusReason": _string("Status reason"),
            "validity": _string(
                "Validity",
                **{
                    "meta:enum": _soft(
                        "consistent", "inconsistent", "incomplete", "successfullyUsed"
                    )
                },
            ),
        },
    ),
    _component(
        ids.PERSON_NAME,
        "Person name",
        "The parts of a person's name.",
        {
            "firstName": _string("First name"),
            "lastName": _string("Last name"),
            "middleName": _string("Middle name"),
            "courtesyTitle": _string("Courtesy title"),
            "suffix": _string("Suffix"),
            "fullName": _string("Full name"),
        },
    ),
    _component(
        ids.PERSON,
        "Person",
        "An individual actor, contact or owner.",
        {
            "name": _ref("Full name", ids.PERSON_NAME),
            "birthDate": _string("Birth date", format="date"),
            "birthDayAndMonth": _string("Birth day and month", pattern="[0-1][0-9]-[0-9][0-9]"),
            "birthYear": _integer("Birth year", minimum=1, maximum=32767),
            "gender": _string(
                "Gender",
                enum=["male", "female", "not_specified", "non_specific"],
                default="not_specified",
            ),
            "maritalStatus": _string(
                "Marital status",
                enum=["married", "single", "divorced", "widowed", "not_specified"],
                default="not_specified",
            ),
            "nationality": _string("Nationality", pattern="^[A-Z]{2}$"),
            "type": _string("Type"),
            "taxId": _string("Tax ID"),
        },
    ),
]

STANDARD_COMPONENTS: Final[tuple[dict[str, Any], ...]] = (
    *_BEHAVIOURS,
    *_CLASSES,
    *_FIELD_GROUPS,
    *_DATA_TYPES,
)
