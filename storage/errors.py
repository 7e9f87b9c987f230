"""One exception family for every refusal, each with a stable plenigo-style code."""
from __future__ import annotations

from dataclasses import dataclass

# plenigo's codes where they exist (DOMAIN.md "Errors"); ours above 99000 otherwise.
CONNECTION_TRANSITION_INVALID = 10025
VOUCHER_UNKNOWN = 35001
VOUCHER_USED_OR_INVALID = 35002
BASKET_NO_ITEMS = 78001
BASKET_NO_MANDATORY_ITEM = 78002
BASKET_POSITIONS_NOT_UNIQUE = 78010
BASKET_POSITIONS_GAP = 78011
BASKET_EXTERNAL_WITHOUT_LEADING = 78012
OWN_CROSS_CLIENT_OFFER = 90059
TOKEN_INVALID = 99008
VALIDATION = 99400
UNAUTHORIZED = 99401
NOT_FOUND = 99404
# Our own, for refusals plenigo has no code for.
MODULE_INACTIVE = 99410
CONNECTION_EXISTS = 99411
CONNECTION_NOT_USABLE = 99412
INVITATION_INVALID = 99413
NOT_ALLOWED = 99403
CONFLICT = 99409


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field, shaped like plenigo's ValidationError."""

    field: str
    error: str
    value: str = ""


class DomainError(Exception):
    """A refusal: nothing was changed. `code` is stable; `message` is for people."""

    def __init__(self, code: int, message: str, errors: list[FieldError] | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.errors = list(errors or [])

    @property
    def field(self) -> str | None:
        return self.errors[0].field if self.errors else None


class ValidationError(DomainError):
    """Bad input (99400); `errors` names each field and what is wrong with it."""

    def __init__(self, errors: list[FieldError] | FieldError, message: str | None = None):
        errs = [errors] if isinstance(errors, FieldError) else list(errors)
        if message is None:
            message = "; ".join(f"{e.field}: {e.error}" for e in errs) or "invalid input"
        super().__init__(VALIDATION, message, errs)


class NotFound(DomainError):
    """An id that does not exist or is not visible to the caller (99404)."""

    def __init__(self, what: str, ident: object, field: str | None = None):
        errs = [FieldError(field, f"{what} not found", str(ident))] if field else []
        super().__init__(NOT_FOUND, f"{what} {ident} not found", errs)


def invalid(field: str, error: str, value: object = "") -> ValidationError:
    """Shorthand for a single-field validation error."""
    return ValidationError(FieldError(field, error, "" if value is None else str(value)))
