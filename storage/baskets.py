"""Baskets (shopping carts) of a target client and their rules (78001-78012, 90059).

An item is an own offer or an external (cross-client) offer. "Leading own offer" means: every
external item has an own offer at an earlier position of the same basket (78012); the purchase
applies the same rule to the items actually bought.
"""
from __future__ import annotations

from dataclasses import dataclass

from storage.audit import SYSTEM, Actor, record
from storage.clock import now
from storage.connections import require_usable
from storage.db import db
from storage.errors import (
    BASKET_EXTERNAL_WITHOUT_LEADING,
    BASKET_NO_ITEMS,
    BASKET_NO_MANDATORY_ITEM,
    BASKET_POSITIONS_GAP,
    BASKET_POSITIONS_NOT_UNIQUE,
    OWN_CROSS_CLIENT_OFFER,
    DomainError,
    FieldError,
    NotFound,
    invalid,
)
from storage.models import Basket, BasketItem, Client, Offer
from storage.offers import get_offer, is_shared_with
from storage.paging import Page, keyset
from storage.validation import Checker

MAX_ITEMS = 50


@dataclass
class ItemSpec:
    """One basket item as the editor or the API gives it."""

    offer_id: int | str
    position: int
    option: bool = False
    default_selected: bool = True
    external: bool = False  # given as a connected (cross-client) offer


def _refuse(code: int, message: str, field: str, value: object = "") -> DomainError:
    return DomainError(code, message, [FieldError(field, message, str(value))])


def check_items(client: Client, items: list[ItemSpec]) -> list[tuple[ItemSpec, Offer]]:
    """Apply every basket rule; returns the items with their offers, sorted by position."""
    if not items:
        raise _refuse(BASKET_NO_ITEMS, "A basket needs at least one item", "items")
    if len(items) > MAX_ITEMS:
        raise invalid("items", f"a basket holds at most {MAX_ITEMS} items", len(items))
    positions = []
    for i, item in enumerate(items):
        try:
            pos = int(item.position)
        except (TypeError, ValueError):
            raise invalid(f"items[{i}].position", "must be a whole number", item.position) from None
        if not 1 <= pos <= MAX_ITEMS:
            raise invalid(f"items[{i}].position", f"must be between 1 and {MAX_ITEMS}", item.position)
        item.position = pos
        positions.append(pos)
    if len(set(positions)) != len(positions):
        dup = next(p for p in positions if positions.count(p) > 1)
        raise _refuse(BASKET_POSITIONS_NOT_UNIQUE, f"Position {dup} is used more than once",
                      "items.position", dup)
    expected = set(range(1, len(positions) + 1))
    if set(positions) != expected:
        missing = min(expected - set(positions))
        raise _refuse(BASKET_POSITIONS_GAP,
                      f"Positions must run from 1 without gaps; position {missing} is missing",
                      "items.position", missing)
    ordered = sorted(items, key=lambda it: it.position)
    if all(item.option for item in ordered):
        raise _refuse(BASKET_NO_MANDATORY_ITEM, "A basket needs at least one item that is not optional",
                      "items.option")
    checked: list[tuple[ItemSpec, Offer]] = []
    currency = None
    seen_own = False
    for item in ordered:
        field = f"items[{item.position}].offerId"
        offer = get_offer(item.offer_id, None, field)
        own = offer.client_id == client.id
        if own and item.external:
            raise _refuse(OWN_CROSS_CLIENT_OFFER,
                          f"Offer {offer.plenigo_offer_id} is this client's own offer; it cannot be "
                          "sold as an external (cross-client) offer", field, offer.plenigo_offer_id)
        if not own:
            if not is_shared_with(offer, client):
                raise NotFound("offer", item.offer_id, field)
            require_usable(offer.client, client, field)
        if offer.status != "ACTIVE":
            raise invalid(field, "offer is archived", offer.plenigo_offer_id)
        if currency is None:
            currency = offer.currency
        elif offer.currency != currency:
            raise invalid(field, f"offer is in {offer.currency}; the basket's currency is {currency}",
                          offer.plenigo_offer_id)
        if not own and not seen_own:
            raise _refuse(BASKET_EXTERNAL_WITHOUT_LEADING,
                          f"External offer {offer.plenigo_offer_id} at position {item.position} needs "
                          "a leading own offer at an earlier position", field, offer.plenigo_offer_id)
        seen_own = seen_own or own
        item.external = not own
        if not item.option:
            item.default_selected = True
        checked.append((item, offer))
    return checked


