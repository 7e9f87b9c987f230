"""The two-company flow walked by keys alone, as the two operators would do it."""
from __future__ import annotations

from storage.models import Basket, BasketItem, Callback, Connection, Offer, Order, Subscription, Voucher
from tests import world
from tests.tui_support import SIZE, backoffice, cells, keys, settle, type_text


async def switch_client(pilot, company_id: str) -> None:
    await keys(pilot, "c")
    await type_text(pilot, company_id[:6])  # the search narrows to the one client
    await keys(pilot, "enter")
    assert pilot.app.client.company_id == company_id


async def test_two_company_flow_by_keys(sqlite_db):
    w = world.companies()
    app = backoffice(world.SOURCE_ID)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # Source: new connection to the target, with a callback URL.
        await keys(pilot, "1", "n")
        await type_text(pilot, world.TARGET_ID)
        await keys(pilot, "tab", "tab")  # access to offers stays on
        await type_text(pilot, "http://127.0.0.1:9/cb")
        await keys(pilot, "ctrl+s")
        connection = Connection.get()
        assert connection.status == "INVITED" and connection.target_id == w.target.id
        assert cells(pilot, "#connections")[0][1:5] == ["out ->", "South Online", world.TARGET_ID, "INVITED"]

        # Target: accepts the invitation.
        await switch_client(pilot, world.TARGET_ID)
        assert cells(pilot, "#connections")[0][1:5] == ["<- in", "North Digital", world.SOURCE_ID, "INVITED"]
        await keys(pilot, "a")
        assert pilot.app.screen.__class__.__name__ == "ConfirmModal"
        await keys(pilot, "y")
        assert Connection.get_by_id(connection.id).status == "ACTIVE"
        assert cells(pilot, "#connections")[0][4] == "ACTIVE"

        # Source: creates the offer, cross-client, shared with the target.
        await switch_client(pilot, world.SOURCE_ID)
        await keys(pilot, "2", "n")
        await type_text(pilot, "XC-DIGITAL")
        await keys(pilot, "tab")
        await type_text(pilot, "North XC")
        await keys(pilot, "tab")
        await type_text(pilot, "4.99")
        await keys(pilot, "tab", "tab", "tab", "tab")  # currency EUR, term 1, unit MONTH
        await keys(pilot, "space", "tab", "space")  # cross-client on, first target ticked
        await keys(pilot, "ctrl+s")
        shared = Offer.get(Offer.internal_title == "XC-DIGITAL")
        assert shared.cross_client and [s.target.company_id for s in shared.shares] == [world.TARGET_ID]

        # Target: its own offer, then the basket with the external offer behind it.
        await switch_client(pilot, world.TARGET_ID)
        await keys(pilot, "2", "n")
        await type_text(pilot, "TGT-BASIC")
        await keys(pilot, "tab")
        await type_text(pilot, "Basic")
        await keys(pilot, "tab")
        await type_text(pilot, "7.99")
        await keys(pilot, "ctrl+s")
        await keys(pilot, "3", "n")
        await type_text(pilot, "BUNDLE")
        await keys(pilot, "tab")
        await type_text(pilot, "South + North")
        await keys(pilot, "tab", "a")
        await type_text(pilot, "TGT")
        await keys(pilot, "enter", "a")
        await type_text(pilot, "XC")
        await keys(pilot, "enter")
        assert pilot.app.screen.query_one("#items-error").render().plain == ""
        await keys(pilot, "ctrl+s")
        basket = Basket.get(Basket.internal_title == "BUNDLE")
        items = list(BasketItem.select().where(BasketItem.basket == basket).order_by(BasketItem.position))
        assert [i.offer.internal_title for i in items] == ["TGT-BASIC", "XC-DIGITAL"]

        # Target: places an order for a new customer.
        await keys(pilot, "escape", "o", "ctrl+n")
        await type_text(pilot, "b@s.de")
        await keys(pilot, "tab")
        await type_text(pilot, "Berta")
        await keys(pilot, "ctrl+s", "ctrl+s")
        assert pilot.app.screen.__class__.__name__ == "InfoModal"
        summary = pilot.app.screen.query_one("#info-body").render().plain
        order = Order.get()
        voucher = Voucher.get()
        callback = Callback.get()
        assert f"Order #{order.id}" in summary and "SOUTH ONLINE BASIC" not in summary
        assert f"callback #{callback.id} queued to http://127.0.0.1:9/cb" in summary
        assert callback.status == "PENDING" and callback.client_id == w.source.id
        await keys(pilot, "escape")

        # The queued callback shows in the outbox (Settings); the log gets it once the worker runs.
        await keys(pilot, "6", "]", "]", "]", "]")
        outbox = cells(pilot, "#outbox-callbacks-table")
        assert outbox[0][0] == str(callback.id) and outbox[0][3] == "PENDING"

        # Target: reads the voucher code under Customers > the buyer > Vouchers.
        await keys(pilot, "4", "enter", "]", "]")
        code = cells(pilot, "#vouchers-table")[0][0]
        assert code == voucher.code

        # Source: creates its customer and redeems the voucher by hand.
        await keys(pilot, "escape")
        await switch_client(pilot, world.SOURCE_ID)
        await keys(pilot, "4", "n")
        await type_text(pilot, "b@n.de")
        await keys(pilot, "ctrl+s", "slash")
        await type_text(pilot, "b@n")
        await keys(pilot, "enter", "enter", "v")
        await type_text(pilot, code.lower().replace("-", ""))
        await keys(pilot, "ctrl+s")
        sub = Subscription.get(Subscription.client == w.source)
        assert sub.subscription_type == "CROSS_COMPANY_TIME_BASED"
        rows = cells(pilot, "#subscriptions-table")
        assert rows[0][2] == "CROSS_COMPANY_TIME_BASED"
        assert rows[0][7].startswith(f"South Online ({world.TARGET_ID}), customer ")
        assert Voucher.get_by_id(voucher.id).status == "REDEEMED"


