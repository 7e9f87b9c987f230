"""Offers and baskets: sharing, read-only external offers, and basket rules 78001-78012 and 90059."""
from __future__ import annotations

from storage.baskets import ItemSpec, archive_basket, basket_items, create_basket, update_basket
from storage.connections import block_connection, update_connection
from storage.models import Basket
from storage.offers import (
    archive_offer,
    create_offer,
    external_usable,
    list_external_offers,
    list_own_offers,
    set_cross_client,
    shared_targets,
    update_offer,
)
from tests.world import OPS, TARGET_ID, companies, connect, offer, refused, shop


def test_offer_fields_are_validated_each_by_name(any_db):
    w = companies()
    err = refused(99400, create_offer, w.source, internal_title="", public_title="x", price="-1",
                  currency="EURO", term=0, term_unit="DECADE")
    assert {e.field for e in err.errors} == {"internalTitle", "price", "currency", "term", "termUnit"}
    err = refused(99400, create_offer, w.source, internal_title="A", public_title="A", price="1.999",
                  currency="EUR", term=1, term_unit="MONTH")
    assert err.errors[0].field == "price" and "two decimal" in err.errors[0].error


def test_offer_create_edit_archive(any_db):
    w = companies()
    o = offer(w.source, "Plus", "9.99")
    assert o.plenigo_offer_id == f"O_{o.id:018d}" and len(o.plenigo_offer_id) == 20
    edited = update_offer(o.id, w.source, price="12,50", actor=OPS)
    assert str(edited.price) == "12.50"
    refused(99400, update_offer, o.id, w.source, currency="XXX", actor=OPS)
    archive_offer(o.id, w.source, actor=OPS)
    assert list(list_own_offers(w.source)) == []
    assert [x.id for x in list_own_offers(w.source, status="ARCHIVED")] == [o.id]


def test_share_needs_an_active_connection_with_access_to_offers(any_db):
    w = companies()
    o = offer(w.source)
    refused(99412, set_cross_client, o.id, w.source, True, [TARGET_ID], actor=OPS)
    conn = connect(w.source, w.target)
    update_connection(conn.id, w.source, access_to_offers=False, actor=OPS)
    refused(99412, set_cross_client, o.id, w.source, True, [TARGET_ID], actor=OPS)
    update_connection(conn.id, w.source, access_to_offers=True, actor=OPS)
    set_cross_client(o.id, w.source, True, [TARGET_ID], actor=OPS)
    assert [c.company_id for c in shared_targets(o)] == [TARGET_ID]
    assert [x.id for x in list_external_offers(w.target)] == [o.id]
    assert list(list_external_offers(w.sibling)) == []
    set_cross_client(o.id, w.source, False, [], actor=OPS)
    assert list(list_external_offers(w.target)) == []


def test_share_only_with_connected_targets_not_the_other_way(any_db):
    w = companies()
    connect(w.source, w.target)
    theirs = offer(w.target)
    # The connection runs source -> target; the target cannot share its offers back through it.
    refused(99412, set_cross_client, theirs.id, w.target, True, [w.source.company_id], actor=OPS)


def test_external_offer_is_read_only_for_the_target(any_db):
    s = shop()
    err = refused(99403, update_offer, s.shared.id, s.world.target, public_title="Hacked", actor=OPS)
    assert err.field == "offerId"
    refused(99403, archive_offer, s.shared.id, s.world.target, actor=OPS)
    refused(99404, update_offer, s.shared.id, s.world.sibling, public_title="x", actor=OPS)


def test_blocked_connection_makes_external_offer_unusable(any_db):
    s = shop()
    assert external_usable(s.shared, s.world.target)
    block_connection(s.connection.id, s.world.source, actor=OPS)
    assert not external_usable(s.shared, s.world.target)


def basket(s, items, **kwargs):
    return create_basket(s.world.target, internal_title="B", title="B", items=items, actor=OPS, **kwargs)


def test_basket_needs_items_78001(any_db):
    s = shop()
    refused(78001, basket, s, [])


def test_basket_needs_a_non_optional_item_78002(any_db):
    s = shop()
    refused(78002, basket, s, [ItemSpec(s.own.id, 1, option=True)])


