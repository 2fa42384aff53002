"""CloudEvents 1.0 structured-mode JSON envelopes (docs/contract.md, section "Events").

Building is on the relay's hot path: a plain dict and one C-accelerated JSON encoder. Parsing
checks the CloudEvents 1.0 spec and JSON format with our own code (jsonschema is test-only);
it is stricter than the spec's JSON schema, which misses conformance cases (tests/contract).
"""

from __future__ import annotations

import binascii
import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from uuid import UUID

SPECVERSION = "1.0"
SOURCE = "ticketflow/tickets"
DATACONTENTTYPE = "application/json"
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1  # the spec's Integer range


class InvalidCloudEvent(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- building ---------------------------------------------------------------------------
_PASCAL = re.compile(r"[A-Z][A-Za-z0-9]*", re.ASCII)
_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SUBJECT_TOKEN = re.compile(r"[^.*>\s]+")  # one NATS subject token


def _pascal(event_name: str) -> str:
    if not isinstance(event_name, str) or not _PASCAL.fullmatch(event_name):
        raise ValueError(f"event name must be PascalCase, got {event_name!r}")
    return event_name


@lru_cache(maxsize=512)
def event_type(event_name: str, schema_version: int = 1, kind: str = "ticket") -> str:
    """`ProgressUpdated` -> `ticketflow.ticket.progress_updated.v1`; a problem's event
    (`kind="problem"`): `ProblemOpened` -> `ticketflow.problem.problem_opened.v1`."""
    if type(schema_version) is not int or schema_version < 1:
        raise ValueError(f"schema_version must be an int >= 1, got {schema_version!r}")
    snake = _WORD_START.sub("_", _pascal(event_name)).lower()
    return f"ticketflow.{kind}.{snake}.v{schema_version}"


def event_subject(event_name: str, ticket_id: str) -> str:
    """NATS subject `tickets.events.<EventName>.<ticket_id>`."""
    if not isinstance(ticket_id, str) or not _SUBJECT_TOKEN.fullmatch(ticket_id):
        raise ValueError(f"ticket_id is not a single subject token: {ticket_id!r}")
    return f"tickets.events.{_pascal(event_name)}.{ticket_id}"


def _utc_z(dt: datetime) -> str:
    """RFC 3339 in UTC with `Z` and microseconds; naive datetimes are refused."""
    offset = dt.utcoffset()
    if offset is None:
        raise ValueError(f"naive datetime has no time zone: {dt!r}")
    if offset:
        dt = dt.astimezone(UTC)
    return dt.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _json_default(o: Any) -> Any:
    if isinstance(o, datetime):  # before `date`: a datetime is a date
        return _utc_z(o)
    if isinstance(o, date):
        return o.isoformat()
    if isinstance(o, UUID):
        return str(o)
    if isinstance(o, Decimal) and o.is_finite():  # a string keeps every digit
        return str(o)
    raise TypeError(f"{o!r} ({type(o).__name__}) in event data is not JSON serializable")


_encode = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default
).encode


def build_envelope(
    *,
    event_name: str,
    ticket_id: str,
    version: int,
    time: datetime,
    number: str | None,
    sequence: int,
    data: dict,
    schema_version: int = 1,
    kind: str = "ticket",
    digest: str | None = None,
) -> bytes:
    """Structured-mode JSON bytes, members in docs/contract.md's order. No `ticketnumber` member
    when `number` is None (a JSON null would mean "unset" anyway). `digest`: the event's
    link in its aggregate's hash chain (`chaindigest`), the witness of the store's tail."""
    if isinstance(ticket_id, UUID):
        ticket_id = str(ticket_id)
    ok = isinstance(ticket_id, str) and ticket_id and type(version) is int and version >= 1
    # an Integer attribute must fit in 32 bits
    ok = ok and type(sequence) is int and 0 <= sequence <= INT32_MAX and isinstance(data, dict)
    if not ok or not (number is None or (isinstance(number, str) and number)):
        raise ValueError(
            f"cannot build event: ticket_id={ticket_id!r} version={version!r} "
            f"sequence={sequence!r} number={number!r} data={type(data).__name__}"
        )
    envelope: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": f"{ticket_id}:{version}",
        "source": SOURCE,
        "type": event_type(event_name, schema_version, kind),
        "subject": ticket_id,
        "time": _utc_z(time),
        "datacontenttype": DATACONTENTTYPE,
    }
    if number is not None:
        envelope["ticketnumber"] = number
    envelope["sequence"] = sequence
    if digest is not None:
        envelope["chaindigest"] = digest
    envelope["data"] = data
    return _encode(envelope).encode("utf-8")


