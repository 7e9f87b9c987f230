"""Contract companies (with the cross-client module switch) and their clients."""
from __future__ import annotations

from storage.audit import SYSTEM, Actor, record
from storage.db import db
from storage.errors import CONFLICT, DomainError, NotFound
from storage.models import Client, ContractCompany
from storage.paging import Page, keyset
from storage.validation import Checker


def create_contract_company(name: str, *, cross_client_module: bool = False,
                            actor: Actor = SYSTEM) -> ContractCompany:
    check = Checker()
    name = check.required("name", name)
    check.raise_if_any()
    with db.atomic():
        company = ContractCompany.create(name=name, cross_client_module=cross_client_module)
        record(actor, "contract_company", company.id, "create",
               f"name={name}; CROSS_CLIENT_CONNECTIONS={'on' if cross_client_module else 'off'}")
    return company


def set_cross_client_module(company_id: int, active: bool, *, actor: Actor = SYSTEM) -> ContractCompany:
    """Switch the contract module CROSS_CLIENT_CONNECTIONS on or off."""
    with db.atomic():
        company = get_contract_company(company_id)
        before = company.cross_client_module
        company.cross_client_module = bool(active)
        company.save()
        record(actor, "contract_company", company.id, "module",
               f"CROSS_CLIENT_CONNECTIONS: {'on' if before else 'off'} -> {'on' if active else 'off'}")
    return company


def get_contract_company(company_id: int) -> ContractCompany:
    company = ContractCompany.get_or_none(ContractCompany.id == company_id)
    if company is None:
        raise NotFound("contract company", company_id, "contractCompanyId")
    return company


def list_contract_companies(*, limit: int = 100, after: int | None = None) -> Page:
    return keyset(ContractCompany.select(), ContractCompany.id, limit=limit, after=after)


def create_client(contract_company: ContractCompany | int, company_id: str, name: str,
                  contact_email: str, *, actor: Actor = SYSTEM) -> Client:
    check = Checker()
    company_id = check.company_id("companyId", company_id)
    name = check.required("name", name)
    contact_email = check.email("contactEmail", contact_email)
    check.raise_if_any()
    with db.atomic():
        cc = get_contract_company(getattr(contract_company, "id", contract_company))
        if Client.get_or_none(Client.company_id == company_id):
            raise DomainError(CONFLICT, f"A client with company ID {company_id} already exists")
        client = Client.create(company_id=company_id, contract_company=cc, name=name,
                               contact_email=contact_email)
        record(actor, "client", company_id, "create", f"name={name}; contract company={cc.name}",
               client=client)
    return client


def get_client(company_id: str, field: str = "companyId") -> Client:
    """The client with this 20-character company id (case-insensitive input)."""
    client = Client.get_or_none(Client.company_id == (company_id or "").strip().upper())
    if client is None:
        raise NotFound("client", company_id, field)
    return client


def list_clients(*, search: str = "", limit: int = 100, after: int | None = None) -> Page:
    """Clients ordered by id; `search` matches company id or name prefix (case-insensitive)."""
    query = Client.select(Client, ContractCompany).join(ContractCompany)
    text = search.strip()
    if text:
        query = query.where(Client.company_id.startswith(text.upper())
                            | Client.name.contains(text))
    return keyset(query, Client.id, limit=limit, after=after)


def same_contract_company(a: Client, b: Client) -> bool:
    return a.contract_company_id == b.contract_company_id
