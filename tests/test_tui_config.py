"""Theme and key bindings come from the config file."""
from __future__ import annotations

from storage.config import Config
from tests import world
from tests.tui_support import SIZE, backoffice, keys, settle


async def test_theme_and_remapped_keys_from_config(sqlite_db):
    world.companies()
    config = Config(None, {"tui": {"theme": "nord"}, "keys": {"app.client": "ctrl+k", "screen.offers": "o"}})
    app = backoffice(world.SOURCE_ID, config=config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "nord"
        await keys(pilot, "o")
        assert app.current_mode == "offers"
        await keys(pilot, "2")  # the old key no longer switches
        assert app.current_mode == "offers"
        await keys(pilot, "ctrl+k")
        assert app.screen.__class__.__name__ == "ClientSwitcher"


async def test_unknown_theme_falls_back_with_a_warning(sqlite_db):
    world.companies()
    app = backoffice(world.SOURCE_ID, config=Config(None, {"tui": {"theme": "no-such-theme"}}))
    shown = []  # every toast, whether or not it has expired by the time the test looks
    notify = app.notify
    app.notify = lambda message, *args, **kwargs: (shown.append(str(message)), notify(message, *args, **kwargs))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "textual-dark"
        assert any("Unknown theme 'no-such-theme'" in message for message in shown)


async def test_quitting_while_screens_are_built_ahead_ends_cleanly(sqlite_db):
    """Quitting at any moment of the background building ends the app without an error: a screen
    in the middle of being mounted is finished first."""
    import asyncio

    world.companies()
    for delay in (0, 0.3, 0.31, 0.33, 0.36, 0.45, 0.7):
        app = backoffice(world.SOURCE_ID, prepare_screens=True)
        async with app.run_test(size=SIZE):
            await asyncio.sleep(delay)
            app.exit(None)  # what ctrl+q does
            await asyncio.sleep(0.3)
        assert app.return_code in (None, 0)


async def test_quitting_waits_for_a_screen_being_built_at_most_a_second(sqlite_db):
    import asyncio

    from tui.app import QUIT_WAIT

    world.companies()
    app = backoffice(world.SOURCE_ID)
    async with app.run_test(size=SIZE):
        app._building = asyncio.get_running_loop().create_future()  # a build that never ends
        app.exit(None)
        await asyncio.sleep(QUIT_WAIT / 2)
        assert not app._exit  # still waiting for the build
        await asyncio.sleep(QUIT_WAIT)
        assert app._exit  # then quits anyway