# --- parsing ----------------------------------------------------------------------------
_NAME = re.compile(r"[a-z0-9]+", re.ASCII)  # a MUST; "at most 20 characters" is a SHOULD
# Spec type String: no C0/C1 controls, no Unicode noncharacters, no unpaired surrogates
# (json.loads joins a proper pair into one code point, so any surrogate left is unpaired).
_NONCHARS = "".join(rf"\U{p:04X}FFFE\U{p:04X}FFFF" for p in range(1, 17))
_BAD_CHAR = re.compile(rf"[\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\ud800-\udfff{_NONCHARS}]")
_TIME = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.\d+)?(?:[Zz]|[+-](\d\d):(\d\d))", re.ASCII
)
_TOKEN = r"[!#$%&'*+.^_`{|}~0-9A-Za-z-]+"  # RFC 2045 token
_QUOTED = r'"(?:[^"\\\r\n]|\\.)*"'
_MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))*")
_URI_PARTS = re.compile(r"(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?", re.S)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*", re.ASCII)
_CHARS = r"A-Za-z0-9\-._~!$&'()*+,;=:@"  # unreserved, sub-delims, ":" and "@" (RFC 3986)
_AUTHORITY = re.compile(rf"(?:[{_CHARS}\[\]]|%[0-9A-Fa-f]{{2}})*", re.ASCII)
_PATH = re.compile(rf"(?:[{_CHARS}/]|%[0-9A-Fa-f]{{2}})*", re.ASCII)
_QUERY = re.compile(rf"(?:[{_CHARS}/?]|%[0-9A-Fa-f]{{2}})*", re.ASCII)


def _string(name: str, value: Any, *, empty_ok: bool = False) -> None:
    if not isinstance(value, str):
        raise InvalidCloudEvent(f"{name} must be a string, got {type(value).__name__}")
    if not value and not empty_ok:
        raise InvalidCloudEvent(f"{name} must not be empty")
    if bad := _BAD_CHAR.search(value):
        raise InvalidCloudEvent(f"{name} contains disallowed character U+{ord(bad[0]):04X}")


