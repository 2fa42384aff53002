"""What an event says to the world: its fields, with personal contact data masked.

Used for everything that leaves the store (the stream, `history`, `ticket`).
"""

from __future__ import annotations

from typing import Any

from domain.masking import mask_customer, mask_text

# Bookkeeping the envelope already carries (id, version, time) or that is internal.
_HIDDEN = frozenset({"originator_id", "originator_version", "originator_topic", "timestamp",
                     "prev", "number"})


def event_name(event: Any) -> str:
    return type(event).__name__


def event_data(event: Any) -> dict[str, Any]:
    data = {k: v for k, v in vars(event).items() if k not in _HIDDEN}
    if "customer" in data:
        data["customer"] = mask_customer(data["customer"])
    for key in ("content", "subject", "note", "comment", "resolution", "next_step", "reason"):
        if isinstance(data.get(key), str):
            data[key] = mask_text(data[key])
    return data
