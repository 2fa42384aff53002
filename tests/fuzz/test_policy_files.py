"""Policy files under hostile edits: `load_policy(FILE)` either returns a policy
that works (its calendar computes due times, its classifier classifies, every SLA rule
plans) or raises `PolicyError` whose message names the file and the bad key. Never a
KeyError, TypeError, OverflowError, UnicodeDecodeError or RecursionError.

The documents start from the default policy (with a short rule list, as a team's file
would have; a file's list replaces the default one): keys deleted, retyped, set out of
range, unknown keys added, durations and dates and times garbled, then the TOML itself
broken. Examples: 2,000 edited documents + 600 broken TOML texts + 200 edits of the
whole default policy = 2,800 (CI profile); 11,200 with HYPOTHESIS_PROFILE=long.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import parse_duration
from domain.policy import Policy
from domain.sla import plan
from infra.policy_file import PolicyError, default_policy_text, load_policy
from tests.fuzz.budget import examples
from tests.fuzz.strategies import _delete, _paths, _set

DEFAULT = tomllib.loads(default_policy_text())
SHORT = {
    **DEFAULT,
    "classification": {
        **DEFAULT["classification"],
        "rules": [
            {**rule, "keywords": rule["keywords"][:4]}
            for rule in DEFAULT["classification"]["rules"][:3]
        ],
    },
}
START = dt.datetime(2026, 11, 24, 1, 30, tzinfo=dt.UTC)

toml_scalars = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=12),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.dates(),
    st.sampled_from([-1, 0, 1, 5, 101, 10**9, -0.5, 1.5, math.inf, math.nan, "", " "]),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
garbled = st.sampled_from(
    [
        "30",
        "m30",
        "1h1h",
        "-5m",
        "1.5h",
        "",
        "5 m",
        "99999999999999d",
        "3661d",
        "0s",
        "5wd",
        "1y",
        "25:00",
        "09:60",
        "9:00",
        "18:00",
        "Mon",
        "mon",
        "Funday",
        "CN",
        "XX",
        "",
        "Asia/Nowhere",
        "../../etc/passwd",
        "UTC",
        "Etc/GMT+14",
        "2026-02-30",
        "2026-13-01",
        "urgent",
        "URGENT",
        "wall",
        "business",
        "lunar",
        "auto",
        "manual",
        "A007",
        "a/b/c",
    ]
)


def toml_value(value: Any) -> str:
    """One value as TOML (tables inline): enough to write any document back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | dt.date):
        return str(value).lower() if isinstance(value, float) else str(value)
    if isinstance(value, str):  # JSON escapes are TOML's, but TOML escapes DEL too
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(doc: dict) -> str:
    return "".join(f"{toml_value(k)} = {toml_value(v)}\n" for k, v in doc.items())


@st.composite
def edited(draw: st.DrawFn, base: dict) -> tuple[str, list[tuple]]:
    """The base document with 1-3 edits, as TOML text, and the paths edited."""
    doc = json.loads(json.dumps(base, default=str))
    edits: list[tuple] = []
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths)) if paths else ("calendar",)
        kind = draw(st.sampled_from(["drop", "retype", "garble", "garble", "unknown"]))
        if kind == "drop" and paths:
            _delete(doc, path)
        elif kind == "unknown":
            tables = [p for p in paths if isinstance(_get(doc, p), dict)] or [()]
            path = (*draw(st.sampled_from(tables)), draw(st.text(min_size=1, max_size=8)))
            _set(doc, path, draw(toml_values))
        elif paths:
            _set(doc, path, draw(toml_values if kind == "retype" else garbled))
        edits.append(path)
    return toml_document(doc), edits


def _get(doc: Any, path: tuple) -> Any:
    for step in path:
        doc = doc[step]
    return doc


@st.composite
def broken_toml(draw: st.DrawFn) -> bytes:
    """Valid TOML, then cut, spliced or made not UTF-8."""
    text = toml_document(SHORT)
    at = draw(st.integers(0, len(text)))
    kind = draw(st.sampled_from(["cut", "insert", "duplicate", "bytes", "deep"]))
    if kind == "cut":
        return text[:at].encode()
    if kind == "insert":
        return (
            text[:at]
            + draw(
                st.sampled_from(["[", "]", "=", '"', "\n[calendar]\n", "\x00", "\x7f", "{", "'''"])
            )
            + text[at:]
        ).encode()
    if kind == "duplicate":
        line = draw(st.sampled_from(text.splitlines()))
        return (text + line + "\n").encode()
    if kind == "bytes":
        return text[:at].encode() + draw(st.binary(min_size=1, max_size=8)) + text[at:].encode()
    depth = draw(st.sampled_from([10, 500, 5_000]))
    return (text + "deep = " + "[" * depth + "]" * depth + "\n").encode()


