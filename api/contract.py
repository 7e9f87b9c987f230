"""The plenigo contract the API speaks, and the OpenAPI document of what we actually serve.

`plenigo-openapi-subset.json` beside this module is a verbatim copy of the binding contract
(shared/contract/); a test keeps the two equal. Request bodies are validated against its component
schemas with jsonschema (OpenAPI 3.1 schemas are JSON Schema 2020-12), so a wrong type names its
field exactly as plenigo's contract does. `served_document()` is the contract plus our own
extensions, each marked `x-crossclient-extension: true`; it is what `GET /api/v3.0/openapi.json`
returns.
"""
from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from storage.errors import FieldError

CONTRACT_PATH = Path(__file__).with_name("plenigo-openapi-subset.json")
CONTRACT_URI = "urn:crossclient:plenigo-contract"
BASE_PATH = "/api/v3.0"


@cache
def contract() -> dict:
    return json.loads(CONTRACT_PATH.read_text(encoding="utf-8"))


@cache
def _registry() -> Registry:
    return Registry().with_resource(CONTRACT_URI, Resource(contents=served_document(),
                                                           specification=DRAFT202012))


@cache
def validator(schema_name: str) -> Draft202012Validator:
    """A validator for one component schema of the served document, $refs resolved."""
    if schema_name not in served_document()["components"]["schemas"]:
        raise KeyError(f"no component schema {schema_name!r}")
    return Draft202012Validator({"$ref": f"{CONTRACT_URI}#/components/schemas/{schema_name}"},
                                registry=_registry())


def _field(path) -> str:
    parts = []
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts) or "body"


def _value(value) -> str:
    if isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = "" if value is None else (json.dumps(value) if not isinstance(value, str) else value)
    return text[:100]


def _error(err) -> FieldError:
    """A jsonschema error as plenigo's ValidationError: the field, what is wrong, the value."""
    kind = err.validator
    if kind == "type":
        expected = err.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return FieldError(_field(err.absolute_path), f"must be of type {expected}", _value(err.instance))
    if kind == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return FieldError(_field([*err.absolute_path, missing]), "is required", "")
    if kind == "pattern":
        return FieldError(_field(err.absolute_path), f"must match {err.validator_value}", _value(err.instance))
    if kind == "enum":
        return FieldError(_field(err.absolute_path),
                          "must be one of " + ", ".join(map(str, err.validator_value)), _value(err.instance))
    if kind in ("maxLength", "minLength", "maximum", "minimum", "maxItems", "maxProperties"):
        return FieldError(_field(err.absolute_path), err.message.replace(repr(err.instance), "value"),
                          _value(err.instance))
    return FieldError(_field(err.absolute_path), err.message[:200], _value(err.instance))


def body_errors(schema_name: str, body) -> list[FieldError]:
    """Every way `body` breaks the component schema, in document order."""
    errors = sorted(validator(schema_name).iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))
    leaves = []
    for err in errors:
        # allOf/anyOf wrap the real causes; report the innermost ones.
        stack = [err]
        while stack:
            current = stack.pop()
            if current.context:
                stack.extend(current.context)
            else:
                leaves.append(current)
    seen, out = set(), []
    for err in leaves:
        fe = _error(err)
        if (fe.field, fe.error) not in seen:
            seen.add((fe.field, fe.error))
            out.append(fe)
    return out


def response_statuses(operation_id: str) -> set[int]:
    """The HTTP statuses the served document lists for an operation."""
    for item in served_document()["paths"].values():
        for method, op in item.items():
            if method != "parameters" and op.get("operationId") == operation_id:
                return {int(code) for code in op["responses"]}
    raise KeyError(operation_id)


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*codes: int) -> dict:
    out = {}
    for code in codes:
        schema = "ErrorResult" if code == 400 else "ErrorResultBase"
        out[str(code)] = {"description": {400: "Request is not formatted correctly or contains invalid data.",
                                          401: "The API token is missing, invalid or revoked.",
                                          404: "Entity for given id does not exist.",
                                          429: "The rate limit for this token is reached; see Retry-After.",
                                          500: "Internal error."}[code],
                          "content": {"application/json": {"schema": _ref(schema)}}}
    return out


EXTENSION_SCHEMAS = {
    "ShoppingCartPurchase": {
        "type": "object",
        "description": "crossclient extension: a purchase of a shopping cart by an existing customer.",
        "properties": {
            "customerId": {"type": "string", "pattern": "^[0-9]{1,18}$",
                           "description": "customer of the token's contract company who buys"},
            "selectedPositions": {
                "type": "array", "maxItems": 50,
                "items": {"type": "integer", "minimum": 1, "maximum": 50},
                "description": "positions of the optional items chosen; omitted: the optional items "
                               "marked defaultSelected"},
        },
        "required": ["customerId"],
    },
    "ShoppingCartOrder": {
        "type": "object",
        "description": "crossclient extension: the order a purchase made. Voucher codes are never part "
                       "of it: they reach the source client by signed callback only.",
        "properties": {
            "orderId": {"type": "integer", "format": "int64"},
            "orderDate": {"type": "string", "format": "date-time"},
            "shoppingCartId": {"type": "integer", "format": "int64"},
            "plenigoShoppingCartId": {"type": "string", "minLength": 20, "maxLength": 20},
            "customerId": {"type": "string", "pattern": "^[0-9]{1,18}$"},
            "total": {"type": "number", "format": "double"},
            "currency": {"type": "string", "minLength": 3, "maxLength": 3},
            "subscriptions": {"type": "array", "items": _ref("Subscription"),
                              "description": "the subscriptions created in the selling client"},
            "crossClientTransactions": {"type": "array", "items": _ref("CrossClientTransaction"),
                                        "description": "one per cross-client offer sold"},
        },
        "required": ["orderId", "orderDate", "shoppingCartId", "customerId", "total", "currency",
                     "subscriptions", "crossClientTransactions"],
    },
}


EXTENSION_PATHS = {
    "/products/shoppingCarts/{shoppingCartId}/purchase": {
        "parameters": [{"$ref": "#/components/parameters/shoppingCartIdPath"}],
        "post": {
            "summary": "Purchase shopping cart (crossclient extension)",
            "description": "crossclient extension, not part of plenigo's API: an existing customer of the "
                           "token's contract company buys the shopping cart of the token's client, for "
                           "shops and load tests. Creates the order, the subscriptions of the selling "
                           "client and, for each cross-client offer, either the source's subscription "
                           "(same contract company) or a voucher sent to the source by signed callback.",
            "operationId": "purchaseShoppingCart",
            "x-crossclient-extension": True,
            "security": [{"plenigoToken": []}],
            "tags": ["Shopping Carts"],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": _ref("ShoppingCartPurchase")}}},
            "responses": {
                "201": {"description": "The order that was placed.",
                        "content": {"application/json": {"schema": _ref("ShoppingCartOrder")}}},
                **_errors(400, 401, 404, 429, 500),
            },
        },
    },
}


@cache
def served_document() -> dict:
    """The OpenAPI document of every endpoint we serve: the contract plus our extensions."""
    doc = copy.deepcopy(contract())
    doc["servers"] = [{"url": BASE_PATH, "description": "this crossclient server"}]
    doc["info"]["x-crossclient"] = (
        "Served by crossclient. Endpoints and schemas marked x-crossclient-extension are ours; all "
        "others follow plenigo's published contract.")
    doc["paths"].update(copy.deepcopy(EXTENSION_PATHS))
    for name, schema in EXTENSION_SCHEMAS.items():
        doc["components"]["schemas"][name] = {**copy.deepcopy(schema), "x-crossclient-extension": True}
    return doc
