"""Customers of a contract company: shared by its clients, numbered per contract company.

Numbers come from a per-company counter bumped inside the creating transaction, so concurrent
creations never hand out the same number; the unique index is the last line of defence. Search
uses prefix ranges on indexed columns (number, lower-cased e-mail and names), never a table scan.
"""
from __future__ import annotations

from storage.audit import SYSTEM, Actor, changes, record
from storage.clock import now
from storage.db import db
from storage.errors import FieldError, NotFound, ValidationError
from storage.models import ContractCompany, Customer
from storage.paging import Page, keyset
from storage.validation import CUSTOMER_STATUSES, Checker, customer_number

_HIGH = "\U0010ffff"


def _company_id(contract_company) -> int:
    return getattr(contract_company, "id", contract_company)


def _next_number(company_id: int) -> str:
    while True:
        (ContractCompany.update(next_customer_number=ContractCompany.next_customer_number + 1)
         .where(ContractCompany.id == company_id).execute())
        number = str(ContractCompany.get_by_id(company_id).next_customer_number - 1)
        if not Customer.select().where((Customer.contract_company == company_id)
                                       & (Customer.customer_number == number)).exists():
            return number


def _check_email_free(company_id: int, email: str, except_id: int | None = None) -> None:
    query = Customer.select().where((Customer.contract_company == company_id)
                                    & (Customer.email_lc == email.lower()))
    if except_id is not None:
        query = query.where(Customer.id != except_id)
    other = query.first()
    if other is not None:
        raise ValidationError(FieldError("email", f"is already registered to customer "
                                         f"{other.customer_number}", email))


def create_customer(contract_company, *, email: str, first_name: str = "", last_name: str = "",
                    language: str = "de", number: str | None = None, status: str = "ACTIVATED",
                    actor: Actor = SYSTEM, client=None) -> Customer:
    check = Checker()
    email = check.email("email", email)
    language = check.language("language", language or "de")
    status = check.one_of("status", status or "ACTIVATED", CUSTOMER_STATUSES)
    first_name = (first_name or "").strip()
    last_name = (last_name or "").strip()
    for field, value in (("firstName", first_name), ("lastName", last_name)):
        if len(value) > 100:
            check.fail(field, "must be at most 100 characters", value[:40])
    check.raise_if_any()
    if number is not None and str(number).strip():
        number = customer_number(number)
    company_id = _company_id(contract_company)
    with db.atomic():
        if not ContractCompany.select().where(ContractCompany.id == company_id).exists():
            raise NotFound("contract company", company_id, "contractCompanyId")
        _check_email_free(company_id, email)
        if number:
            if Customer.select().where((Customer.contract_company == company_id)
                                       & (Customer.customer_number == number)).exists():
                raise ValidationError(FieldError("customerId", "is already taken", number))
        else:
            number = _next_number(company_id)
        customer = Customer.create(
            contract_company=company_id, customer_number=number, email=email,
            email_lc=email.lower(), first_name=first_name, last_name=last_name,
            first_name_lc=first_name.lower(), last_name_lc=last_name.lower(), language=language,
            status=status)
        record(actor, "customer", f"{company_id}/{number}", "create",
               f"{email}; {first_name} {last_name}".strip(), client=client)
    return customer


def update_customer(contract_company, number: str, *, actor: Actor = SYSTEM, client=None,
                    **fields) -> Customer:
    """Change e-mail, names, language or status; omitted fields stay."""
    with db.atomic():
        customer = get_customer(contract_company, number)
        before = {k: getattr(customer, k) for k in ("email", "first_name", "last_name", "language", "status")}
        merged = {**before, **{k: v for k, v in fields.items() if v is not None}}
        unknown = set(fields) - set(before)
        if unknown:
            raise ValidationError(FieldError(sorted(unknown)[0], "is not an editable customer field"))
        check = Checker()
        merged["email"] = check.email("email", merged["email"])
        merged["language"] = check.language("language", merged["language"])
        merged["status"] = check.one_of("status", merged["status"], CUSTOMER_STATUSES)
        for key, field in (("first_name", "firstName"), ("last_name", "lastName")):
            if len((merged[key] or "").strip()) > 100:
                check.fail(field, "must be at most 100 characters", merged[key][:40])
        check.raise_if_any()
        _check_email_free(customer.contract_company_id, merged["email"], customer.id)
        for key, value in merged.items():
            setattr(customer, key, value.strip() if isinstance(value, str) else value)
        customer.email_lc = customer.email.lower()
        customer.first_name_lc = customer.first_name.lower()
        customer.last_name_lc = customer.last_name.lower()
        customer.changed_at = now()
        customer.save()
        record(actor, "customer", f"{customer.contract_company_id}/{customer.customer_number}", "edit",
               changes(before, merged) or "no change", client=client)
    return customer


def get_customer(contract_company, number, field: str = "customerId") -> Customer:
    number = customer_number(number, field)
    customer = Customer.get_or_none((Customer.contract_company == _company_id(contract_company))
                                    & (Customer.customer_number == number))
    if customer is None:
        raise NotFound("customer", number, field)
    return customer


def find_by_email(contract_company, email: str) -> Customer | None:
    return Customer.get_or_none((Customer.contract_company == _company_id(contract_company))
                                & (Customer.email_lc == (email or "").strip().lower()))


def _prefix(column, text: str):
    return (column >= text) & (column < text + _HIGH)


def search_customers(contract_company, text: str = "", *, limit: int = 50, after: int | None = None,
                     before: int | None = None, status: str | None = None, email: str | None = None,
                     since=None, until=None, descending: bool = False) -> Page:
    """Customers whose number, e-mail or first/last name starts with `text`, by id.

    Digits search the number, text with `@` the e-mail, anything else e-mail and both names.
    `email` matches one address exactly (any case); `since`/`until` bound the last change.
    """
    query = Customer.select().where(Customer.contract_company == _company_id(contract_company))
    if email is not None:
        query = query.where(Customer.email_lc == email.strip().lower())
    if since is not None:
        query = query.where(Customer.changed_at >= since)
    if until is not None:
        query = query.where(Customer.changed_at <= until)
    text = (text or "").strip().lower()
    if text:
        if text.isdigit():
            query = query.where(_prefix(Customer.customer_number, text))
        elif "@" in text:
            query = query.where(_prefix(Customer.email_lc, text))
        else:
            query = query.where(_prefix(Customer.last_name_lc, text) | _prefix(Customer.first_name_lc, text)
                                | _prefix(Customer.email_lc, text))
    if status:
        query = query.where(Customer.status == status)
    # (contract company, e-mail) is unique, so an exact e-mail matches one row at most: no count.
    if email is not None or ((text or since or until) and _few(query)):
        # Few matches: read them through the search indexes and sort them, instead of walking
        # the whole table in id order looking for them.
        return keyset(query, Customer.id, limit=limit, after=after, before=before, descending=descending,
                      order_key=Customer.id + 0)
    return keyset(query, Customer.id, limit=limit, after=after, before=before, descending=descending)


FEW = 5000


def _few(query) -> bool:
    """Whether the filter matches fewer than FEW rows (counted through the index, bounded)."""
    probe = query.select(Customer.id).order_by().limit(FEW)
    return probe.count() < FEW
