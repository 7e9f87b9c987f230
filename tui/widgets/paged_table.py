"""A DataTable that shows one keyset page at a time, fetched by a thread worker.

The table never holds a whole database table: it asks its `fetch` function for a page after or
before a key (storage's keyset paging), fills itself by row key inside `batch_update()`, and keeps
the cursor on the same row when the page is refreshed. `>`/`<` (and page-down on the last row,
page-up on the first) move between pages. A `/` filter is passed to `fetch` when the storage query
can search; otherwise (`local_filter=True`) it narrows the rows of the loaded page.
"""
from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.render import measure
from textual.widget import Widget
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from tui import display
from tui.messages import PageLoaded

# Every list reads through this one long-lived thread: its database connection (and SQLite's page
# cache and parsed schema with it) stays warm, where a new thread per page would open a cold one.
READS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crossclient-reads")
STRETCH_MIN = 16  # the narrowest a stretching column gets on a narrow terminal


@functools.lru_cache(maxsize=8192)
def _cell_meta(row: int, column: int) -> Style:
    """The style that tells a mouse click which cell it hit (as DataTable makes it; built once)."""
    return Style.from_meta({"row": row, "column": column})


@dataclass(frozen=True)
class Column:
    """A list column. `stretch`: it takes the width the table has to spare, so the column that is
    most often cut off (an e-mail, an error) shows in full on a wide terminal; on a narrow one it
    gives up width (down to `STRETCH_MIN`) if that keeps the table from scrolling sideways."""

    key: str
    label: str
    width: int | None = None
    stretch: bool = False


@dataclass(frozen=True)
class PageRequest:
    """What the table asks for: a page after or before a key, with the filter text."""

    after: Any = None
    before: Any = None
    limit: int = 50
    text: str = ""


