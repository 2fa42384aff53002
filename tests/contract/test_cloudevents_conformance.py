"""CloudEvents 1.0 conformance of infra/cloudevents.py (docs/contract.md, section "Events").

Fixtures: the CloudEvents spec's JSON schema and the cloudevents/conformance format tests
(Apache-2.0, see tests/fixtures/cloudevents/LICENSE). Our parser must reject every invalid
case, including those the bare JSON schema lets through.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import rfc3339_validator  # noqa: F401  (makes jsonschema check format "date-time")
from jsonschema import Draft7Validator

from infra.cloudevents import (
    INT32_MAX,
    SOURCE,
    SPECVERSION,
    InvalidCloudEvent,
    build_envelope,
    event_subject,
    event_type,
    parse_batch,
    parse_envelope,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "cloudevents"
SCHEMA = json.loads((FIXTURES / "cloudevents.schema.json").read_text())
VALIDATOR = Draft7Validator(SCHEMA, format_checker=Draft7Validator.FORMAT_CHECKER)

# The invalid conformance cases the bare schema (with rfc3339-validator) accepts.
SCHEMA_MISSES = {
    "invalidUnknownSpecVersion",
    "invalidNonRfc2046DataContentType",
    "invalidCapitalizedExtension",
    "invalidPunctuatedExtension",
    "invalidNonIntegerExtensionValue",
    "invalidBothDataAndDataBase64",
    "invalidBatchMixedSpecVersions",
}


def _load(name: str) -> list[dict]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["tests"]


def _params(name: str, key: str) -> list:
    return [pytest.param(case[key], id=case["id"]) for case in _load(name)]


VALID_EVENTS = _params("valid-events.json", "event")
INVALID_EVENTS = _params("invalid-events.json", "event")
VALID_BATCHES = _params("valid-batches.json", "batch")
INVALID_BATCHES = _params("invalid-batches.json", "batch")


def _schema_accepts(events: list) -> bool:
    return all(VALIDATOR.is_valid(event) for event in events)


def test_conformance_files_are_all_there() -> None:
    counts = [len(p) for p in (VALID_EVENTS, INVALID_EVENTS, VALID_BATCHES, INVALID_BATCHES)]
    assert counts == [10, 25, 5, 3]


def test_runtime_schema_copy_matches_fixture_and_keeps_its_license() -> None:
    runtime = ROOT / "infra" / "cloudevents.schema.json"
    assert runtime.read_bytes() == (FIXTURES / "cloudevents.schema.json").read_bytes()
    license_text = (ROOT / "infra" / "cloudevents.schema.LICENSE").read_bytes()
    assert license_text == (FIXTURES / "LICENSE").read_bytes()
    assert b"Apache License" in license_text


def test_schema_checks_rfc3339_times() -> None:
    assert "date-time" in Draft7Validator.FORMAT_CHECKER.checkers
    assert not VALIDATOR.is_valid(
        {"specversion": "1.0", "id": "x", "source": "s", "type": "t", "time": "lunchtime"}
    )


# --- the conformance files -----------------------------------------------------------------
@pytest.mark.parametrize("event", VALID_EVENTS)
def test_valid_event_parses(event: dict) -> None:
    assert parse_envelope(event) == event
    assert parse_envelope(json.dumps(event)) == event
    assert parse_envelope(json.dumps(event).encode()) == event


@pytest.mark.parametrize("event", VALID_EVENTS)
def test_valid_event_passes_json_schema(event: dict) -> None:
    VALIDATOR.validate(event)


@pytest.mark.parametrize("event", INVALID_EVENTS)
def test_invalid_event_is_rejected(event: dict) -> None:
    with pytest.raises(InvalidCloudEvent) as raised:
        parse_envelope(event)
    assert raised.value.reason
    with pytest.raises(InvalidCloudEvent):
        parse_envelope(json.dumps(event).encode())


@pytest.mark.parametrize("batch", VALID_BATCHES)
def test_valid_batch_parses_and_passes_json_schema(batch: list) -> None:
    assert parse_batch(batch) == batch
    assert parse_batch(json.dumps(batch).encode()) == batch
    assert _schema_accepts(batch)


@pytest.mark.parametrize("batch", INVALID_BATCHES)
def test_invalid_batch_is_rejected(batch: list) -> None:
    with pytest.raises(InvalidCloudEvent, match=r"^batch\[\d+\]: "):
        parse_batch(batch)
    with pytest.raises(InvalidCloudEvent):
        parse_batch(json.dumps(batch))


def test_parser_rejects_what_the_bare_schema_misses() -> None:
    missed = {c["id"] for c in _load("invalid-events.json") if _schema_accepts([c["event"]])}
    missed |= {c["id"] for c in _load("invalid-batches.json") if _schema_accepts(c["batch"])}
    assert missed == SCHEMA_MISSES, "the schema's blind spots changed: update SCHEMA_MISSES"
    for case in _load("invalid-events.json"):
        if case["id"] in missed:
            with pytest.raises(InvalidCloudEvent):
                parse_envelope(case["event"])
    for case in _load("invalid-batches.json"):
        if case["id"] in missed:
            with pytest.raises(InvalidCloudEvent):
                parse_batch(case["batch"])


# --- beyond the conformance files ----------------------------------------------------------
BASE = {"specversion": "1.0", "id": "x", "source": "https://cloudevents.io", "type": "t"}

EXTRA_VALID = {
    "extensionNameLongerThan20": {"averyveryverylongextensionname": "SHOULD, not MUST"},
    "nullExtension": {"myext": None},
    "negativeInt32Extension": {"myext": -(2**31)},
    "emptyStringExtension": {"myext": ""},
    "mediaTypeWithParameters": {"datacontenttype": 'text/plain; charset="utf-8"'},
    "dataNull": {"data": None},
    "dataBase64NullWithData": {"data": {"a": 1}, "data_base64": None},
    "dataBase64Empty": {"data_base64": ""},
    "leapDay": {"time": "2024-02-29T00:00:00Z"},
    "lowercaseTAndZ": {"time": "2018-04-05t17:31:00z"},
    "urnSource": {"source": "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"},
    "percentEncodedSource": {"source": "/a%20b?q=1#frag"},
    "astralCharacter": {"subject": "\U0001f600"},
}

EXTRA_INVALID = {
    "nonIntegerExtensionValueWithValidName": {"myext": 1.5},
    "integralFloatExtensionValue": {"myext": 1.0},
    "objectExtensionValue": {"myext": {"a": 1}},
    "arrayExtensionValue": {"myext": [1]},
    "extensionBeyondInt32": {"myext": INT32_MAX + 1},
    "underscoreExtensionName": {"my_ext": "x"},
    "badBase64": {"data_base64": "not base64!"},
    "base64MissingPadding": {"data_base64": "TWE"},
    "dataNullWithBase64": {"data": None, "data_base64": "TWE="},
    "controlCharInSubject": {"subject": "a\nb"},
    "unpairedSurrogate": {"subject": "\udead"},
    "nonCharacter": {"myext": "\ufffe"},
    "relativeDataSchema": {"dataschema": "/schema.json"},
    "dataSchemaWithFragment": {"dataschema": "https://x.example/s.json#/a"},
    "sourceWithSpace": {"source": "a b"},
    "sourceBadPercent": {"source": "/a%zz"},
    "sourceColonInFirstSegment": {"source": "1-555:123"},
    "notALeapDay": {"time": "2023-02-29T00:00:00Z"},
    "hour24": {"time": "2018-04-05T24:00:00Z"},
    "mediaTypeTrailingSlash": {"datacontenttype": "text/"},
    "specversionNumber": {"specversion": 1.0},
    "requiredNull": {"id": None},
}


@pytest.mark.parametrize("extra", list(EXTRA_VALID.values()), ids=list(EXTRA_VALID))
def test_extra_valid_event(extra: dict) -> None:
    event = BASE | extra
    assert parse_envelope(event) is event
    VALIDATOR.validate(event)


@pytest.mark.parametrize("extra", list(EXTRA_INVALID.values()), ids=list(EXTRA_INVALID))
def test_extra_invalid_event(extra: dict) -> None:
    with pytest.raises(InvalidCloudEvent):
        parse_envelope(BASE | extra)


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"specversion": "1.0", "id": "x", "source": "s", "type": "t", "n": NaN}',
        b'{"specversion": "1.0", "id": "x", "id": "y", "source": "s", "type": "t"}',
        b'{"specversion": "1.0", "id": "\xff", "source": "s", "type": "t"}',
        b"[]",
    ],
    ids=["notJson", "nanLiteral", "duplicateMember", "notUtf8", "arrayNotObject"],
)
def test_bad_json_is_rejected(raw: bytes) -> None:
    with pytest.raises(InvalidCloudEvent):
        parse_envelope(raw)


def test_batch_must_be_an_array() -> None:
    with pytest.raises(InvalidCloudEvent, match="array"):
        parse_batch(json.dumps(BASE))


# --- our envelope --------------------------------------------------------------------------
EVENT_NAMES = [
    "Received",
    "Classified",
    "Assigned",
    "Acknowledged",
    "ProgressUpdated",
    "Escalated",
    "Closed",
    "Rated",
    "Reopened",
]
CONTRACT_ORDER = [
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "ticketnumber",
    "sequence",
    "data",
]


def _build(event_name: str, **overrides: object) -> tuple[bytes, str, uuid.UUID]:
    ticket_id, actor_id = str(uuid.uuid4()), uuid.uuid4()
    kwargs: dict = {
        "event_name": event_name,
        "ticket_id": ticket_id,
        "version": 7,
        "time": datetime(2026, 11, 24, 9, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8))),
        "number": "CS202611240001",
        "sequence": 1234,
        "data": {
            "actor": {"id": actor_id, "role": "agent"},
            "expected_done_at": datetime(2026, 11, 25, 18, 0, tzinfo=UTC),
            "day": date(2026, 11, 24),
            "amount": Decimal("12.50"),
            "content": "我的订单还没到 \u2014 ***",
        },
    }
    return build_envelope(**(kwargs | overrides)), ticket_id, actor_id


@pytest.mark.parametrize("event_name", EVENT_NAMES)
def test_built_event_passes_our_parser_and_the_schema(event_name: str) -> None:
    raw, ticket_id, actor_id = _build(event_name)
    event = parse_envelope(raw)
    VALIDATOR.validate(event)
    assert list(event) == CONTRACT_ORDER
    assert event["specversion"] == SPECVERSION
    assert event["source"] == SOURCE
    assert event["id"] == f"{ticket_id}:7"
    assert event["subject"] == ticket_id
    assert re.fullmatch(r"ticketflow\.ticket\.[a-z]+(_[a-z]+)*\.v1", event["type"])
    assert event["type"] == event_type(event_name)
    assert event["time"] == "2026-11-24T01:30:00.123456Z"
    assert event["datacontenttype"] == "application/json"
    assert event["ticketnumber"] == "CS202611240001"
    assert event["sequence"] == 1234
    assert event["data"]["actor"]["id"] == str(actor_id)
    assert event["data"]["expected_done_at"] == "2026-11-25T18:00:00.000000Z"
    assert event["data"]["day"] == "2026-11-24"
    assert event["data"]["amount"] == "12.50"
    compact = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    assert raw == compact


def test_event_type_and_subject() -> None:
    assert event_type("ProgressUpdated") == "ticketflow.ticket.progress_updated.v1"
    assert event_type("Received", 2) == "ticketflow.ticket.received.v2"
    assert event_type("SLABreached") == "ticketflow.ticket.sla_breached.v1"
    tid = "3f2c1a9e-0000-4000-8000-000000000001"
    assert event_subject("ProgressUpdated", tid) == f"tickets.events.ProgressUpdated.{tid}"


def test_built_event_without_number_has_no_ticketnumber() -> None:
    event = parse_envelope(_build("Received", number=None)[0])
    assert "ticketnumber" not in event
    VALIDATOR.validate(event)


@pytest.mark.parametrize(
    "overrides",
    [
        {"time": datetime(2026, 11, 24, 1, 30)},  # naive: which zone?
        {"sequence": INT32_MAX + 1},  # a CloudEvents Integer is 32-bit
        {"sequence": -1},
        {"version": 0},
        {"ticket_id": ""},
        {"event_name": "progress_updated"},
        {"number": ""},
        {"data": {"x": float("nan")}},
        {"data": {"x": object()}},
        {"data": {"x": datetime(2026, 1, 1)}},  # naive inside data, too
    ],
    ids=[
        "naiveTime",
        "sequenceBeyondInt32",
        "negativeSequence",
        "versionZero",
        "emptyTicketId",
        "snakeEventName",
        "emptyNumber",
        "nanInData",
        "objectInData",
        "naiveDatetimeInData",
    ],
)
def test_build_refuses_what_would_not_be_a_valid_event(overrides: dict) -> None:
    with pytest.raises((ValueError, TypeError)):
        _build("Received", **overrides)


@pytest.mark.parametrize("bad", ["a.b", "a*", ">", "a b", ""])
def test_event_subject_refuses_non_token_ticket_ids(bad: str) -> None:
    with pytest.raises(ValueError):
        event_subject("Received", bad)