async def test_callback_appears_in_the_log_with_the_real_worker(sqlite_db):
    """After an order, the worker running inside the app delivers the callback (here to a closed
    port, so it fails) and the attempt appears in the source's callback log."""
    shop = world.shop(url="http://127.0.0.1:9/callbacks")
    from storage.orders import place_order

    buyer = world.customer(shop.world.south)
    place_order(shop.world.target, shop.basket.id, buyer.customer_number, actor=world.OPS)
    app = backoffice(world.SOURCE_ID, start_worker=True)
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "5")
        for _ in range(100):
            await pilot.pause(0.1)
            await keys(pilot, "r")
            if cells(pilot, "#log"):
                break
        rows = cells(pilot, "#log")
        assert rows, "no callback attempt appeared in the log"
        assert rows[0][2] == "CROSS_CLIENT_ORDER"


async def test_opening_another_customer_shows_only_that_customer(sqlite_db):
    """The detail screen is built once and shown again for each customer: nothing of the one
    opened before may remain, and the tab last looked at stays active."""
    from storage.orders import place_order
    from tui.screens.customers import CustomerDetailScreen

    s = world.shop()
    first, second = world.customer(s.world.south, 1), world.customer(s.world.south, 2)
    orders = [place_order(s.target, s.basket.id, c.customer_number, actor=world.OPS) for c in (first, second)]
    app = backoffice(world.TARGET_ID)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await keys(pilot, "4")
        assert [row[1] for row in cells(pilot, "#customers")] == [first.email, second.email]
        await keys(pilot, "enter")
        detail = app.screen
        assert isinstance(detail, CustomerDetailScreen)
        assert first.email in str(detail.query_one("#customer-info").render())
        assert len(cells(pilot, "#subscriptions-table")) == 1  # the target's own offer
        await keys(pilot, "]")
        assert [row[0] for row in cells(pilot, "#orders-table")] == [str(orders[0].order.id)]

        await keys(pilot, "escape", "down", "enter")
        assert app.screen is detail and detail.title == f"Customer {second.customer_number}"
        info = str(detail.query_one("#customer-info").render())
        assert second.email in info and first.email not in info
        assert detail.query_one("#customer-tabs").active == "orders"
        assert [row[0] for row in cells(pilot, "#orders-table")] == [str(orders[1].order.id)]
        await keys(pilot, "[")
        subscription = Subscription.get(Subscription.customer == second.id)
        assert [row[0] for row in cells(pilot, "#subscriptions-table")] == [str(subscription.id)]


