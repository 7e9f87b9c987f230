"""Textual's Footer, rebuilt only when the keys it shows change.

Textual's Footer removes and mounts all its keys (a recompose, with restyling of every key) each
time a screen calls `refresh_bindings()`. The backoffice calls it on every cursor move, because
some actions depend on the selected row (accept only on an incoming invitation, and so on), and
Textual calls it on every focus change and screen switch. Most of those calls change nothing the
footer shows; rebuilding anyway cost tens of milliseconds per keystroke. This footer compares what
it would show (key, label, enabled, tooltip, in order) with what it shows and recomposes only when
they differ, so it looks and behaves exactly like Textual's.
"""
from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeysFooter(Footer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple | None = None

    def _keys(self) -> tuple:
        """Everything `Footer.compose` reads, as a comparable value."""
        app = self.app
        return (self.compact, self.show_command_palette, app.ENABLE_COMMAND_PALETTE,
                tuple((key, binding.key, app.get_key_display(binding), binding.description, binding.action,
                       binding.show, binding.group, enabled, tooltip)
                      for key, (_node, binding, enabled, tooltip) in self.screen.active_bindings.items()
                      if binding.show or key == app.COMMAND_PALETTE_BINDING))

    def compose(self):
        if self._bindings_ready:
            self._shown = self._keys()
        yield from super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self._recompose_if_changed)

    async def _recompose_if_changed(self) -> None:
        if self.is_attached and self._keys() != self._shown:
            await self.recompose()
