"""Hostile input for the fuzz suite: random JSON, random bytes, and valid messages mutated.

A mutation keeps most of a valid message and breaks one thing, so the fuzz reaches the
checks behind the JSON parser: a field dropped, retyped, made huge or full of odd
Unicode, a number sent as a string, a member given twice, a value nested deeply.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from services.application.messages import CHANNELS, MAX_CONTENT_BYTES

# Characters that break naive code: NUL and other controls, right-to-left overrides, a
# byte-order mark, combining marks, lone surrogates, astral-plane emoji, non-characters.
ODD = [
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\x85",
    "\u200b",
    "\u202e",
    "\u2066",
    "\ufeff",
    "\u0301",
    "\ud800",
    "\udfff",
    "\U0001f600",
    "\ufffe",
    "\uffff",
    "\u3000",
    "\r",
    "\n",
    "\\",
    '"',
    "'",
    "*",
    ">",
    ".",
    " ",
]

odd_text = st.text(st.one_of(st.characters(), st.sampled_from(ODD)), max_size=40)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.integers(min_value=2**63, max_value=2**70),
    odd_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
    max_leaves=12,
)

# Text a valid message may hold: anything printable, Chinese and emoji included.
clean_text = st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=30)
content_text = clean_text.filter(lambda t: t.strip())


@st.composite
def rfc3339(draw: st.DrawFn) -> str:
    return (
        f"{draw(st.integers(1971, 2998)):04d}-{draw(st.integers(1, 12)):02d}-"
        f"{draw(st.integers(1, 28)):02d}T{draw(st.integers(0, 23)):02d}:"
        f"{draw(st.integers(0, 59)):02d}:{draw(st.integers(0, 59)):02d}"
        + draw(st.sampled_from(["Z", "+08:00", "-05:30", ".123456Z", "+00:00"]))
    )


@st.composite
def intake_requests(draw: st.DrawFn) -> dict[str, Any]:
    """A request within every documented limit (docs/contract.md "Intake", contract.md)."""
    doc: dict[str, Any] = {"external_id": draw(clean_text), "content": draw(content_text)}
    optional = {
        "received_at": rfc3339(),
        "customer": st.fixed_dictionaries(
            {},
            optional={
                k: st.none() | clean_text
                for k in ("name", "company", "phone", "email", "customer_id")
            },
        ),
        "subject": st.none() | clean_text,
        "attachments": st.lists(
            st.fixed_dictionaries({"name": clean_text, "url": clean_text}), max_size=3
        ),
        "alert": st.none()
        | st.fixed_dictionaries(
            {},
            optional={
                "source": st.none() | clean_text,
                "kind": st.none() | clean_text,
                "affected_ratio": st.none() | st.floats(0, 1) | st.sampled_from([0, 1]),
            },
        ),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            doc[key] = draw(strategy)
    return doc


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    """Every place inside a JSON document (a key of an object, an index of a list)."""
    found = [path] if path else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*path, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found += _paths(inner, (*path, i))
    return found


def _set(doc: Any, path: tuple, value: Any) -> None:
    for step in path[:-1]:
        doc = doc[step]
    doc[path[-1]] = value


def _delete(doc: Any, path: tuple) -> None:
    for step in path[:-1]:
        doc = doc[step]
    del doc[path[-1]]


def _get(doc: Any, path: tuple) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _as_text(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


SMALL_MUTATIONS = ("drop", "retype", "odd", "unknown", "stringify", "raw")
BIG_MUTATIONS = ("huge", "near_limit")  # slow to store: fewer examples


@st.composite
def mutated(
    draw: st.DrawFn, valid: st.SearchStrategy[dict], kinds: tuple[str, ...] = SMALL_MUTATIONS
) -> bytes:
    """A valid document with 0-3 things broken, as the bytes a client would send."""
    doc = json.loads(json.dumps(draw(valid)))
    for _ in range(draw(st.integers(0 if kinds == SMALL_MUTATIONS else 1, 3))):
        paths = _paths(doc)
        kind = draw(st.sampled_from(kinds))
        if kind == "unknown" or not paths:
            _set(doc, (draw(odd_text),), draw(json_values))
            continue
        path = draw(st.sampled_from(paths))
        if kind == "drop":
            _delete(doc, path)
        elif kind == "retype":
            _set(doc, path, draw(json_values))
        elif kind == "odd":
            _set(doc, path, draw(odd_text))
        elif kind == "stringify":  # a number, bool or null sent as a string
            _set(doc, path, _as_text(_get(doc, path)))
        elif kind == "huge":
            _set(
                doc,
                path,
                draw(st.sampled_from(["x", "退", "\U0001f600"]))
                * draw(st.sampled_from([201, 501, 1001, 10_001, 70_000])),
            )
        elif kind == "near_limit":  # content right at the 64 KiB limit, in 1-4 byte characters
            char = draw(st.sampled_from(["x", "é", "退", "\U0001f600"]))
            size = MAX_CONTENT_BYTES // len(char.encode()) + draw(st.integers(-1, 1))
            doc["content"] = char * size
        else:
            return _raw_mutation(draw, doc)
    return json.dumps(doc, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


def _raw_mutation(draw: st.DrawFn, doc: dict) -> bytes:
    """Breakage a JSON encoder never produces: a member twice, deep nesting, cut text."""
    text = json.dumps(doc)
    kind = draw(st.sampled_from(["duplicate", "deep", "cut", "bad_utf8", "literal"]))
    if kind == "duplicate" and doc:
        key = draw(st.sampled_from(sorted(doc)))
        return (
            "{" + json.dumps(key) + ": " + json.dumps(draw(json_values)) + ", " + text[1:]
        ).encode()
    if kind == "deep":
        depth = draw(st.sampled_from([50, 900, 5_000, 100_000]))
        return (
            '{"external_id": "deep", "content": "x", "alert": ' + "[" * depth + "]" * depth + "}"
        ).encode()
    if kind == "cut":
        return text[: draw(st.integers(0, max(len(text) - 1, 0)))].encode()
    if kind == "bad_utf8":
        at = draw(st.integers(0, len(text)))
        return (
            text[:at].encode()
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"]))
            + (text[at:].encode())
        )
    return text.replace(
        draw(st.sampled_from([":", ",", "}"])),
        draw(st.sampled_from([" NaN ", " Infinity ", " -Infinity ", " 1e99999 ", " tru "])),
        1,
    ).encode()


subjects_valid = st.sampled_from([f"tickets.intake.{c}" for c in CHANNELS])
subjects_hostile = st.one_of(
    st.sampled_from(
        [
            "tickets.intake.",
            "tickets.intake.EMAIL",
            "tickets.intake.email.extra",
            "tickets.intake.e-mail",
            "tickets.intake.*",
            "tickets.intake.>",
            "tickets.cmd.close",
            "tickets.intake.email ",
            "tickets.intake.fax",
        ]
    ),
    odd_text.map(lambda t: "tickets.intake." + t),
)
