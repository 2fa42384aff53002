"""A ticket's history as a person reads it, for `ticketflow replay`: pure functions.

In: the replies of the `history` and `ticket` queries (plain JSON values). Out: lines
of text, each with a style hint that a terminal may use for colour; the text alone
reads the same when piped. Times are shown in one time zone, the default policy's
(Asia/Shanghai) unless the caller names another, as `2026-11-24 10:32:28`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import NamedTuple
from uuid import UUID
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Shanghai"
NUMBER = re.compile(r"[A-Za-z]{0,10}\d{9,}")  # CS202611240001: prefix, date, sequence
QUOTE_AT = 60  # free text longer than this is cut with an ellipsis


class Line(NamedTuple):
    text: str
    style: str = ""  # a rich style ("bold red"); empty for none


# ---- input ---------------------------------------------------------------------------


def ticket_ref(text: str) -> dict[str, str]:
    """`{"ticket_id": ...}` for a UUID, `{"number": ...}` for a human number."""
    text = text.strip()
    try:
        return {"ticket_id": str(UUID(text))}
    except ValueError:
        pass
    if NUMBER.fullmatch(text):
        return {"number": text.upper()}
    raise ValueError(
        f"{text!r} is neither a ticket id (a UUID) nor a ticket number (like CS202611240001)"
    )


def as_of_point(text: str) -> int | datetime:
    """A version number (`5`) or an RFC 3339 time with its offset."""
    text = text.strip()
    if text.isdigit():
        if int(text) < 1:
            raise ValueError("versions count from 1")
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--as-of {text!r} is neither a version number nor an RFC 3339 "
            "time (like 2026-11-24T10:30:00+08:00)"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"--as-of {text!r} needs a time zone, e.g. {text}+08:00 or {text}Z")
    return moment


def events_until(events: list[dict], point: int | datetime | None) -> list[dict]:
    """The events up to a version or a moment (inclusive), as `ticket` with `as_of` sees them."""
    if point is None:
        return list(events)
    if isinstance(point, int):
        return [e for e in events if e["version"] <= point]
    kept = []
    for event in events:
        if event.get("time") and _instant(event["time"]) > point:
            break
        kept.append(event)
    return kept


# ---- small formats -------------------------------------------------------------------


def _instant(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def local_time(value: str | datetime | None, tz: ZoneInfo) -> str:
    if value is None:
        return "-"
    return _instant(value).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float) -> str:
    """`45s`, `12m 05s`, `1h 02m`, `3d 04h`."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def quote(text: str | None, limit: int = QUOTE_AT) -> str:
    flat = " ".join((text or "").split())
    return f'"{flat if len(flat) <= limit else flat[: limit - 1] + "…"}"'


def actor_label(actor: dict | None) -> str:
    if not actor:
        return "-"
    return f"{actor.get('id')} ({actor.get('role')})"


# ---- one event -----------------------------------------------------------------------


def _received(d: dict, tz: ZoneInfo, stored: str | None = None) -> str:
    customer = d.get("customer") or {}
    who = customer.get("name") or customer.get("company") or customer.get("customer_id")
    contact = [c for c in (customer.get("phone"), customer.get("email")) if c]
    text = f"Received via {d.get('channel')}"
    if who:
        text += f" from {who}"
    if contact:
        text += f" ({', '.join(contact)})"
    if customer.get("erased"):
        text += " (personal data erased)"
    alert = d.get("alert")
    if alert:
        ratio = alert.get("affected_ratio")
        share = f", {ratio:.0%} of users affected" if isinstance(ratio, int | float) else ""
        text += f" · alert {alert.get('kind')} from {alert.get('source')}{share}"
    if d.get("received_at") and stored and _late(d["received_at"], stored):
        text += f" · received {local_time(d['received_at'], tz)}"
    if d.get("attachments"):
        text += f" · {len(d['attachments'])} attachment(s)"
    body = f"{d['subject']} — {d.get('content')}" if d.get("subject") else d.get("content")
    return f"{text}: {quote(body)}"