def _write_items(basket: Basket, checked) -> None:
    BasketItem.delete().where(BasketItem.basket == basket).execute()
    for item, offer in checked:
        BasketItem.create(basket=basket, position=item.position, offer=offer,
                          option=bool(item.option), default_selected=bool(item.default_selected))


def _describe(checked) -> str:
    return ", ".join(f"{item.position}:{offer.plenigo_offer_id}{'(ext)' if item.external else ''}"
                     f"{'(option)' if item.option else ''}" for item, offer in checked)


def create_basket(client: Client, *, internal_title: str, title: str, items: list[ItemSpec],
                  actor: Actor = SYSTEM) -> Basket:
    check = Checker()
    internal_title = check.required("internalTitle", internal_title)
    title = check.required("title", title)
    check.raise_if_any()
    with db.atomic():
        checked = check_items(client, items)
        basket = Basket.create(client=client, internal_title=internal_title, title=title)
        _write_items(basket, checked)
        record(actor, "basket", basket.id, "create", f"{internal_title}: {_describe(checked)}",
               client=client)
    return basket


def get_basket(basket_id, client: Client, field: str = "shoppingCartId") -> Basket:
    try:
        bid = int(basket_id)
    except (TypeError, ValueError):
        raise invalid(field, "must be a number", basket_id) from None
    basket = Basket.get_or_none((Basket.id == bid) & (Basket.client == client))
    if basket is None:
        raise NotFound("basket", basket_id, field)
    return basket


def update_basket(basket_id, client: Client, *, internal_title: str | None = None,
                  title: str | None = None, items: list[ItemSpec] | None = None,
                  actor: Actor = SYSTEM) -> Basket:
    """Change titles and/or replace the items as a whole (the editor saves all positions)."""
    with db.atomic():
        basket = get_basket(basket_id, client)
        if basket.status != "ACTIVE":
            raise invalid("status", "an archived basket cannot be edited", basket.status)
        check = Checker()
        parts = []
        if internal_title is not None:
            new = check.required("internalTitle", internal_title)
            if new != basket.internal_title:
                parts.append(f"internalTitle: {basket.internal_title} -> {new}")
            basket.internal_title = new
        if title is not None:
            new = check.required("title", title)
            if new != basket.title:
                parts.append(f"title: {basket.title} -> {new}")
            basket.title = new
        check.raise_if_any()
        if items is not None:
            checked = check_items(client, items)
            _write_items(basket, checked)
            parts.append(f"items: {_describe(checked)}")
        basket.changed_at = now()
        basket.save()
        record(actor, "basket", basket.id, "edit", "; ".join(parts) or "no change", client=client)
    return basket


def archive_basket(basket_id, client: Client, *, actor: Actor = SYSTEM) -> Basket:
    with db.atomic():
        basket = get_basket(basket_id, client)
        if basket.status == "ARCHIVED":
            raise invalid("status", "basket is already archived", basket.status)
        basket.status = "ARCHIVED"
        basket.changed_at = now()
        basket.save()
        record(actor, "basket", basket.id, "archive", "status: ACTIVE -> ARCHIVED", client=client)
    return basket


def basket_items(basket: Basket) -> list[BasketItem]:
    return list(BasketItem.select(BasketItem, Offer).join(Offer)
                .where(BasketItem.basket == basket).order_by(BasketItem.position))


def list_baskets(client: Client, *, status: str | None = "ACTIVE", search: str = "",
                 limit: int = 50, after: int | None = None, before: int | None = None,
                 basket_id: int | None = None, since=None, until=None, descending: bool = False) -> Page:
    """Baskets of `client`; `since`/`until` bound the last change."""
    query = Basket.select().where(Basket.client == client)
    if basket_id is not None:
        query = query.where(Basket.id == basket_id)
    if since is not None:
        query = query.where(Basket.changed_at >= since)
    if until is not None:
        query = query.where(Basket.changed_at <= until)
    if status:
        query = query.where(Basket.status == status)
    if search.strip():
        query = query.where(Basket.internal_title.contains(search.strip())
                            | Basket.title.contains(search.strip()))
    return keyset(query, Basket.id, limit=limit, after=after, before=before, descending=descending)
