"""Field checks shared by every operation; each failure names the field and the problem."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from urllib.parse import urlparse

from storage.errors import FieldError, ValidationError

COMPANY_ID = re.compile(r"^[A-Z0-9]{20}$")
CUSTOMER_ID = re.compile(r"^[0-9]{1,18}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LANGUAGE = re.compile(r"^[a-z]{2}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
TERM_UNITS = ("DAY", "WEEK", "MONTH", "YEAR")
CUSTOMER_STATUSES = ("ACTIVATED", "BLOCKED", "DEACTIVATED", "DISABLED")
# ISO 4217 codes a European publisher meets; others are refused as unknown.
CURRENCIES = {
    "EUR", "CHF", "USD", "GBP", "DKK", "SEK", "NOK", "PLN", "CZK", "HUF", "RON", "BGN", "ISK",
    "JPY", "CAD", "AUD", "NZD",
}


class Checker:
    """Collects field errors, so one call reports every bad field at once."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def fail(self, field: str, error: str, value: object = "") -> None:
        self.errors.append(FieldError(field, error, "" if value is None else str(value)))

    def required(self, field: str, value: str | None, max_len: int = 200) -> str:
        text = (value or "").strip()
        if not text:
            self.fail(field, "is required", value)
        elif len(text) > max_len:
            self.fail(field, f"must be at most {max_len} characters", text[:40])
        return text

    def company_id(self, field: str, value: str | None) -> str:
        text = (value or "").strip().upper()
        if not text:
            self.fail(field, "is required", value)
        elif not COMPANY_ID.match(text):
            self.fail(field, "must be 20 upper-case letters or digits", value)
        return text

    def email(self, field: str, value: str | None) -> str:
        text = (value or "").strip()
        if not text:
            self.fail(field, "is required", value)
        elif len(text) > 254 or not EMAIL.match(text):
            self.fail(field, "is not a valid e-mail address", value)
        return text

    def language(self, field: str, value: str | None) -> str:
        text = (value or "").strip().lower()
        if not LANGUAGE.match(text):
            self.fail(field, "must be a two-letter language code such as de or en", value)
        return text

    def one_of(self, field: str, value: str | None, allowed) -> str:
        text = (value or "").strip().upper()
        if text not in allowed:
            self.fail(field, f"must be one of {', '.join(allowed)}", value)
        return text

    def price(self, field: str, value) -> Decimal:
        try:
            amount = Decimal(str(value).strip().replace(",", "."))
        except (InvalidOperation, AttributeError):
            self.fail(field, "must be a number such as 9.99", value)
            return Decimal(0)
        if not amount.is_finite():
            self.fail(field, "must be a number such as 9.99", value)
            return Decimal(0)
        if amount < 0:
            self.fail(field, "must not be negative", value)
        elif amount >= Decimal("10000000000"):
            self.fail(field, "is too large", value)
        elif amount != amount.quantize(Decimal("0.01")):
            self.fail(field, "must have at most two decimal places", value)
        return amount.quantize(Decimal("0.01")) if amount.is_finite() else Decimal(0)

    def currency(self, field: str, value: str | None) -> str:
        text = (value or "").strip().upper()
        if not CURRENCY.match(text) or text not in CURRENCIES:
            self.fail(field, "must be an ISO 4217 currency code such as EUR", value)
        return text

    def positive_int(self, field: str, value, maximum: int = 1000) -> int:
        try:
            number = int(str(value).strip())
        except (TypeError, ValueError):
            self.fail(field, "must be a whole number", value)
            return 0
        if not 1 <= number <= maximum:
            self.fail(field, f"must be between 1 and {maximum}", value)
        return number

    def url(self, field: str, value: str | None, required: bool) -> str | None:
        text = (value or "").strip()
        if not text:
            if required:
                self.fail(field, "is required for a connection between two contract companies", value)
            return None
        parsed = urlparse(text)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            self.fail(field, "must be an http:// or https:// URL with a host", value)
        elif len(text) > 2000:
            self.fail(field, "must be at most 2000 characters", text[:40])
        elif parsed.username or parsed.password:
            self.fail(field, "must not contain credentials; use basic authentication instead", "")
        return text

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


def customer_number(value: object, field: str = "customerId") -> str:
    """A customerId as the API and storage take it: 1 to 18 digits."""
    text = str(value or "").strip()
    if not CUSTOMER_ID.match(text):
        raise ValidationError(FieldError(field, "must be 1 to 18 digits", text))
    return text
