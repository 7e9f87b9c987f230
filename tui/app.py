"""The backoffice app: six screens as Textual MODES (digits 1..6), acting as one client at a time.

The app owns what every screen shares: the database session's client and operator, `--readonly`,
the theme and key map from the config file, the mailer's worker and the in-process API (both
optional until those packages exist), the poller that raises toasts, the command palette's
commands and the help modal.
"""
from __future__ import annotations

import asyncio
import gc
import os
from functools import partial
from typing import Any

from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from storage.audit import Actor
from storage.config import Config
from storage.models import Client
from tui import display
from tui.collector import RestingCollector
from tui.messages import BackgroundDone, EventsPolled
from tui.screens.base import MODE_TITLES
from tui.screens.baskets import BasketsScreen
from tui.screens.callbacks import CallbackLogScreen
from tui.screens.client_switch import ClientSwitcher
from tui.screens.connections import ConnectionsScreen
from tui.screens.customers import CustomersScreen
from tui.screens.offers import OffersScreen
from tui.screens.settings import SettingsScreen
from tui.widgets.modals import HelpModal

DEFAULT_THEME = "textual-dark"
CONFIG_WARNING_SECONDS = 20  # a problem with the config stays on screen long enough to be read
QUIT_WAIT = 1.0  # the longest quitting waits for a screen being built ahead
PREPARE_AFTER = 0.3  # seconds after start before the other screens are built in the background
PREPARE_EVERY = 0.05  # pause between two of them, for keys pressed meanwhile


