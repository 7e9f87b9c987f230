"""Offers: a client's own offers, the cross-client ones it shares, and external ones it receives.

Only the owning (source) client edits an offer; a target sees a shared offer read-only. An offer is
shared only with targets that have an ACTIVE connection with access to offers from its owner.
"""
from __future__ import annotations

from storage.audit import SYSTEM, Actor, changes, record
from storage.clock import now
from storage.connections import live_connection, require_usable, usable_for_offers
from storage.db import db
from storage.errors import NOT_ALLOWED, DomainError, FieldError, NotFound, invalid
from storage.models import Client, Offer, OfferShare
from storage.paging import Page, keyset
from storage.tenancy import get_client
from storage.validation import TERM_UNITS, Checker

STATUSES = ("ACTIVE", "ARCHIVED")


def _check(internal_title, public_title, price, currency, term, term_unit):
    check = Checker()
    values = dict(
        internal_title=check.required("internalTitle", internal_title),
        public_title=check.required("publicTitle", public_title),
        price=check.price("price", price),
        currency=check.currency("currency", currency),
        term=check.positive_int("term", term, 100),
        term_unit=check.one_of("termUnit", term_unit, TERM_UNITS),
    )
    return check, values


def _parse_id(offer_id, field: str = "offerId") -> int:
    text = str(offer_id or "").strip()
    if text.upper().startswith("O_"):
        text = text[2:]
    try:
        return int(text)
    except ValueError:
        raise invalid(field, "must be an offer id such as 12 or O_000000000000000012", offer_id) from None


def _summary(offer: Offer) -> dict:
    return {"internalTitle": offer.internal_title, "publicTitle": offer.public_title,
            "price": f"{offer.price:.2f}", "currency": offer.currency,
            "term": f"{offer.term} {offer.term_unit}", "status": offer.status,
            "crossClient": offer.cross_client}


def create_offer(client: Client, *, internal_title: str, public_title: str, price, currency: str,
                 term, term_unit: str, cross_client: bool = False, share_with: list[str] = (),
                 actor: Actor = SYSTEM) -> Offer:
    check, values = _check(internal_title, public_title, price, currency, term, term_unit)
    check.raise_if_any()
    with db.atomic():
        offer = Offer.create(client=client, **values)
        record(actor, "offer", offer.id, "create", changes({}, _summary(offer)), client=client)
        if cross_client or share_with:
            _share(offer, client, bool(cross_client or share_with), share_with, actor)
    return offer


def get_offer(offer_id, client: Client | None = None, field: str = "offerId") -> Offer:
    """An offer visible to `client`: its own, or one shared with it as an external offer."""
    oid = _parse_id(offer_id, field)
    offer = Offer.get_or_none(Offer.id == oid)
    if offer is None:
        raise NotFound("offer", offer_id, field)
    if client is not None and offer.client_id != client.id and not is_shared_with(offer, client):
        raise NotFound("offer", offer_id, field)
    return offer


def own_offer(offer_id, client: Client, field: str = "offerId") -> Offer:
    """An offer the client owns and may edit; an external offer is read-only (99403)."""
    offer = get_offer(offer_id, client, field)
    if offer.client_id != client.id:
        raise DomainError(NOT_ALLOWED,
                          f"Offer {offer.plenigo_offer_id} is an external offer of "
                          f"{offer.client.name}; only its owner can change it",
                          [FieldError(field, "external offers are read-only", str(offer_id))])
    return offer


def is_shared_with(offer: Offer, client: Client) -> bool:
    return OfferShare.select().join(Offer).where(
        (OfferShare.offer == offer) & (OfferShare.target == client) & Offer.cross_client).exists()


def update_offer(offer_id, client: Client, *, actor: Actor = SYSTEM, **fields) -> Offer:
    """Edit titles, price, currency or term of an own offer; omitted fields stay."""
    with db.atomic():
        offer = own_offer(offer_id, client)
        before = _summary(offer)
        merged = {k: fields.get(k, getattr(offer, k)) for k in
                  ("internal_title", "public_title", "price", "currency", "term", "term_unit")}
        unknown = set(fields) - set(merged)
        if unknown:
            raise invalid(sorted(unknown)[0], "is not an editable offer field")
        check, values = _check(**merged)
        check.raise_if_any()
        for key, value in values.items():
            setattr(offer, key, value)
        offer.changed_at = now()
        offer.save()
        record(actor, "offer", offer.id, "edit", changes(before, _summary(offer)) or "no change",
               client=client)
    return offer