async def test_screens_built_ahead_show_current_data(sqlite_db):
    """The app builds every screen shortly after start and loads its lists; a screen shown later
    must still show the current client's current data."""
    from tui.screens.customers import CustomerDetailScreen

    w = world.companies()
    world.customer(w.north, 1)
    world.customer(w.south, 2)
    app = backoffice(world.SOURCE_ID, prepare_screens=True)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(100):
            await settle(pilot, 1)
            if app.screens_prepared:
                break
        assert app.screens_prepared
        assert set(app._screen_stacks) == set(app.MODES)  # all built, only Connections shown
        customers = app._screen_stacks["customers"][0]
        assert customers._detail is not None and isinstance(customers._detail, CustomerDetailScreen)
        assert customers._detail.is_running
        # Data written after the screen was built shows when it is first displayed.
        world.customer(w.north, 3)
        app.data_changed()
        await keys(pilot, "4")
        assert [row[1] for row in cells(pilot, "#customers")] == ["buyer1@example.org", "buyer3@example.org"]
        # Another client (of the other contract company) sees its own customers.
        await keys(pilot, "1")
        await switch_client(pilot, world.TARGET_ID)
        await keys(pilot, "4")
        assert [row[1] for row in cells(pilot, "#customers")] == ["buyer2@example.org"]


async def test_basket_editor_opened_and_left_unchanged_asks_nothing(sqlite_db):
    """Opening a saved basket fills its fields; that is no edit, so escape goes straight back.
    A real edit still asks before it is dropped."""
    world.shop()
    app = backoffice(world.TARGET_ID)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await keys(pilot, "3", "e")
        assert app.screen.__class__.__name__ == "BasketEditor"
        await keys(pilot, "escape")
        assert app.screen.__class__.__name__ == "BasketsScreen"
        await keys(pilot, "e")
        await type_text(pilot, "X")
        await keys(pilot, "escape")
        assert app.screen.__class__.__name__ == "ConfirmModal"


async def test_offer_picker_adds_the_offer_chosen_on_the_list(sqlite_db):
    """Enter in the search line or on the list (after down) adds the highlighted offer, as the
    client switcher acts on the client chosen either way."""
    s = world.shop()
    app = backoffice(world.TARGET_ID)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await keys(pilot, "3", "n", "tab", "tab", "a")  # past the two title fields to the items
        assert app.screen.__class__.__name__ == "OfferPicker"
        await keys(pilot, "down", "enter")
        assert app.screen.__class__.__name__ == "BasketEditor"
        assert [item.offer.id for item in app.screen.items] == [s.own.id]


async def test_searches_that_find_nothing_say_so(sqlite_db):
    """The customer search of "place order", the client switcher and the offer picker name the
    text that found nothing instead of showing an empty list; enter then picks nothing."""
    from textual.widgets import OptionList

    world.shop()
    app = backoffice(world.TARGET_ID)

    def listed() -> list[str]:
        options = app.screen.query_one(OptionList)
        return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await keys(pilot, "3", "o")
        await type_text(pilot, "nobody")
        assert listed() == ["no customer matches 'nobody' (ctrl+n creates one)"]
        await keys(pilot, "enter")
        assert app.screen.__class__.__name__ == "PlaceOrderModal" and app.screen.customer is None
        await keys(pilot, "escape", "c")
        await type_text(pilot, "[b]x")
        assert listed() == ["no client matches '[b]x'"]  # typed text shown literally
        await keys(pilot, "enter")
        assert app.screen.__class__.__name__ == "ClientSwitcher"
        await keys(pilot, "escape", "n", "tab", "tab", "a")
        await type_text(pilot, "zzz")
        assert listed() == ["no offer matches 'zzz'"]


async def test_order_customer_search_enter_before_the_answer_takes_the_latest_text(sqlite_db):
    """The customer search of "place order" runs on the reading thread. Enter pressed before the
    answer to the last keystroke arrives takes the first match of the text as typed, never the
    first match of an earlier, shorter text still on the list."""
    import threading

    from tui.widgets.paged_table import READS

    s = world.shop()
    world.customer(s.world.south, 1)
    second = world.customer(s.world.south, 2)
    app = backoffice(world.TARGET_ID)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await keys(pilot, "3", "o")
        await type_text(pilot, "buyer")  # buyer1 and buyer2 listed, buyer1 first
        release = threading.Event()
        READS.submit(release.wait, 10)  # the reading thread is busy: the next search waits
        try:
            await pilot.press("2", "enter")
            assert app.screen.customer is None  # nothing taken from the stale list
        finally:
            release.set()
        await settle(pilot)
        assert app.screen.customer is not None and app.screen.customer.id == second.id
