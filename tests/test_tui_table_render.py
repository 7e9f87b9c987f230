"""PagedTable draws its body cells without Rich's generic layout; the result must be DataTable's own."""
from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.render import measure
from textual.widgets import DataTable

from storage.paging import Page
from tui import display
from tui.widgets.paged_table import Column, PagedTable

ROWS = [
    ("1", "plain ascii", display.status("ACTIVE"), "", "a[b]c [bold]not markup?[/bold]"),
    ("2", "much too long for its column of twelve cells", display.status("FAILED"), "ok", "x"),
    ("3", "Grüße, Ærø", Text("OK 204", style="bold green"), "  lead", "trailing   "),
    ("4", "漢字とかなの幅広い文字です", display.outcome(False, 503), "e\u0301", "emoji 🎉 wide"),
    ("5", "exactly12chr", Text.assemble(("two", "red"), " ", ("styles", "italic on blue")), None, "abc"),
    ("6", "tab\there", Text("right", justify="right"), "two\nlines", 4.5),
]


class Item:
    def __init__(self, n: int, values: tuple):
        self.id = n
        self.values = values


class TableApp(App):
    def compose(self) -> ComposeResult:
        yield PagedTable([Column("id", "Id", 3), Column("name", "Name", 12), Column("state", "State", 8),
                          Column("short", "S", 5), Column("auto", "Auto")],
                         lambda r: Page(items=[Item(i, row) for i, row in enumerate(ROWS)]),
                         lambda item: item.values, id="t")


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
async def test_every_cell_is_drawn_as_datatable_draws_it(theme):
    app = TableApp()
    async with app.run_test(size=(100, 20)) as pilot:
        app.theme = theme
        table = app.query_one(PagedTable)
        table.load()
        for _ in range(20):
            await pilot.pause()
            if table.page is not None:
                break
        assert table.row_count == len(ROWS)
        # Only the column without a width follows its content, and it is as wide as its widest cell.
        widths = [column.get_render_width(table) - 2 * table.cell_padding for column in table.ordered_columns]
        assert widths[:4] == [3, 12, 8, 5]
        widest = max(measure(app.console, cell, 1) for cell in [table.ordered_columns[4].label]
                     + [table._get_row_renderables(r).cells[4] for r in range(table.row_count)])
        assert widths[4] == widest == len("a[b]c [bold]not markup?[/bold]")  # a str cell is literal text
        assert table.virtual_size.width == sum(widths) + 2 * table.cell_padding * 5
        table.move_cursor(row=2)
        await pilot.pause()
        compared = drawn_by_datatable = 0
        original = DataTable._render_cell

        def counted(*args, **kwargs):
            nonlocal drawn_by_datatable
            drawn_by_datatable += 1
            return original(*args, **kwargs)
        for row in range(-1, table.row_count):
            for column, spec in enumerate(table.ordered_columns):
                width = spec.get_render_width(table)
                for cursor in (False, True):
                    for hover in (False, True):
                        for base in (table.rich_style, table.get_component_rich_style("datatable--even-row")):
                            table._cell_render_cache.clear()
                            DataTable._render_cell = counted
                            try:
                                ours = table._render_cell(row, column, base, width, cursor, hover)
                            finally:
                                DataTable._render_cell = original
                            table._cell_render_cache.clear()
                            theirs = DataTable._render_cell(table, row, column, base, width, cursor, hover)
                            assert ours == theirs, (row, column, cursor, hover)
                            compared += 1
        assert compared == (len(ROWS) + 1) * 5 * 8
        # Left to DataTable: the header row, the tab and the right-aligned text (of "two\nlines" a
        # one-line row keeps the first line, which is drawn directly).
        assert drawn_by_datatable == (5 + 2) * 8


async def test_stretch_column_fits_the_terminal(sqlite_db):
    """The e-mail column of the customer list takes a wide terminal's spare width, gives width
    back on a narrower one so the whole table fits, and keeps its own width where nothing fits."""
    from textual.widgets.data_table import ColumnKey

    from storage.customers import create_customer
    from tests import world
    from tests.tui_support import backoffice, keys, settle, table

    w = world.companies()
    create_customer(w.north, email="a.very.long.address.of.a.reader@nordpost-leser.example")
    app = backoffice(world.SOURCE_ID)
    async with app.run_test(size=(200, 30)) as pilot:
        await settle(pilot)
        await keys(pilot, "4")
        customers = table(pilot, "#customers")
        email = customers.columns[ColumnKey("email")]

        def spare() -> int:  # the table's width left over after all columns (a scrollbar's kept free)
            used = sum(column.get_render_width(customers) for column in customers.ordered_columns)
            return customers.size.width - customers.styles.scrollbar_size_vertical - used

        assert email.width > 36 and spare() == 0
        assert "a.very.long.address.of.a.reader@nordpost-leser.example" in [
            cell.plain for cell in customers.get_row_at(0)]
        await pilot.resize_terminal(110, 30)
        await settle(pilot)
        assert 16 <= email.width < 36 and spare() == 0  # narrower, and nothing scrolls sideways
        await pilot.resize_terminal(80, 30)
        await settle(pilot)
        assert email.width == 36 and spare() < 0  # too narrow for all columns: it scrolls, at full width
        await pilot.resize_terminal(200, 30)
        await settle(pilot)
        assert email.width > 36 and spare() == 0
