"""Personal data of a request: what is sealed under the customer's own key, what stays.

Personal data is purged on request or after the retention period; the
ticket's history, numbers and statistics stay. The contact fields (name, company,
phone, e-mail), the request's verbatim text and its attachments are sealed under a
key of the customer's own (`subject` `customer:<customer_id>`, else `ticket:<id>`).
Destroying that key makes them unreadable for good ("crypto-shredding").

What stays readable is the complaint record, which must be kept at least 3 years:
the pseudonymous `customer_id` (statistics and grouping need it), and the subject
and content masked as every reader already sees them. So the `ticket` and `history`
replies show the same text before and after an erasure; only the contact fields and
attachments read as erased.

Pure: sealing and opening (crypto, keys) are the infra's; this module only says
which fields go where and what a reader is shown.
"""

from __future__ import annotations

from typing import Any

from domain.masking import mask_customer, mask_text

CONTACT_FIELDS = ("name", "company", "phone", "email")


def key_subject(customer_id: str | None, ticket_id: object) -> str:
    """Whose key seals a ticket's personal data: the customer's, else the ticket's own."""
    return f"customer:{customer_id}" if customer_id else f"ticket:{ticket_id}"


def sealed_part(
    *, customer: dict, subject: str | None, content: str, attachments: list
) -> dict[str, Any]:
    """What goes under the customer's key: everything personal, verbatim."""
    return {
        "customer": customer,
        "subject": subject,
        "content": content,
        "attachments": attachments,
    }


def kept_part(*, customer: dict, subject: str | None, content: str) -> dict[str, Any]:
    """What the event keeps readable: the complaint record, masked."""
    return {
        "customer": {"customer_id": customer.get("customer_id")},
        "subject": subject and mask_text(subject),
        "content": mask_text(content),
        "attachments": [],
    }


def erased_customer(customer_id: str | None) -> dict[str, Any]:
    """The customer after an erasure: contact fields null, the pseudonymous id kept."""
    return {**dict.fromkeys(CONTACT_FIELDS), "customer_id": customer_id, "erased": True}


def shown(fields: dict[str, Any], opened: dict[str, Any] | None, erased: bool) -> dict[str, Any]:
    """`customer`, `subject`, `content`, `attachments` as a reader sees them, masked.

    `fields` are the stored ones (a sealed event keeps only its `kept_part`; an event
    recorded before sealing existed holds them in the clear). `opened` is the sealed
    part when its key still exists; `erased` says an erasure was recorded.
    """
    customer_id = (fields.get("customer") or {}).get("customer_id")
    source = opened if opened is not None and not erased else fields
    gone = erased or (fields.get("sealed") is not None and opened is None)
    if gone:
        return {
            "customer": erased_customer(customer_id),
            "subject": fields.get("subject") and mask_text(fields["subject"]),
            "content": mask_text(fields.get("content") or ""),
            "attachments": [],
        }
    customer = {
        **dict.fromkeys(CONTACT_FIELDS),
        "customer_id": customer_id,
        **(source.get("customer") or {}),
        "erased": False,
    }
    return {
        "customer": mask_customer(customer),
        "subject": source.get("subject") and mask_text(source["subject"]),
        "content": mask_text(source.get("content") or ""),
        "attachments": source.get("attachments") or [],
    }