def load(tmp_path: Path, data: bytes) -> Policy | PolicyError:
    path = tmp_path / "policy.toml"
    path.write_bytes(data)
    try:
        policy = load_policy(path)
    except PolicyError as error:
        message = str(error)
        assert message.startswith(f"{path}: ") and len(message) > len(f"{path}: ")
        return error
    assert_usable(policy)
    return policy


def assert_usable(policy: Policy) -> None:
    """A policy that loads must work: dues on its calendar, its classifier, every rule."""
    calendar = policy.business_calendar
    policy.classifier.classify("我要退款 refund please", channel="web")
    for rule in policy.sla:
        planned = plan(rule, received_at=START, now=START, calendar=calendar)
        assert set(planned) == set(rule.targets())
    for text in (
        policy.escalation.manager_after,
        policy.follow_up.within,
        policy.group_impact.within,
    ):
        for clock in ("wall", "business"):
            assert calendar.due(START, parse_duration(text), clock) >= START


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-policy")


@settings(max_examples=examples(2_000))
@given(document=edited(SHORT))
def test_an_edited_policy_loads_and_works_or_the_error_names_the_key(tmp, document):
    """2,000 examples."""
    text, edits = document
    outcome = load(tmp, text.encode())
    if isinstance(outcome, PolicyError):
        named = [str(step) for path in edits for step in path]
        assert any(name in str(outcome) for name in named), (str(outcome), edits)


@settings(max_examples=examples(600))
@given(data=broken_toml())
def test_broken_toml_is_refused_with_a_message_not_a_traceback(tmp, data):
    """600 examples (an edit that leaves valid TOML is loaded like any other file)."""
    load(tmp, data)


@settings(max_examples=examples(200))
@given(document=edited(DEFAULT))
def test_an_edit_of_the_whole_default_policy_loads_and_works_or_names_the_key(tmp, document):
    """200 examples: the full default, its 40 classification rules included."""
    text, edits = document
    outcome = load(tmp, text.encode())
    if isinstance(outcome, PolicyError):
        named = [str(step) for path in edits for step in path]
        assert any(name in str(outcome) for name in named), (str(outcome), edits)


def test_the_documents_written_back_load_as_the_default_policy(tmp):
    """The fuzz's TOML writer is faithful: unedited, both bases give the shipped policy."""
    assert load(tmp, toml_document(DEFAULT).encode()) == load_policy()
    assert isinstance(load(tmp, toml_document(SHORT).encode()), Policy)


# ---- regressions: what the fuzzing found ------------------------------------------------
@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[escalation]\nmanager_after = "99999999999d"\n', "escalation.manager_after"),
        ('[[sla]]\nwhen = {}\nresolution = "999999999999h"\n', "sla.0.resolution"),
        ('[follow_up]\nwithin = "3661d"\n', "follow_up.within"),
    ],
)
def test_a_duration_over_ten_years_is_refused_at_load_naming_the_key(tmp, text, named):
    """It loaded, then every intake request failed: OverflowError planning the SLA."""
    with pytest.raises(PolicyError, match=rf"{named}: .*over 3660 days"):
        load_policy(_write(tmp, text.encode()))


def test_a_policy_file_that_is_not_utf8_is_refused_naming_the_byte(tmp):
    """It raised UnicodeDecodeError."""
    with pytest.raises(PolicyError, match=r"not UTF-8 text: byte 4"):
        load_policy(_write(tmp, b"a = \xff\n"))


def test_toml_nested_too_deeply_is_refused(tmp):
    """tomllib recursed until RecursionError."""
    with pytest.raises(PolicyError, match="nested too deeply"):
        load_policy(_write(tmp, b"a = " + b"[" * 5_000 + b"]" * 5_000))


def _write(tmp: Path, data: bytes) -> Path:
    path = tmp / "regression.toml"
    path.write_bytes(data)
    return path
