"""What an event says to the world: its fields, with personal contact data masked.

Used for everything that leaves the store (the stream, `history`, `ticket`). A
`Received` event's personal data is opened with `reveal` (the infra's key lookup):
when its key is gone, or an erasure is recorded, it reads as erased
(domain.personal_data).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.masking import mask_customer, mask_name, mask_text
from domain.personal_data import shown

# Bookkeeping the envelope already carries (id, version, time) or that is internal.
_HIDDEN = frozenset(
    {
        "originator_id",
        "originator_version",
        "originator_topic",
        "timestamp",
        "prev",
        "number",
        "key_id",
        "sealed",
    }
)

# (key_id, sealed) -> the sealed fields, or None when the key no longer exists.
Reveal = Callable[[str, str], dict | None]


def no_keys(key_id: str, sealed: str) -> dict | None:
    return None


def event_name(event: Any) -> str:
    return type(event).__name__


def event_data(
    event: Any, reveal: Reveal = no_keys, erased: bool = False, names: bool = False
) -> dict[str, Any]:
    """`erased`: an erasure of this ticket's personal data is recorded (a reader that
    knows it hides even what an event recorded in the clear before sealing existed).
    `names`: mask the customer's name and company too (the event stream does: its
    readers include analytics; the `ticket` and `history` queries show them to the roles
    that work the ticket)."""
    fields = vars(event)
    data = {k: v for k, v in fields.items() if k not in _HIDDEN}
    if event_name(event) == "Received":
        sealed = fields.get("sealed")
        opened = reveal(fields["key_id"], sealed) if sealed is not None and not erased else None
        data.update(shown(fields, opened, erased))
        if names:  # phone and e-mail are masked already
            customer = data["customer"]
            data["customer"] = {
                **customer,
                "name": mask_name(customer.get("name")),
                "company": mask_name(customer.get("company")),
            }
    elif "customer" in data:
        data["customer"] = mask_customer(data["customer"], names=names)
    for key in ("note", "comment", "resolution", "next_step", "reason"):
        if isinstance(data.get(key), str):
            data[key] = mask_text(data[key])
    return data