def test_basket_positions_unique_78010(any_db):
    s = shop()
    err = refused(78010, basket, s, [ItemSpec(s.own.id, 1), ItemSpec(s.own.id, 1)])
    assert "Position 1" in err.message


def test_basket_positions_without_gaps_78011(any_db):
    s = shop()
    refused(78011, basket, s, [ItemSpec(s.own.id, 2)])
    err = refused(78011, basket, s, [ItemSpec(s.own.id, 1), ItemSpec(s.shared.id, 3)])
    assert "position 2" in err.message
    refused(99400, basket, s, [ItemSpec(s.own.id, 51)])


def test_external_offer_needs_leading_own_offer_78012(any_db):
    s = shop()
    refused(78012, basket, s, [ItemSpec(s.shared.id, 1, external=True)])
    refused(78012, basket, s, [ItemSpec(s.shared.id, 1, external=True), ItemSpec(s.own.id, 2)])


def test_own_cross_client_offer_cannot_be_sold_as_external_90059(any_db):
    s = shop()
    src = s.world.source
    lead = offer(src, "Lead")
    err = refused(90059, create_basket, src, internal_title="B", title="B",
                  items=[ItemSpec(lead.id, 1), ItemSpec(s.shared.id, 2, external=True)], actor=OPS)
    assert err.errors[0].field == "items[2].offerId"


def test_external_offer_needs_usable_connection(any_db):
    s = shop()
    update_connection(s.connection.id, s.world.source, access_to_offers=False, actor=OPS)
    refused(99412, basket, s, [ItemSpec(s.own.id, 1), ItemSpec(s.shared.id, 2, external=True)])
    update_connection(s.connection.id, s.world.source, access_to_offers=True, actor=OPS)
    block_connection(s.connection.id, s.world.target, actor=OPS)
    refused(99412, basket, s, [ItemSpec(s.own.id, 1), ItemSpec(s.shared.id, 2, external=True)])


def test_offer_not_shared_with_this_client_is_not_found(any_db):
    s = shop()
    other = offer(s.world.source, "Not shared")
    refused(99404, basket, s, [ItemSpec(s.own.id, 1), ItemSpec(other.id, 2, external=True)])


def test_archived_offer_and_mixed_currency_refused(any_db):
    s = shop()
    old = offer(s.world.target, "Old")
    archive_offer(old.id, s.world.target, actor=OPS)
    refused(99400, basket, s, [ItemSpec(old.id, 1)])
    chf = create_offer(s.world.target, internal_title="CHF", public_title="CHF", price="5", currency="CHF",
                       term=1, term_unit="MONTH", actor=OPS)
    err = refused(99400, basket, s, [ItemSpec(s.own.id, 1), ItemSpec(chf.id, 2)])
    assert "CHF" in err.message


def test_basket_edit_replaces_items_and_keeps_flags(any_db):
    s = shop()
    week = offer(s.world.target, "Weekend", "2.49")
    update_basket(s.basket.id, s.world.target, title="Bundle plus",
                  items=[ItemSpec(s.own.id, 1), ItemSpec(s.shared.id, 2, external=True),
                         ItemSpec(week.id, 3, option=True, default_selected=False)], actor=OPS)
    items = basket_items(s.basket)
    assert [(i.position, i.offer_id, i.option, i.default_selected) for i in items] == [
        (1, s.own.id, False, True), (2, s.shared.id, False, True), (3, week.id, True, False)]
    assert items[1].external and not items[0].external
    refused(78012, update_basket, s.basket.id, s.world.target,
            items=[ItemSpec(s.shared.id, 1, external=True), ItemSpec(s.own.id, 2)], actor=OPS)
    assert Basket.get_by_id(s.basket.id).title == "Bundle plus"
    archive_basket(s.basket.id, s.world.target, actor=OPS)
    refused(99400, update_basket, s.basket.id, s.world.target, title="x", actor=OPS)


def test_another_clients_basket_is_not_found(any_db):
    s = shop()
    refused(99404, update_basket, s.basket.id, s.world.source, title="x", actor=OPS)