class Backoffice(App):
    """crossclient's backoffice for support staff."""

    CSS_PATH = "app.tcss"
    TITLE = "crossclient"
    MODES = {
        "connections": ConnectionsScreen,
        "offers": OffersScreen,
        "baskets": BasketsScreen,
        "customers": CustomersScreen,
        "callbacks": CallbackLogScreen,
        "settings": SettingsScreen,
    }
    DEFAULT_MODE = "connections"
    BINDINGS = [
        *[Binding(str(n), f"switch_mode('{mode}')", title, show=False, id=f"screen.{mode}",
                  tooltip=f"Go to {title}") for n, (mode, title) in enumerate(MODE_TITLES, 1)],
        Binding("c", "switch_client", "Client", id="app.client", tooltip="Act as another client"),
        Binding("question_mark,f1", "help", "Help", id="app.help", tooltip="Keys of this screen"),
        Binding("colon", "command_palette", "Commands", show=False, id="app.palette",
                tooltip="Open the command palette"),
    ]

    def __init__(self, *, operator: str = "operator", readonly: bool = False, client: str | None = None,
                 config: Config | None = None, start_worker: bool | None = None,
                 api: str | None = None, poll_seconds: float | None = None, prepare_screens: bool = True):
        super().__init__()
        self.config = config or Config()
        self.readonly = readonly
        self.actor = Actor.operator(operator)
        self._warnings: list[str] = []
        # The database is open before the app is built: pick the client now so that the first
        # screen already lists its data.
        self.client: Client | None = self._pick_client(client or self.config.get("tui", "client", None))
        self.data_version = 0
        self.start_worker = (self.config.get("tui", "worker", True) if start_worker is None
                             else start_worker)
        self.api_address = api
        self.poll_seconds = float(poll_seconds if poll_seconds is not None
                                  else self.config.get("tui", "poll_seconds", 2.0))
        self.worker_handle: Any = None
        self.worker_status = "not started"
        self.api_handle: Any = None
        self.api_status = "off"
        self._last_invitation = 0
        self._last_failure = 0
        self.prepare_screens = prepare_screens
        self.screens_prepared = False  # every mode's screen is built (see _prepare_next_screen)
        self._prepared: set[Screen] = set()
        self._hold_frames = True  # see switch_mode
        self._building: asyncio.Future | None = None  # a screen being built ahead (see exit)
        self._quitting = False
        self.collector = RestingCollector()

    # -- start and stop ---------------------------------------------------------------------
    def on_mount(self) -> None:
        self._apply_theme()
        self._apply_keymap()
        for warning in self._warnings:
            self.notify(warning, severity="warning", markup=False, timeout=CONFIG_WARNING_SECONDS)
        self._show_client()
        # The API first: the worker's first callbacks may go to the sample merchant it serves.
        if self.api_address:
            self._start_api()
        if self.start_worker:
            self._start_worker()
        self._baseline()
        if self.poll_seconds > 0:
            self.set_interval(self.poll_seconds, self._poll)
        if self.client is None:
            self.call_later(self.switch_mode, "settings")
            self.notify("There is no client yet: create a contract company and a client here.",
                        title="Empty database", markup=False)
        if self.prepare_screens:
            self.set_timer(PREPARE_AFTER, self._prepare_next_screen)
        else:
            self.screens_prepared = True
        if self.collector.start():
            self.set_interval(self.collector.rest / 2, self.collector.tick)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent):
            self.collector.input()  # no full garbage collection while the user may be waiting
        await super().on_event(event)

    def _prepare_next_screen(self) -> None:
        """Build one not yet shown mode's screen in the background, then schedule the next.

        Building a screen (widgets, styles, the tables' columns) and loading its first page took
        most of the 200-330 ms of its first opening on a large database. Shortly after start, while
        the user reads the first screen, the app builds each other mode's screen and loads its
        lists, one screen per step so that keys pressed meanwhile wait for at most one build. A
        digit then only shows a screen that is ready; its lists reload when shown if the client or
        the data changed since (`reload_if_stale`).
        """
        if not self.is_running or self._exit or self._closing or self._quitting:
            return  # the app is shutting down: its screen stacks are being emptied
        for mode in self.MODES:
            if mode not in self._screen_stacks:
                break
        else:
            # Then what the mode screens build ahead (the customer detail), one per step.
            for stack in self._screen_stacks.values():
                prepare = getattr(stack[0], "prepare", None) if stack else None
                if prepare is not None and stack[0] not in self._prepared:
                    self._prepared.add(stack[0])
                    self._track_build(prepare())
                    self.set_timer(PREPARE_EVERY, self._prepare_next_screen)
                    return
            self.screens_prepared = True
            self._freeze_startup_objects()
            return
        screen, mounted = self._get_screen(self.MODES[mode]())
        self._load_screen_css(screen)
        screen._screen_resized(self.size)
        self._screen_stacks[mode] = [screen]
        self._track_build(mounted, then=getattr(screen, "reload_if_stale", None))
        self.set_timer(PREPARE_EVERY, self._prepare_next_screen)

    def _track_build(self, mounted, then=None) -> None:
        """Remember the screen being built in the background until all its widgets are mounted,
        then call `then` (the screen's first load)."""
        if mounted is None:
            return

        async def built() -> None:
            await mounted
            if then is not None and not self._quitting:
                then()

        self._building = asyncio.ensure_future(built())

    def exit(self, result: Any = None, return_code: int = 0, message: Any = None) -> None:
        """Quit; if a screen is being built in the background, once it is mounted (a few tens
        of milliseconds): taking a screen down in the middle of mounting it makes Textual's Header
        look for its title after it is gone, and quitting would end with a traceback."""
        self._quitting = True  # no further screen is built ahead
        building = self._building
        if building is not None and not building.done():
            def quit_now(*_) -> None:
                if not self._exit:
                    App.exit(self, result, return_code, message)

            building.add_done_callback(quit_now)
            self.set_timer(QUIT_WAIT, quit_now)  # never wait longer than this
            return
        super().exit(result, return_code, message)

    def switch_mode(self, mode: str):
        # Textual holds every frame for 50 ms after a mode switch, to hide a screen that is still
        # being built. A screen built ahead has nothing to hide: show it at once.
        self._hold_frames = mode not in self._screen_stacks
        try:
            return super().switch_mode(mode)
        finally:
            self._hold_frames = True

    def delay_update(self, delay: float = 0.05) -> None:
        if self._hold_frames:
            super().delay_update(delay)

    @staticmethod
    def _freeze_startup_objects() -> None:
        """Collect once, then leave everything built so far (screens, widgets, styles, caches) out
        of later garbage collections.

        Python's full collection walks every tracked object; with all six screens built that took
        up to 120 ms, at random moments: a paging or search key now and then took 100 ms longer
        than the rest. Frozen objects are never collected, so this runs once, when the screens are
        ready and the app has nothing to do, after a collection that frees the garbage of starting.
        """
        gc.collect()
        gc.freeze()

    def on_unmount(self) -> None:
        self.collector.stop()
        for handle in (self.worker_handle, self.api_handle):
            if handle is not None:
                handle.stop()

    def _apply_theme(self) -> None:
        theme = self.config.get("tui", "theme", DEFAULT_THEME, env="CROSSCLIENT_THEME")
        if theme in self.available_themes:
            self.theme = theme
        else:
            self.theme = DEFAULT_THEME
            self.notify(f"Unknown theme {theme!r}; using {DEFAULT_THEME}. Known: "
                        f"{', '.join(sorted(self.available_themes))}", severity="warning", markup=False,
                        timeout=CONFIG_WARNING_SECONDS)

    def _apply_keymap(self) -> None:
        keys = {str(k): str(v) for k, v in self.config.section("keys").items() if isinstance(v, str)}
        if keys:
            self.set_keymap(keys)

    def _pick_client(self, company_id: str | None) -> Client | None:
        if company_id:
            client = Client.get_or_none(Client.company_id == company_id.strip().upper())
            if client is not None:
                return client
            self._warnings.append(f"No client {company_id}; acting as the first client instead")
        return Client.select().order_by(Client.id).first()

    def _start_worker(self) -> None:
        from mailer.worker import start_in_thread

        self.worker_handle = start_in_thread(self.config)
        self.worker_status = "running in the backoffice"

    def _start_api(self) -> None:
        host, _, port = self.api_address.rpartition(":")
        from api.server import start_in_thread

        try:
            self.api_handle = start_in_thread(host or "127.0.0.1", int(port), self.config)
        except (OSError, RuntimeError) as exc:  # port taken: the backoffice still works without it
            self.api_status = f"not serving: {exc}"
            self.notify(f"The API could not start on {self.api_address}: {exc}", title="API",
                        severity="error", timeout=15, markup=False)
            return
        self.api_status = f"serving on http://{host or '127.0.0.1'}:{port}/api/v3.0"

    # -- the client the app acts as -------------------------------------------------------------
    def _show_client(self) -> None:
        if self.client is None:
            self.sub_title = "no client"
        else:
            c = self.client
            self.sub_title = f"{c.contract_company.name} / {c.name} / {c.company_id}"
        if self.readonly:
            self.sub_title += "  [read-only]"

    def switch_client(self, company_id: str) -> None:
        client = Client.get_or_none(Client.company_id == company_id)
        if client is None:
            self.notify(f"No client {company_id}", severity="error", markup=False)
            return
        self.client = client
        self._show_client()
        self._baseline()
        self.data_changed()
        self.notify(f"Acting as {client.name} ({client.company_id})", title="Client", markup=False)

    def action_switch_client(self) -> None:
        def chosen(company_id: str | None) -> None:
            if company_id:
                self.switch_client(company_id)

        self.push_screen(ClientSwitcher(self.client.company_id if self.client else None), chosen)

    def data_changed(self) -> None:
        """Something was written: every screen reloads when shown; the current one now."""
        self.data_version += 1
        self.call_later(self._reload_current)

    def _reload_current(self) -> None:
        for screen in self.screen_stack:
            reload = getattr(screen, "reload_if_stale", None)
            if reload is not None and screen is self.screen:
                reload()

    # -- toasts for what happens in the background --------------------------------------------
    def _baseline(self) -> None:
        from storage.models import CallbackAttempt, Connection

        self._last_invitation = Connection.select(Connection.id).order_by(Connection.id.desc()).scalar() or 0
        self._last_failure = (CallbackAttempt.select(CallbackAttempt.id)
                              .order_by(CallbackAttempt.id.desc()).scalar() or 0)

    def _poll(self) -> None:
        if self.client is not None:
            self._poll_events(self.client, self._last_invitation, self._last_failure)

    @work(thread=True, exclusive=True, group="poll")
    def _poll_events(self, client: Client, last_invitation: int, last_failure: int) -> None:
        from storage.callbacks import list_attempts
        from storage.connections import list_connections

        invitations = [c for c in list_connections(client, direction="IN", status="INVITED", limit=20)
                       if c.id > last_invitation]
        failed = [a for a in list_attempts(client, errors_only=True, limit=20)
                  if a.id > last_failure and a.final_try]
        if invitations or failed:
            self.post_message(EventsPolled(invitations, failed))

    def on_events_polled(self, message: EventsPolled) -> None:
        for connection in message.invitations:
            self._last_invitation = max(self._last_invitation, connection.id)
            self.notify(f"{connection.source.name} ({connection.source.company_id}) invites "
                        f"{connection.target.name}. Accept it under 1 Connections.",
                        title="Invitation arrived", timeout=10, markup=False)
        for attempt in message.failed_callbacks:
            self._last_failure = max(self._last_failure, attempt.id)
            self.notify(f"Callback #{attempt.callback_id} for {attempt.entity_type} {attempt.entity_id} "
                        f"failed for good after try {attempt.try_number}: "
                        f"{attempt.error_message or attempt.http_status}",
                        title="Callback failed for good", severity="error", timeout=15, markup=False)
        if message.invitations or message.failed_callbacks:
            self.data_changed()

    def on_background_done(self, message: BackgroundDone) -> None:
        self.notify(message.detail, title=message.title, severity="information" if message.ok else "error",
                    timeout=8, markup=False)
        self.data_changed()

    # -- palette and help ---------------------------------------------------------------------
    def get_system_commands(self, screen: Screen):
        for number, (mode, title) in enumerate(MODE_TITLES, 1):
            yield SystemCommand(f"Go to {title}", f"key {number}", partial(self.switch_mode, mode))
        yield SystemCommand("Switch client", "key c: act as another client", self.action_switch_client)
        for client in Client.select().order_by(Client.name).limit(100):
            # The palette reads titles and help as markup: the names are escaped.
            yield SystemCommand(f"Act as {display.escape(client.name)} ({client.company_id})",
                                f"switch to this client of {display.escape(client.contract_company.name)}",
                                partial(self.switch_client, client.company_id), discover=False)
        seen = set()
        for _key, active in screen.active_bindings.items():
            binding, node = active.binding, active.node
            if node is self or not active.enabled or binding.id in seen or not binding.description:
                continue
            seen.add(binding.id)
            yield SystemCommand(binding.description,
                                f"key {self.get_key_display(binding)}: {binding.tooltip}",
                                partial(self._run_binding, node, binding.action))
        yield SystemCommand("Help", "key ?: keys of this screen", self.action_help)
        yield from super().get_system_commands(screen)

    def _run_binding(self, node, action: str) -> None:
        self.call_later(self.run_action, action, node)

    def action_help(self) -> None:
        screen = self.screen
        rows, seen = [], set()
        for _key, active in screen.active_bindings.items():
            binding = active.binding
            if binding.id in seen:
                continue
            seen.add(binding.id)
            rows.append((self.get_key_display(binding), binding.description or binding.action,
                         binding.tooltip + ("" if active.enabled else " (not now)")))
        title = getattr(screen, "title", None) or screen.__class__.__name__
        self.push_screen(HelpModal(str(title), getattr(screen, "HELP", "") or "", rows))


def run_app(args) -> int:
    """Open the database and the config named on the command line, then run the backoffice."""
    from storage.config import load_config
    from storage.db import close_database, open_database

    config = load_config(getattr(args, "config", None))
    open_database(getattr(args, "db", None))  # --db, else env CROSSCLIENT_DATABASE, else the default
    app = Backoffice(operator=getattr(args, "operator", None) or os.environ.get("USER", "operator"),
                     readonly=bool(getattr(args, "readonly", False)), client=getattr(args, "client", None),
                     config=config, api=getattr(args, "api", None))
    try:
        app.run()
    finally:
        close_database()
    return app.return_code or 0
