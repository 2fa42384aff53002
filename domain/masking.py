"""Masking of personal contact data for everything that leaves the store.

Contact data is shown masked (`138****5678`, `z***@example.com`), also
where it occurs inside the request's own words.
"""

import re

# Bounded as addresses are (RFC 5321: a local part of at most 64 characters, a domain of
# at most 255): unbounded, every position of a long run of letters rescanned the rest of
# the run, and 64 KiB of "x" took a minute to mask (tests/fuzz).
_EMAIL = re.compile(
    r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{0,63}(@[A-Za-z0-9.-]{1,252}\.[A-Za-z]{2,63})"
)
# Phone-shaped digit groups (`13812345678`, `138-1234-5678`, `+86 138 1234 5678`,
# `010-12345678`); dates like `2026-11-24` do not match. Over-masking an order
# number is the safe side of the trade.
_PHONE = re.compile(
    r"(?<![\dA-Za-z])((?:\+?\d{1,4}[- ]?)?(?:\d{2,4}[- ]?)?\d{3,4}[- ]?\d{4})(?![\dA-Za-z])"
)


def mask_phone(phone: str | None) -> str | None:
    """`13812345678` -> `138****5678`: keep the first 3 and last 4 digits."""
    if not phone:
        return phone
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_email(email: str | None) -> str | None:
    """`zhang@example.com` -> `z***@example.com`."""
    if not email:
        return email
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_text(text: str) -> str:
    """Mask e-mail addresses and phone-like digit runs inside free text."""
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***{m.group(2)}", text)
    return _PHONE.sub(lambda m: _mask_digits(m.group(1)), text)


def _mask_digits(run: str) -> str:
    digits = re.sub(r"\D", "", run)
    return mask_phone(digits) or run


def mask_name(name: str | None) -> str | None:
    """`张女士` -> `张**`, `John Smith` -> `J*** S***`: the first letter of each word."""
    if not name:
        return name
    return " ".join(word[:1] + "*" * min(max(len(word) - 1, 1), 3) for word in name.split())


def mask_customer(customer: dict, names: bool = False) -> dict:
    """Phone and e-mail masked; with `names`, the name and the company too (what the
    event stream carries: its readers include analytics)."""
    masked = dict(customer)
    masked["phone"] = mask_phone(customer.get("phone"))
    masked["email"] = mask_email(customer.get("email"))
    if names:
        masked["name"] = mask_name(customer.get("name"))
        masked["company"] = mask_name(customer.get("company"))
    return masked
