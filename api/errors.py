"""plenigo's error bodies and which HTTP status each refusal gets.

Every error answer is `{"errorCode", "errorMessage", "validationErrors": [{field, error, value}]}`.
The status follows the refusal (401 for tokens, 404 for unknown ids, 400 for everything else) but is
bent to what the contract lists for the operation: an endpoint whose contract has no 404 answers an
unknown id with 400 (useCrossClientVoucher with an unknown customer), and one without a 400 answers
a malformed path id with 404 (getCustomer with customerId "abc": no such customer can exist).
"""
from __future__ import annotations

from starlette.responses import JSONResponse

from storage.errors import NOT_FOUND, TOKEN_INVALID, UNAUTHORIZED, DomainError, FieldError

RATE_LIMITED = 99429
INTERNAL = 99500
GATEWAY_TIMEOUT = 99504
METHOD_NOT_ALLOWED = 99405


def body(code: int, message: str, errors: list[FieldError] | None = None) -> dict:
    return {"errorCode": int(code), "errorMessage": message,
            "validationErrors": [{"field": e.field or "", "error": e.error, "value": e.value or ""}
                                 for e in errors or []]}


def response(status: int, code: int, message: str, errors: list[FieldError] | None = None,
             headers: dict | None = None) -> JSONResponse:
    return JSONResponse(body(code, message, errors), status_code=status, headers=headers)


def status_for(error: DomainError, allowed: set[int] | None = None) -> int:
    """The HTTP status for a refusal, within the statuses the operation's contract lists."""
    if error.code in (UNAUTHORIZED, TOKEN_INVALID):
        return 401
    status = 404 if error.code == NOT_FOUND else 400
    if allowed:
        if status == 404 and 404 not in allowed and 400 in allowed:
            status = 400
        elif status == 400 and 400 not in allowed and 404 in allowed:
            status = 404
    return status


def domain_response(error: DomainError, allowed: set[int] | None = None) -> JSONResponse:
    status = status_for(error, allowed)
    if status == 404 and error.code != NOT_FOUND:
        # A malformed id where the contract knows only "not found": say so, and name the field.
        what = error.errors[0].field if error.errors else "entity"
        return response(404, NOT_FOUND, f"No {what} with this id exists ({error.message})", error.errors)
    return response(status, error.code, error.message, error.errors)