class PagedTable(DataTable):
    """One keyset page of rows; `selected` is the domain object under the cursor."""

    DEFAULT_CSS = """
    PagedTable { height: 1fr; border: round $primary-darken-2; }
    PagedTable:focus { border: round $accent; }
    """

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="list.down", tooltip="Next row"),
        Binding("k", "cursor_up", "Up", show=False, id="list.up", tooltip="Previous row"),
        Binding("g", "scroll_top", "Top", show=False, id="list.top", tooltip="First row of the page"),
        Binding("G", "scroll_bottom", "Bottom", show=False, id="list.bottom",
                tooltip="Last row of the page"),
        Binding("greater_than_sign", "next_page", "Next page", id="list.next_page",
                tooltip="Load the next page of rows"),
        Binding("less_than_sign", "previous_page", "Prev page", id="list.previous_page",
                tooltip="Load the previous page of rows"),
        Binding("pagedown", "page_down_or_next", "Page down", show=False, id="list.page_down",
                tooltip="Scroll down; on the last row, load the next page"),
        Binding("pageup", "page_up_or_previous", "Page up", show=False, id="list.page_up",
                tooltip="Scroll up; on the first row, load the previous page"),
    ]

    def __init__(self, columns: list[Column], fetch: Callable[[PageRequest], Any],
                 cells: Callable[[Any], tuple], *, page_size: int = 50, local_filter: bool = False,
                 empty: str = "nothing here", id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.column_specs = columns
        self.fetch = fetch
        self.cells = cells
        self.page_size = page_size
        self.local_filter = local_filter
        self.empty = empty
        self.filter_text = ""
        self.page = None
        self.page_number = 1
        self.items: dict[str, Any] = {}
        self._request = PageRequest(limit=page_size)
        self._seq = 0
        self.loaded_seq = 0
        self._look: tuple | None = None
        self._drawing: tuple | None = None  # the settings cells are drawn with, during a repaint

    def _current_look(self) -> tuple:
        """Every style the rendered cells depend on: the table's and each component class's."""
        return (self.rich_style, self.cursor_foreground_priority, self.cursor_background_priority,
                self.show_cursor, self._show_hover_cursor,
                tuple(self.get_component_rich_style(name, default=Style.null())
                      for name in sorted(self.COMPONENT_CLASSES)))

    def notify_style_update(self) -> None:
        """Keep the rendered rows when a restyle leaves the table looking the same.

        Textual restyles every widget of a screen each time the screen is shown again, and a
        DataTable answers every restyle by dropping all its rendered cells, so switching screens
        rendered every visible cell again. The rows are dropped only when a style they are drawn
        with changed (focus, theme, CSS); otherwise only the border is redrawn.
        """
        Widget.notify_style_update(self)  # fresh style caches, so the look below is current
        look = self._current_look()
        if look == self._look:
            self.refresh()
            return
        self._look = look
        super().notify_style_update()

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False):
        """A body cell of one line of text, drawn directly; every other cell as DataTable draws it.

        DataTable renders each cell through Rich's generic layout (`Styled(Padding(text))` rendered
        into lines, twice cropped and padded), about a quarter of a millisecond a cell: a new page of
        50 rows took 100 ms to draw, more than fetching it. For the cells lists show (one line of
        plain or styled text, left-aligned, no tabs) this draws the same segments in a few steps:
        the text's segments cropped or padded to the column, the cell padding either side, the
        table's styles laid over them, cached under DataTable's own key.
        """
        # The table's settings, read once per repaint: reactive attributes cost a few microseconds
        # each, and a page asks for them for each of its few hundred cells.
        fixed_rows, fixed_columns, pad, show_cursor, fg_css, bg_css = self._drawing or self._drawing_settings()
        if row_index < 0 or column_index < 0 or fixed_rows or fixed_columns:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        cache_key = (row_key, column_key, base_style, cursor, hover, self._show_hover_cursor, self._update_count,
                     self._pseudo_class_state)
        lines = self._cell_render_cache.get(cache_key)
        if lines is not None:
            return lines
        row = self.rows.get(row_key)
        cell = self._get_row_renderables(row_index).cells[column_index] if row is not None else None
        if (row is None or row.height != 1 or width < 2 * pad or not isinstance(cell, Text)
                or cell.justify not in (None, "default") or "\n" in cell.plain or "\t" in cell.plain):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        base_style += _cell_meta(row_index, column_index)
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, show_cursor, self._show_hover_cursor, fg_css, bg_css)
        console = self.app.console
        if not cell.spans and not cell.style:
            segments = [Segment(cell.plain)]  # what Rich renders for unstyled text
        else:
            # As Rich's Text layout hands the line to render: joined, the cell's style a span.
            segments = list(Text("\n").join([cell]).render(console, end=""))
        blank = Style.null()
        line = Segment.adjust_line_length(segments, width - 2 * pad, style=blank)
        if pad:
            line = [Segment(" " * pad, blank), *line, Segment(" " * pad, blank)]
        lines = [list(Segment.apply_style(line, style=console.get_style(base_style + component_style),
                                          post_style=console.get_style(post_style)))]
        self._cell_render_cache[cache_key] = lines
        return lines

    def _drawing_settings(self) -> tuple:
        return (self.fixed_rows, self.fixed_columns, self.cell_padding, self.show_cursor,
                self.cursor_foreground_priority == "css", self.cursor_background_priority == "css")

    def render_lines(self, crop):
        self._drawing = self._drawing_settings()
        try:
            return super().render_lines(crop)
        finally:
            self._drawing = None

    def _get_row_style(self, row_index: int, base_style: Style) -> Style:
        """DataTable's row style, with the component styles looked up once per repaint.

        DataTable builds the zebra and header styles anew for every line it draws (a new styles
        object, merged, then its Rich style through the ancestors' backgrounds). They are kept in
        the widget's own Rich-style cache, which Textual clears on every repaint and restyle.
        """
        if row_index == -1:
            name = "datatable--header"
        elif row_index < self.fixed_rows:
            name = "datatable--fixed"
        elif self.zebra_stripes:
            name = "datatable--odd-row" if row_index % 2 else "datatable--even-row"
        else:
            return base_style
        key = ("paged-table row style", name)
        cached = self._rich_style_cache.get(key)
        if cached is None:
            style = self.get_component_styles(name).rich_style
            cached = self._rich_style_cache[key] = (style, style)
        return cached[0]

    def _update_dimensions(self, new_rows) -> None:
        """Measure the new rows' cells only for the columns whose width follows their content.

        DataTable measures every cell of every new row to widen its columns, but a column given a
        width never uses that measure: for the lists here (most columns fixed) that was a fifth of
        the time a new page took to show. Rows with a label or an automatic height are left to
        DataTable as they are.
        """
        new_rows = list(new_rows)
        console = self.app.console
        columns = self.ordered_columns
        auto = [index for index, column in enumerate(columns) if column.auto_width]
        for row_key in new_rows:
            row_index = self._row_locations.get(row_key)
            row = self.rows.get(row_key)
            if row_index is None or row is None:
                continue
            if row.label is not None or row.auto_height:
                super()._update_dimensions(new_rows)
                return
            if auto:
                cells = self._get_row_renderables(row_index).cells
                for index in auto:
                    if index < len(cells):
                        column = columns[index]
                        column.content_width = max(column.content_width, measure(console, cells[index], 1))
        super()._update_dimensions(())  # the virtual size from the column widths and row heights

    def on_mount(self) -> None:
        for column in self.column_specs:
            self.add_column(column.label, key=column.key, width=column.width)
        self.border_subtitle = "loading..."
        self._stretch()

    def on_resize(self) -> None:
        self._stretch()

    def _stretch(self) -> None:
        """Fit the stretching column to the table's width: wider on a wide terminal, narrower
        (down to `STRETCH_MIN`) on a narrow one where that makes the whole table fit.

        The width of a vertical scrollbar is always kept free, so that a page long enough to
        scroll does not push the last column out of view.
        """
        spec = next((column for column in self.column_specs if column.stretch), None)
        column = self.columns.get(ColumnKey(spec.key)) if spec is not None and spec.width else None
        if column is None:
            return
        space = self.outer_size.width - self.styles.gutter.width - self.styles.scrollbar_size_vertical
        others = sum(other.get_render_width(self) for other in self.ordered_columns if other is not column)
        fit = space - others - 2 * self.cell_padding
        # Narrower only if that brings the whole table into view; otherwise it scrolls sideways
        # anyway, and the column keeps its own width.
        width = fit if fit >= min(spec.width, STRETCH_MIN) else spec.width
        if width != column.width:
            column.width = width
            self._update_count += 1  # rows and cells drawn at the old width are stale
            self._require_update_dimensions = True  # the table's virtual width follows
            self.refresh()

    # -- loading -------------------------------------------------------------------------
    def load(self, *, after: Any = None, before: Any = None, first: bool = True) -> None:
        """Fetch a page in a thread worker; `first` resets the page counter."""
        text = "" if self.local_filter else self.filter_text
        self._request = PageRequest(after=after, before=before, limit=self.page_size, text=text)
        if first:
            self.page_number = 1
        self._seq += 1
        self._fetch(self._seq, self._request)

    def reload(self) -> None:
        """Fetch the page being shown again (after a change, or for a live list)."""
        self._seq += 1
        self._fetch(self._seq, self._request)

    @work(exclusive=True, group="page")
    async def _fetch(self, seq: int, request: PageRequest) -> None:
        from storage.errors import DomainError

        try:
            page = await asyncio.get_running_loop().run_in_executor(READS, self.fetch, request)
        except DomainError as exc:
            self.post_message(PageLoaded(seq, None, f"{exc.code}: {exc.message}"))
            return
        self.post_message(PageLoaded(seq, page))

    def on_page_loaded(self, message: PageLoaded) -> None:
        message.stop()
        if message.seq != self._seq:
            return  # an answer to a request that was replaced by a newer one
        self.loaded_seq = message.seq
        if message.error:
            self.border_subtitle = display.plain(message.error)
            self.app.notify(message.error, title="Could not load the list", severity="error", markup=False)
            return
        self.page = message.page
        self._fill()
        # The actions offered depend on the selected row, which a reload may have changed
        # (an invitation just accepted offers block instead of accept).
        self.screen.refresh_bindings()

    def _visible(self, item: Any, row: tuple) -> bool:
        if not (self.local_filter and self.filter_text):
            return True
        needle = self.filter_text.lower()
        return any(needle in (cell.plain if isinstance(cell, Text) else str(cell)).lower() for cell in row)

    def _fill(self) -> None:
        keep = self.selected_key
        rows = []
        for item in self.page.items:
            row = self.cells(item)
            if self._visible(item, row):
                # Cells hold user data: a str becomes literal text, never markup.
                rows.append((str(item.id), item, [display.cell(value) for value in row]))
        keys = [key for key, _, _ in rows]
        with self.app.batch_update():
            if keys == list(self.items):
                # Same rows as before: update cells in place, keep scroll and cursor.
                for key, item, row in rows:
                    self.items[key] = item
                    for column, value in zip(self.column_specs, row, strict=True):
                        self.update_cell(key, column.key, value)
            else:
                self.clear()
                self.items = {}
                for key, item, row in rows:
                    self.items[key] = item
                    self.add_row(*row, key=key)
                if keep in self.items:
                    self.move_cursor(row=self.get_row_index(keep))
        self._caption()

    def _caption(self) -> None:
        page = self.page
        if page is None:
            return
        if not self.items:
            text = self.empty if not self.filter_text else f"no rows match '{self.filter_text}'"
        else:
            text = f"page {self.page_number} · {len(self.items)} rows"
        arrows = ("< " if page.has_previous else "") + ("more >" if page.has_more else "")
        if self.filter_text:
            text += f" · filter '{self.filter_text}'"
        self.border_subtitle = display.plain(f"{text}  {arrows}".strip())  # the filter is typed text

    # -- selection -----------------------------------------------------------------------
    @property
    def selected_key(self) -> str | None:
        if not self.items or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        return self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value

    @property
    def selected(self) -> Any:
        key = self.selected_key
        return self.items.get(key) if key is not None else None

    # -- paging and filtering -------------------------------------------------------------
    def action_next_page(self) -> None:
        if self.page is not None and self.page.has_more and self.page.last_key is not None:
            self.page_number += 1
            self.load(after=self.page.last_key, first=False)
            self.move_cursor(row=0)

    def action_previous_page(self) -> None:
        if self.page is not None and self.page.has_previous and self.page.first_key is not None:
            self.page_number = max(1, self.page_number - 1)
            self.load(before=self.page.first_key, first=False)

    def action_page_down_or_next(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.action_next_page()
        else:
            self.action_page_down()

    def action_page_up_or_previous(self) -> None:
        if self.cursor_row <= 0:
            self.action_previous_page()
        else:
            self.action_page_up()

    def set_filter(self, text: str) -> None:
        """Filter the list: a new first page from storage, or the loaded rows narrowed."""
        self.filter_text = text.strip()
        if self.local_filter and self.page is not None:
            self._fill()
        else:
            self.load()
