"""Screen 2, Offers: own offers, cross-client offers (with the targets they are shared with) and
external offers other clients share with this one (read-only). Create, edit, share, archive.

Editing the fields (e) and sharing (s) are two forms because they are two storage operations:
each form saves in one transaction and either changes everything it shows or nothing.
"""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Checkbox, Label, Select, SelectionList, TabbedContent, TabPane

from storage import offers as ops
from storage.connections import list_connections
from storage.models import Offer
from storage.paging import Page
from storage.validation import TERM_UNITS
from tui import display
from tui.screens.base import BackofficeScreen
from tui.widgets.filter_bar import FilterBar
from tui.widgets.forms import FormField, FormModal, Rule
from tui.widgets.modals import ConfirmModal
from tui.widgets.paged_table import Column, PagedTable

TABS = ("own", "cross", "external")


def share_candidates(client) -> list:
    """Targets the client may share with: ACTIVE outgoing connections with access to offers."""
    page = list_connections(client, direction="OUT", status="ACTIVE", limit=500)
    return [c.target for c in page if c.access_to_offers]


class OffersScreen(BackofficeScreen):
    MODE = "offers"
    HELP = ("Own offers, the cross-client ones among them with the targets they are shared with, and "
            "external offers other clients share with you (read-only: only their owner edits them). "
            "[ and ] switch tabs.")
    MUTATING = frozenset({"new", "edit", "share", "archive"})
    BINDINGS = [
        Binding("n", "new", "New", id="offer.new", tooltip="Create an offer"),
        Binding("e", "edit", "Edit", id="offer.edit", tooltip="Edit titles, price, currency and term"),
        Binding("s", "share", "Share", id="offer.share", tooltip="Cross-client flag and targets"),
        Binding("x", "archive", "Archive", id="offer.archive", tooltip="Archive the offer"),
        Binding("left_square_bracket", "tab(-1)", "Prev tab", id="tabs.previous", tooltip="Previous tab"),
        Binding("right_square_bracket", "tab(1)", "Next tab", id="tabs.next", tooltip="Next tab"),
        Binding("slash", "filter", "Filter", id="list.filter", tooltip="Search titles"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.title = "Offers"

    def body(self) -> ComposeResult:
        own_cols = [Column("id", "Offer ID", 20), Column("internal", "Internal title", 22),
                    Column("public", "Public title", 30, stretch=True), Column("price", "Price", 12),
                    Column("term", "Term", 9), Column("status", "Status", 9), Column("cc", "Cross-client", 12)]
        with TabbedContent(id="offer-tabs"):
            with TabPane("Own offers", id="own"):
                table = PagedTable(own_cols, self._own, self._own_cells, empty="no offers: n creates one",
                                   id="own-table")
                yield FilterBar(table)
                yield table
            with TabPane("Cross-client offers", id="cross"):
                table = PagedTable(own_cols[:6] + [Column("targets", "Shared with", 44, stretch=True)], self._cross,
                                   self._cross_cells, empty="no cross-client offers: s shares an own offer",
                                   id="cross-table")
                yield FilterBar(table)
                yield table
            with TabPane("External offers", id="external"):
                table = PagedTable([Column("id", "Offer ID", 20), Column("owner", "Owner", 20),
                                    Column("owner_id", "Owner ID", 20),
                                    Column("public", "Public title", 30, stretch=True),
                                    Column("price", "Price", 12), Column("term", "Term", 9),
                                    Column("usable", "Usable now", 10)],
                                   self._external, self._external_cells,
                                   empty="no client shares offers with you", id="external-table")
                yield FilterBar(table)
                yield table

    # -- lists ----------------------------------------------------------------------------
    def _own(self, r) -> Page:
        return ops.list_own_offers(self.client, status=None, search=r.text, limit=r.limit, after=r.after,
                                   before=r.before) if self.client else Page()

    def _cross(self, r) -> Page:
        if self.client is None:
            return Page()
        page = ops.list_own_offers(self.client, status=None, cross_client=True, search=r.text, limit=r.limit,
                                   after=r.after, before=r.before)
        for offer in page:
            offer.targets = ops.shared_targets(offer)
        return page

    def _external(self, r) -> Page:
        if self.client is None:
            return Page()
        page = ops.list_external_offers(self.client, search=r.text, limit=r.limit, after=r.after, before=r.before)
        for offer in page:
            offer.usable = ops.external_usable(offer, self.client)
        return page

    def _own_cells(self, o: Offer) -> tuple:
        return (o.plenigo_offer_id, o.internal_title, o.public_title, display.money(o.price, o.currency),
                display.term(o.term, o.term_unit), display.status(o.status), display.yes_no(o.cross_client))

    def _cross_cells(self, o: Offer) -> tuple:
        targets = ", ".join(f"{t.name} ({t.company_id})" for t in o.targets) or "nobody yet"
        return self._own_cells(o)[:6] + (targets,)

    def _external_cells(self, o: Offer) -> tuple:
        return (o.plenigo_offer_id, o.client.name, o.client.company_id, o.public_title,
                display.money(o.price, o.currency), display.term(o.term, o.term_unit),
                display.yes_no(o.usable))

    # -- state ------------------------------------------------------------------------------
    @property
    def tab(self) -> str:
        return self.query_one(TabbedContent).active or "own"

    @property
    def table(self) -> PagedTable:
        return self.query_one(f"#{self.tab}-table", PagedTable)

    @property
    def offer(self) -> Offer | None:
        return self.table.selected

    def reload(self) -> None:
        for tab in TABS:
            self.query_one(f"#{tab}-table", PagedTable).load()

    def on_mount(self) -> None:
        self.query_one("#own-table").focus()

    def on_tabbed_content_tab_activated(self, event) -> None:
        self.table.focus()
        self.refresh_bindings()

    def allowed(self, action: str) -> bool | None:
        if action in ("edit", "share", "archive"):
            offer = self.offer
            return (self.tab != "external" and offer is not None and offer.status == "ACTIVE")
        return True

    # -- actions ------------------------------------------------------------------------------
    def action_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = TABS[(TABS.index(self.tab) + step) % len(TABS)]

    def action_filter(self) -> None:
        self.query_one(f"#{self.tab} FilterBar", FilterBar).open()

    def action_new(self) -> None:
        self.app.push_screen(OfferForm(None), self._saved)

    def action_edit(self) -> None:
        self.app.push_screen(OfferForm(self.offer), self._saved)

    def action_share(self) -> None:
        self.app.push_screen(ShareForm(self.offer), self._saved)

    def _saved(self, offer: Offer | None) -> None:
        if offer is not None:
            self.app.notify(f"{offer.plenigo_offer_id} {offer.internal_title} saved", title="Offer saved",
                            markup=False)

    def action_archive(self) -> None:
        offer = self.offer

        def answer(yes: bool | None) -> None:
            if yes:
                self.attempt(ops.archive_offer, offer.id, self.client, actor=self.actor,
                             done=f"{offer.plenigo_offer_id} archived")

        self.app.push_screen(ConfirmModal("Archive offer", f"Archive {offer.plenigo_offer_id} "
                                          f"{offer.internal_title}? It can no longer be added to baskets or "
                                          "sold; existing subscriptions stay.", danger=True), answer)


class TargetsField(Vertical):
    """Cross-client checkbox and the targets to share with (space toggles a target)."""

    def __init__(self, client, offer: Offer | None):
        super().__init__(id="f-targets", classes="field")
        self.client = client
        self.offer = offer

    def compose(self) -> ComposeResult:
        current = {t.id for t in ops.shared_targets(self.offer)} if self.offer else set()
        yield Checkbox("Cross-client offer (shared with connected targets)",
                       bool(self.offer and self.offer.cross_client), id="cross-client")
        yield Label("Share with (ACTIVE outgoing connections with access to offers; space toggles)")
        candidates = share_candidates(self.client)
        yield SelectionList(*[(display.plain(f"{t.name} ({t.company_id})"), t.company_id, t.id in current)
                              for t in candidates], id="share-targets")
        if not candidates:
            yield Label("No target yet: an ACTIVE connection with access to offers is needed.", classes="hint")

    @property
    def cross_client(self) -> bool:
        return self.query_one("#cross-client", Checkbox).value

    @property
    def targets(self) -> list[str]:
        return list(self.query_one(SelectionList).selected)


class OfferForm(FormModal):
    """Create an offer (with its sharing) or edit an own offer's fields."""

    def __init__(self, offer: Offer | None):
        super().__init__()
        self.offer = offer
        self.TITLE = "New offer" if offer is None else f"Edit offer {offer.plenigo_offer_id}"

    def fields(self) -> ComposeResult:
        o = self.offer
        yield FormField("Internal title", "internalTitle", value=o.internal_title if o else "",
                        rules=[Rule(lambda k, v: k.required("internalTitle", v))])
        yield FormField("Public title (shown to buyers)", "publicTitle", value=o.public_title if o else "",
                        rules=[Rule(lambda k, v: k.required("publicTitle", v))])
        yield FormField("Price", "price", value=f"{o.price:.2f}" if o else "", placeholder="9.99",
                        rules=[Rule(lambda k, v: k.price("price", v))])
        yield FormField("Currency (ISO 4217)", "currency", value=o.currency if o else "EUR", max_length=3,
                        rules=[Rule(lambda k, v: k.currency("currency", v))])
        yield FormField("Term (number of units)", "term", value=str(o.term) if o else "1",
                        rules=[Rule(lambda k, v: k.positive_int("term", v, 120))])
        with Vertical(id="f-termUnit", classes="field"):
            yield Label("Term unit")
            yield Select([(u.lower(), u) for u in TERM_UNITS], value=o.term_unit if o else "MONTH",
                         allow_blank=False, id="term-unit")
        if o is None:
            yield TargetsField(self.app.client, None)

    def save(self) -> Offer:
        app = self.app
        values = dict(internal_title=self.value("internalTitle"), public_title=self.value("publicTitle"),
                      price=self.value("price"), currency=self.value("currency"), term=self.value("term"),
                      term_unit=self.query_one("#term-unit", Select).value)
        if self.offer is None:
            targets = self.query_one(TargetsField)
            offer = ops.create_offer(app.client, cross_client=targets.cross_client,
                                     share_with=targets.targets if targets.cross_client else [],
                                     actor=app.actor, **values)
        else:
            offer = ops.update_offer(self.offer.id, app.client, actor=app.actor, **values)
        app.data_changed()
        return offer


class ShareForm(FormModal):
    """Mark an own offer cross-client and choose the targets it is shared with."""

    def __init__(self, offer: Offer):
        super().__init__()
        self.offer = offer
        self.TITLE = f"Share {offer.plenigo_offer_id} {offer.internal_title}"

    def fields(self) -> ComposeResult:
        yield TargetsField(self.app.client, self.offer)

    def on_mount(self) -> None:
        self.query_one("#cross-client").focus()

    def save(self) -> Offer:
        targets = self.query_one(TargetsField)
        offer = ops.set_cross_client(self.offer.id, self.app.client, targets.cross_client,
                                     targets.targets, actor=self.app.actor)
        self.app.data_changed()
        return offer