def _timestamp(name: str, value: Any) -> None:
    _string(name, value)
    if m := _TIME.fullmatch(value):
        y, mo, d, h, mi, s = map(int, m.groups()[:6])
        feb = 29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28
        days = (31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
        offset_ok = m[7] is None or (int(m[7]) <= 23 and int(m[8]) <= 59)
        clock_ok = h <= 23 and mi <= 59 and s <= 60  # second 60: a leap second
        if offset_ok and clock_ok and 1 <= mo <= 12 and 1 <= d <= days[mo - 1]:
            return
    raise InvalidCloudEvent(f"{name} is not an RFC 3339 date-time: {value!r}")


def _uri(name: str, value: Any, *, absolute: bool = False) -> None:
    _string(name, value)
    scheme, authority, path, query, fragment = _URI_PARTS.fullmatch(value).groups()  # type: ignore[union-attr]
    if not (
        (scheme is None or _SCHEME.fullmatch(scheme))
        and (authority is None or _AUTHORITY.fullmatch(authority))
        and _PATH.fullmatch(path)
        and all(part is None or _QUERY.fullmatch(part) for part in (query, fragment))
        and not (absolute and (scheme is None or fragment is not None))
    ):
        kind = "an absolute URI (RFC 3986 4.3)" if absolute else "a URI-reference (RFC 3986)"
        raise InvalidCloudEvent(f"{name} is not {kind}: {value!r}")


def _absolute_uri(name: str, value: Any) -> None:
    _uri(name, value, absolute=True)


def _media_type(name: str, value: Any) -> None:
    _string(name, value)
    if not _MEDIA_TYPE.fullmatch(value):
        raise InvalidCloudEvent(f"{name} is not an RFC 2046 media type: {value!r}")


def _extension(name: str, value: Any) -> None:
    """JSON format: an extension's value is a string, a boolean or a 32-bit integer."""
    if isinstance(value, str):
        _string(f"extension {name}", value, empty_ok=True)
    elif isinstance(value, int) and not isinstance(value, bool):
        if not INT32_MIN <= value <= INT32_MAX:
            raise InvalidCloudEvent(f"extension {name}: integer {value} exceeds 32 bits")
    elif not isinstance(value, bool):
        what = f"number {value!r}" if isinstance(value, float) else type(value).__name__
        raise InvalidCloudEvent(f"extension {name} must be string/integer/boolean, got {what}")


_Check = Callable[[str, Any], None]
_CORE: dict[str, _Check] = {"id": _string, "type": _string, "subject": _string, "source": _uri}
_CORE |= {"time": _timestamp, "datacontenttype": _media_type, "dataschema": _absolute_uri}


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        dupes = [key for key, n in Counter(key for key, _ in pairs).items() if n > 1]
        raise InvalidCloudEvent(f"duplicate JSON member(s): {', '.join(map(repr, dupes))}")
    return obj


def _no_constant(token: str) -> Any:
    raise InvalidCloudEvent(f"{token} is not valid JSON")


def _loads(raw: bytes | bytearray | str) -> Any:
    try:
        text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8")
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except InvalidCloudEvent:
        raise
    except (ValueError, TypeError, RecursionError) as e:  # incl. JSON and UTF-8 decode errors
        raise InvalidCloudEvent(f"not valid UTF-8 JSON: {e}") from None


def _check(event: Any) -> dict:
    if not isinstance(event, dict):
        raise InvalidCloudEvent(f"an event must be a JSON object, got {type(event).__name__}")
    for required in ("specversion", "id", "source", "type"):
        if event.get(required) is None:  # null means unset
            raise InvalidCloudEvent(f"required attribute {required} is missing")
    if event["specversion"] != SPECVERSION:
        raise InvalidCloudEvent(f"specversion must be '1.0', got {event['specversion']!r}")
    for name, value in event.items():
        if name == "data" or (name == "data_base64" and value is None):
            continue  # data: any JSON value, null included
        if name == "data_base64":
            _string(name, value, empty_ok=True)
            try:
                binascii.a2b_base64(value, strict_mode=True)
            except ValueError:
                raise InvalidCloudEvent("data_base64 is not valid base64 (RFC 4648)") from None
            if "data" in event:
                raise InvalidCloudEvent("data and data_base64 are mutually exclusive")
        elif not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidCloudEvent(f"attribute name {name!r} is not lowercase a-z/0-9")
        elif value is not None and name != "specversion":
            _CORE.get(name, _extension)(name, value)
    return event


def parse_envelope(raw: bytes | str | dict) -> dict:
    """Validate one structured-mode event (JSON text, or a decoded dict) and return it as a
    dict (the very object when given a dict)."""
    return _check(raw if isinstance(raw, dict) else _loads(raw))


def parse_batch(raw: bytes | str | list) -> list[dict]:
    """Validate a JSON batch (`application/cloudevents-batch+json`): an array of events."""
    batch = raw if isinstance(raw, list) else _loads(raw)
    if not isinstance(batch, list):
        raise InvalidCloudEvent(f"a batch must be a JSON array, got {type(batch).__name__}")
    for i, event in enumerate(batch):
        try:
            _check(event)
        except InvalidCloudEvent as e:
            raise InvalidCloudEvent(f"batch[{i}]: {e.reason}") from None
    return batch
