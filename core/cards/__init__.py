"""Model cards: hyperparameters and metrics read from Hugging Face model cards, and
their import into a study.

Import from the modules, or take these names from the wing itself (loaded on first use).
"""

from __future__ import annotations

from hptui.core import lazy_exports

_EXPORTS = {
    "CardRecord": "parse",
    "parse_cards": "parse",
    "parse_card": "parse",
    "card_info": "info",
    "import_cards": "importer",
    "ImportReport": "importer",
    "filter_cards": "importer",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