def _late(received_at: str, stored: str) -> bool:
    """Did the request reach the service more than a minute after the customer sent it?"""
    return (_instant(stored) - _instant(received_at)).total_seconds() > 60


def _classified(d: dict, tz: ZoneInfo) -> str:
    text = f"Classified {d.get('type')} · {d.get('category')} · priority {d.get('priority')}"
    if d.get("impact") and d["impact"] != "individual":
        text += f" · impact {d['impact']}"
    return f"{text} ({d['reason']})" if d.get("reason") else text


def _impact(d: dict, tz: ZoneInfo) -> str:
    linked = d.get("linked") or []
    text = f"ImpactRaised to {d.get('impact')} · priority {d.get('priority')}"
    why = [str(d["reason"])] if d.get("reason") else []
    why += [f"linked to {len(linked)} ticket(s)"] if linked else []
    return f"{text} ({'; '.join(why)})" if why else text


def _assigned(d: dict, tz: ZoneInfo) -> str:
    helpers = d.get("collaborators") or []
    return f"Assigned to {d.get('assignee')}" + (f" with {', '.join(helpers)}" if helpers else "")


def _updated(d: dict, tz: ZoneInfo) -> str:
    text = f"ProgressUpdated [{d.get('visibility')}] {quote(d.get('note'))}"
    if d.get("next_step"):
        text += f" → next: {' '.join(d['next_step'].split())}"
    if d.get("expected_done_at"):
        text += f" · expected done {local_time(d['expected_done_at'], tz)}"
    if d.get("waiting_on_customer"):
        text += " · waiting on the customer"
    return text


def _escalated(d: dict, tz: ZoneInfo) -> str:
    target = f" ({d['target']})" if d.get("target") else ""
    return f"Escalated to {d.get('level')}: {d.get('reason')}{target}"


def _closed(d: dict, tz: ZoneInfo) -> str:
    seconds = d.get("handling_seconds")
    handled = f" (handled in {duration(seconds)})" if isinstance(seconds, int | float) else ""
    return f"Closed: {d.get('resolution')}{handled}"


def _rated(d: dict, tz: ZoneInfo) -> str:
    return f"Rated {d.get('score')}/5" + (f" {quote(d['comment'])}" if d.get("comment") else "")


def _replanned(d: dict, tz: ZoneInfo) -> str:
    """What a replan changed, target by target: `resolution 24h → 8h`."""
    old, changes = d.get("old") or {}, []
    for name, target in sorted((d.get("new") or {}).items()):
        before = (old.get(name) or {}).get("duration")
        after = target.get("duration")
        changes.append(f"{name} {before} → {after}" if before else f"{name} {after} (new)")
    changes += [f"{name} dropped" for name in d.get("dropped") or []]
    return f"SlaReplanned on policy {d.get('to_version')}: {', '.join(changes) or 'versions only'}"


SUMMARIES = {
    "Received": _received,
    "Classified": _classified,
    "Assigned": _assigned,
    "ImpactRaised": _impact,
    "Acknowledged": lambda d, tz: "Acknowledged",
    "ProgressUpdated": _updated,
    "Escalated": _escalated,
    "Closed": _closed,
    "Rated": _rated,
    "Reopened": lambda d, tz: f"Reopened: {d.get('reason')}",
    "SlaReplanned": _replanned,
    "PersonalDataErased": lambda d, tz: (
        f"Personal data erased ({d.get('basis')}): {d.get('reason')}"
    ),
}
STYLES = {
    "Received": "bold",
    "ImpactRaised": "yellow",
    "Escalated": "yellow",
    "Closed": "green",
    "Reopened": "magenta",
}


def summary(event: dict, tz: ZoneInfo) -> str:
    """One phrase for one event, starting with the event's name."""
    name, data = event.get("type"), event.get("data") or {}
    if name is None:
        return str(event.get("error") or "unreadable stored event")
    if name == "Received":
        return _received(data, tz, event.get("time"))
    if name in SUMMARIES:
        return SUMMARIES[name](data, tz)
    fields = ", ".join(f"{k}={v}" for k, v in data.items() if k != "sla")
    return f"{name} {fields}".strip()


