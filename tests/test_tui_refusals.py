"""The refusals a support person meets, and --readonly: each refusal shows its code and message
at the field, and changes nothing."""
from __future__ import annotations

from storage.connections import block_connection
from storage.customers import create_customer
from storage.models import AuditEntry, Basket, Connection, Order
from tests import world
from tests.tui_support import SIZE, backoffice, cells, keys, settle, type_text


def field_error(pilot, field: str) -> str:
    return pilot.app.screen.query_one(f"#f-{field}").error


def form_error(pilot) -> str:
    return str(pilot.app.screen.query_one("#form-error").render())


async def test_wrong_target_id_is_refused_at_the_field(sqlite_db):
    world.companies()
    async with backoffice(world.SOURCE_ID).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await keys(pilot, "n")
        await type_text(pilot, "abc")
        assert field_error(pilot, "targetCompanyId") == "must be 20 upper-case letters or digits"
        await keys(pilot, "ctrl+s")
        assert pilot.app.screen.__class__.__name__ == "ConnectionForm"
        assert form_error(pilot) == "Refused (99400): targetCompanyId: must be 20 upper-case letters or digits"
        assert field_error(pilot, "targetCompanyId") == "must be 20 upper-case letters or digits"
        await keys(pilot, *["backspace"] * 3)
        await type_text(pilot, "NOSUCHCLIENT00000001")
        assert field_error(pilot, "targetCompanyId") == ""
        await keys(pilot, "ctrl+s")
        assert pilot.app.screen.__class__.__name__ == "ConnectionForm"
        assert field_error(pilot, "targetCompanyId") == "client not found"
        assert form_error(pilot) == "Refused (99404): client NOSUCHCLIENT00000001 not found"
    assert Connection.select().count() == 0


async def test_inactive_module_is_refused(sqlite_db):
    world.companies(module_south=False)
    async with backoffice(world.SOURCE_ID).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await keys(pilot, "n")
        await type_text(pilot, world.TARGET_ID)
        await keys(pilot, "tab", "tab")
        await type_text(pilot, "http://127.0.0.1:9/cb")
        await keys(pilot, "ctrl+s")
        assert form_error(pilot).startswith("Refused (99410): The contract module CROSS_CLIENT_CONNECTIONS is "
                                            "not active for contract company South Press")
        assert field_error(pilot, "targetCompanyId") == "contract module CROSS_CLIENT_CONNECTIONS inactive"
    assert Connection.select().count() == 0


async def test_basket_without_leading_own_offer_is_refused(sqlite_db):
    shop = world.shop()
    baskets_before = Basket.select().count()
    async with backoffice(world.TARGET_ID).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await keys(pilot, "3", "n")
        await type_text(pilot, "ONLY-EXT")
        await keys(pilot, "tab")
        await type_text(pilot, "Only external")
        await keys(pilot, "tab", "a")
        await type_text(pilot, "Source")
        await keys(pilot, "enter")
        error = str(pilot.app.screen.query_one("#items-error").render())
        assert error.startswith("78012: External offer " + shop.shared.plenigo_offer_id)
        await keys(pilot, "ctrl+s")
        assert pilot.app.screen.__class__.__name__ == "BasketEditor"
        assert str(pilot.app.screen.query_one("#items-error").render()).startswith("78012:")
        # Adding the own offer and moving it first satisfies the rule.
        await keys(pilot, "a")
        await type_text(pilot, "Target")
        await keys(pilot, "enter", "shift+up")
        assert str(pilot.app.screen.query_one("#items-error").render()) == ""
    assert Basket.select().count() == baskets_before


async def test_selling_through_a_blocked_connection_is_refused(sqlite_db):
    shop = world.shop()
    create_customer(shop.world.south, email="buyer@south.example", first_name="Berta")
    block_connection(shop.connection.id, shop.world.source, actor=world.OPS)
    async with backoffice(world.TARGET_ID).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await keys(pilot, "3", "o")
        await type_text(pilot, "buyer@")
        await keys(pilot, "enter", "ctrl+s")
        assert pilot.app.screen.__class__.__name__ == "PlaceOrderModal"
        text = form_error(pilot)
        assert text.startswith("Refused (99412): Offers of North Digital (SOURCECLIENT00000001) cannot be used "
                               "by South Online: connection #")
        assert "is BLOCKED" in text
    assert Order.select().count() == 0


async def test_readonly_hides_every_mutating_action(sqlite_db):
    w = world.companies()
    from storage.connections import create_connection

    create_connection(w.source, world.TARGET_ID, callback_url="http://127.0.0.1:9/cb", actor=world.OPS)
    audit_before = AuditEntry.select().count()
    app = backoffice(world.TARGET_ID, readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "[read-only]" in app.sub_title
        screen = app.screen
        assert cells(pilot, "#connections")[0][4] == "INVITED"
        for action in ("new", "accept", "decline", "accept_code", "block"):
            assert screen.check_action(action, ()) is False
        keys_shown = {b.binding.key for b in screen.active_bindings.values()}
        assert not {"n", "a", "d", "i", "b"} & keys_shown
        await keys(pilot, "a", "n", "i")
        assert app.screen is screen  # nothing opened
        # The same on every screen: nothing that writes is offered.
        for digit, actions in (("2", ("new", "edit", "share", "archive")), ("3", ("new", "order", "archive")),
                               ("4", ("new",)), ("5", ("resend",)), ("6", ("new", "module", "revoke"))):
            await keys(pilot, digit)
            for action in actions:
                assert app.screen.check_action(action, ()) is False, (digit, action)
        await keys(pilot, "4", "n")
        assert app.screen.__class__.__name__ == "CustomersScreen"
        # The command palette offers no mutating command either.
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "New" not in titles and "Go to Offers" in titles
    assert Connection.get().status == "INVITED"
    assert AuditEntry.select().count() == audit_before


async def test_footer_follows_the_state_of_the_selected_row_after_an_action(sqlite_db):
    """Accepting an invitation turns the footer's accept/decline into block, without moving."""
    w = world.companies()
    from storage.connections import create_connection

    create_connection(w.source, world.TARGET_ID, callback_url="http://127.0.0.1:9/cb", actor=world.OPS)
    app = backoffice(world.TARGET_ID)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        from tui.widgets.footer import KeysFooter

        def shown() -> set[str]:
            footer = app.screen.query_one(KeysFooter)
            return {entry[1] for entry in footer._shown[3]}

        assert {"a", "d"} <= shown() and "b" not in shown()
        await keys(pilot, "a", "y")
        await settle(pilot)
        assert cells(pilot, "#connections")[0][4] == "ACTIVE"
        assert "b" in shown() and not {"a", "d"} & shown()
