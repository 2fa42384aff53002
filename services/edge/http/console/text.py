"""How the console shows text someone typed: escaped by the templates (so markup stays
text), and with the Unicode controls that reorder text made visible.

A right-to-left override (U+202E) in a customer's name or note would otherwise turn
the text after it around ("Trojan source"): `invoice‮fdp.exe` reads as `invoiceexe.pdf`.
Such controls are shown as `[U+202E]` instead; the marks a right-to-left language
needs (U+200E, U+200F) are kept.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

REORDERING = {*range(0x202A, 0x202F), *range(0x2066, 0x206A)}  # embeddings, overrides, isolates
VISIBLE = {code: f"[U+{code:04X}]" for code in REORDERING}


def shown(value: Any) -> Any:
    """Every `{{ value }}` of a template passes here before it is escaped."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return value.translate(VISIBLE)
    return value