def event_line(event: dict, tz: ZoneInfo) -> Line:
    when = f"{local_time(event.get('time'), tz):<19}"
    text = f"{when}  v{event.get('version', '?'):<3} {actor_label(event.get('actor')):<22} "
    style = "bold red" if event.get("type") is None else STYLES.get(event["type"], "")
    if event.get("type") == "Rated" and (event.get("data") or {}).get("score", 5) <= 2:
        style = "red"
    return Line(text + summary(event, tz), style)


# ---- the whole replay ----------------------------------------------------------------


def state_lines(ticket: dict, tz: ZoneInfo) -> list[Line]:
    t = ticket
    lines = [
        Line(
            f"State at version {t.get('version')} (last change "
            f"{local_time(t.get('updated_at'), tz)}):",
            "bold",
        ),
        Line(f"  status      {t.get('status')}"),
        Line(
            f"  assignee    {t.get('assignee') or '-'}"
            + (f" (with {', '.join(t['collaborators'])})" if t.get("collaborators") else "")
        ),
        Line(
            f"  priority    {t.get('priority')} · {t.get('type')} · {t.get('category')}"
            f" · impact {t.get('impact')}"
        ),
    ]
    if t.get("linked"):
        lines.append(Line(f"  linked      {len(t['linked'])} ticket(s) with the same problem"))
    if t.get("escalation_level"):
        lines.append(Line(f"  escalated   to {t['escalation_level']}", "yellow"))
    if t.get("score") is not None or t.get("reopen_count"):
        lines.append(
            Line(
                f"  rating      {t.get('score') or '-'}/5 · reopened "
                f"{t.get('reopen_count') or 0} time(s)"
            )
        )
    lines.append(Line("  SLA         target           state      due"))
    for name, target in (t.get("sla") or {}).items():
        state = target.get("state")
        met = f" (met {local_time(target['met_at'], tz)})" if target.get("met_at") else ""
        lines.append(
            Line(
                f"              {name:<16} {state:<10} {local_time(target.get('due'), tz)}{met}",
                _SLA_STYLES.get(state, ""),
            )
        )
    return lines


_SLA_STYLES = {"breached": "bold red", "at_risk": "yellow", "met": "green"}


def verified_line(verified: bool) -> Line:
    if verified:
        return Line("history verified: yes", "green")
    return Line("history verified: NO (tampered)", "bold red")


def render(
    history: dict, ticket: dict | str, tz: ZoneInfo, point: int | datetime | None = None
) -> list[Line]:
    """Header, one line per event up to `point`, the ticket's state then, verification.

    `ticket` is the `ticket` query's `ticket`, or why the state could not be had (a
    stored event that no longer decrypts cannot be replayed; its history still shows).
    """
    events = history.get("events") or []
    shown = events_until(events, point)
    about = ticket if isinstance(ticket, dict) else {"ticket_id": history.get("ticket_id")}
    number = f"{about['number']} " if about.get("number") else ""
    head = f"Ticket {number}({about.get('ticket_id')}) · times in {tz.key}"
    if point is not None:
        when = point if isinstance(point, int) else local_time(point, tz)
        head += f" · as of {'version ' if isinstance(point, int) else ''}{when}"
    lines = [Line(head, "bold")]
    lines += [event_line(e, tz) for e in shown]
    if len(shown) < len(events):
        lines.append(Line(f"({len(events) - len(shown)} later event(s) not shown)", "dim"))
    if isinstance(ticket, dict):
        state = state_lines(ticket, tz)
    else:
        state = [Line(f"State: cannot be replayed ({ticket})", "bold red")]
    tail = history.get("tail") or {}
    said = (
        [Line(f"  the last event: {tail['reason']}", "bold red")]
        if tail.get("verified") is False
        else []
    )
    return [*lines, Line(""), *state, *said, verified_line(bool(history.get("verified")))]


def zone(name: str) -> ZoneInfo:
    """The named IANA zone; `ValueError` for an unknown one."""
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r}: {error}") from None