def archive_offer(offer_id, client: Client, *, actor: Actor = SYSTEM) -> Offer:
    with db.atomic():
        offer = own_offer(offer_id, client)
        if offer.status == "ARCHIVED":
            raise invalid("status", "offer is already archived", offer.status)
        offer.status = "ARCHIVED"
        offer.changed_at = now()
        offer.save()
        record(actor, "offer", offer.id, "archive", "status: ACTIVE -> ARCHIVED", client=client)
    return offer


def _share(offer: Offer, client: Client, cross_client: bool, targets, actor: Actor) -> None:
    wanted = []
    for i, company_id in enumerate(targets or []):
        target = get_client(company_id, f"targets[{i}]")
        if target.id == client.id:
            raise DomainError(90059, "A client cannot share its own offer with itself",
                              [FieldError(f"targets[{i}]", "is the offer's own client", company_id)])
        require_usable(client, target, f"targets[{i}]")
        wanted.append(target)
    if not cross_client and wanted:
        raise invalid("targets", "an offer that is not cross-client cannot be shared")
    current = {s.target_id: s for s in offer.shares}
    wanted_ids = {t.id for t in wanted}
    for target_id, share in current.items():
        if target_id not in wanted_ids:
            share.delete_instance()
    for target in wanted:
        if target.id not in current:
            OfferShare.create(offer=offer, target=target)
    before = offer.cross_client
    offer.cross_client = cross_client
    offer.changed_at = now()
    offer.save()
    names = ", ".join(t.company_id for t in wanted) or "nobody"
    record(actor, "offer", offer.id, "share",
           f"crossClient: {before} -> {cross_client}; shared with {names}", client=client)


def set_cross_client(offer_id, client: Client, cross_client: bool, targets: list[str],
                     *, actor: Actor = SYSTEM) -> Offer:
    """Mark an own offer cross-client (or not) and set the targets it is shared with."""
    with db.atomic():
        offer = own_offer(offer_id, client)
        _share(offer, client, bool(cross_client), targets if cross_client else [], actor)
    return offer


def shared_targets(offer: Offer) -> list[Client]:
    return [s.target for s in OfferShare.select(OfferShare, Client).join(Client)
            .where(OfferShare.offer == offer).order_by(Client.name)]


def list_own_offers(client: Client, *, status: str | None = "ACTIVE", cross_client: bool | None = None,
                    search: str = "", limit: int = 50, after: int | None = None,
                    before: int | None = None) -> Page:
    query = Offer.select().where(Offer.client == client)
    if status:
        query = query.where(Offer.status == status)
    if cross_client is not None:
        query = query.where(Offer.cross_client == cross_client)
    if search.strip():
        query = query.where(Offer.internal_title.contains(search.strip())
                            | Offer.public_title.contains(search.strip()))
    return keyset(query, Offer.id, limit=limit, after=after, before=before)


def list_external_offers(client: Client, *, usable_only: bool = False, search: str = "",
                         limit: int = 50, after: int | None = None, before: int | None = None) -> Page:
    """Cross-client offers other clients share with `client` (read-only here)."""
    query = (Offer.select(Offer, Client).join(OfferShare).switch(Offer).join(Client)
             .where((OfferShare.target == client) & Offer.cross_client
                    & (Offer.status == "ACTIVE")))
    if search.strip():
        query = query.where(Offer.internal_title.contains(search.strip())
                            | Offer.public_title.contains(search.strip()))
    page = keyset(query, Offer.id, limit=limit, after=after, before=before)
    if usable_only:
        page.items = [o for o in page.items if external_usable(o, client)]
    return page


def external_usable(offer: Offer, client: Client) -> bool:
    """Whether `client` may put this external offer in a basket or sell it right now."""
    return (offer.status == "ACTIVE" and is_shared_with(offer, client)
            and usable_for_offers(live_connection(offer.client_id, client.id)))
