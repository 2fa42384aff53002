"""The envelope parser (infra/cloudevents.py) under mutations of the CloudEvents
conformance files (issue 5). tests/contract/test_cloudevents_conformance.py runs each
file's cases; here each of their events is mutated (and batched), and the parser must either
return it, stricter than the spec's JSON schema (whatever it accepts, the schema
accepts), or raise `InvalidCloudEvent` with a reason. Never another exception.

Examples (CI profile): 2,000 mutated events + 500 batches of them = 2,500.
"""

from __future__ import annotations

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
SHARED = ROOT.parent / "shared" / "data" / "cloudevents"  # the team's copy, beside the repo
SCHEMA = json.loads((FIXTURES / "cloudevents.schema.json").read_text())
VALIDATOR = Draft7Validator(SCHEMA, format_checker=Draft7Validator.FORMAT_CHECKER)


def _cases(name: str, key: str) -> list:
    return [case[key] for case in json.loads((FIXTURES / name).read_text())["tests"]]


EVENTS = _cases("valid-events.json", "event") + _cases("invalid-events.json", "event")


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"no shared conformance files at {SHARED}")
@pytest.mark.parametrize("name", ["valid-events.json", "invalid-events.json",
                                  "valid-batches.json", "invalid-batches.json",
                                  "cloudevents.schema.json", "LICENSE"])
def test_the_fixtures_are_the_shared_conformance_files(name):
    assert (FIXTURES / name).read_bytes() == (SHARED / name).read_bytes()


def _parsed_or_reason(parse, data: bytes):
    try:
        return parse(data), None
    except InvalidCloudEvent as error:
        assert error.reason.strip()
        return None, error.reason


mutated_events = st.sampled_from(EVENTS).flatmap(
    lambda event: mutated(st.just(event if isinstance(event, dict) else {"event": event})))


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
