"""A text field whose editing keys act in the order they were typed.

Textual runs a focused Input's own key bindings (ctrl+u: delete to the start, backspace,
ctrl+w, ...) only after the key has bubbled up to the app, while typed characters go in at
once: in a real terminal, `ctrl+u` followed quickly by `2e-5` inserted `2e-5` first and then
deleted it with everything else left of the cursor. This field runs its editing bindings
when the key arrives, in order with the characters around it.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class FormInput(Input):
    """An Input whose own bindings (editing keys) run in typing order."""

    async def _on_key(self, event: events.Key) -> None:
        bindings = self._bindings.key_to_bindings.get(event.key, ())
        own = [b for b in bindings if not b.priority]
        if own and not event.is_printable:
            event.stop()
            event.prevent_default()
            await self.run_action(own[0].action)
            return
        await super()._on_key(event)
