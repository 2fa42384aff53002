"""The envelope parser (infra/cloudevents.py) under mutations of the CloudEvents
conformance files. tests/contract/test_cloudevents_conformance.py runs each
file's cases; here each of their events is mutated (and batched), and the parser must either
return it, stricter than the spec's JSON schema (whatever it accepts, the schema
accepts), or raise `InvalidCloudEvent` with a reason. Never another exception.

Examples (CI profile): 2,000 mutated events + 500 batches of them = 2,500.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import rfc3339_validator  # noqa: F401  (makes jsonschema check format "date-time")
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from infra.cloudevents import InvalidCloudEvent, parse_batch, parse_envelope
from tests.fuzz.budget import examples
from tests.fuzz.strategies import mutated

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "cloudevents"
SCHEMA = json.loads((FIXTURES / "cloudevents.schema.json").read_text())
VALIDATOR = Draft7Validator(SCHEMA, format_checker=Draft7Validator.FORMAT_CHECKER)


def _cases(name: str, key: str) -> list:
    return [case[key] for case in json.loads((FIXTURES / name).read_text())["tests"]]


EVENTS = _cases("valid-events.json", "event") + _cases("invalid-events.json", "event")


# SHA-256 of the CloudEvents conformance files as they were copied into
# tests/fixtures/cloudevents (with their licence): a changed fixture fails here.
PINNED_SHA256 = {
    "valid-events.json": "e7f8924fe4dfe444a07fa11710cd6001b5955012d89ebe553dc4ee4a57ed7f5c",
    "invalid-events.json": "8700ea187c8525cb60dcb46d0c9bed61956884b77642e6e69c2663b7c32f11a3",
    "valid-batches.json": "48b9949b13d1a7e3d56d8d3a865d734a7acfe501ec4bb74b0024ccade59897b9",
    "invalid-batches.json": "f131bb04afc74023ae2496b86f4d60fd5f6c0ad926be9f372f0214861e906693",
    "cloudevents.schema.json": "e28a6d252d7b7238d176618f6bbf6cde570b26a867bc5241563aed34c9dd1d83",
    "LICENSE": "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4",
}


@pytest.mark.parametrize("name", sorted(PINNED_SHA256))
def test_the_fixtures_are_the_pinned_conformance_files(name):
    copied = (FIXTURES / name).read_bytes()
    assert hashlib.sha256(copied).hexdigest() == PINNED_SHA256[name]


def _parsed_or_reason(parse, data: bytes):
    try:
        return parse(data), None
    except InvalidCloudEvent as error:
        assert error.reason.strip()
        return None, error.reason


mutated_events = st.sampled_from(EVENTS).flatmap(
    lambda event: mutated(st.just(event if isinstance(event, dict) else {"event": event}))
)


@settings(max_examples=examples(2_000))
@given(data=mutated_events)
def test_a_mutated_conformance_event_parses_only_if_the_schema_accepts_it(data):
    """2,000 examples."""
    event, _ = _parsed_or_reason(parse_envelope, data)
    if event is not None:
        assert VALIDATOR.is_valid(event), event


@settings(max_examples=examples(500))
@given(data=st.lists(mutated_events, max_size=3).map(lambda items: b"[" + b",".join(items) + b"]"))
def test_a_mutated_conformance_batch_parses_only_if_the_schema_accepts_each_event(data):
    """500 examples."""
    batch, _ = _parsed_or_reason(parse_batch, data)
    if batch is not None:
        assert all(VALIDATOR.is_valid(event) for event in batch), batch
