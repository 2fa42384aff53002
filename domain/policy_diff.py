"""What changes from one policy to another, in words a supervisor reads.

Pure: two `Policy` objects in, a list of `Change` out; nothing is read or written, so
`ticketflow policy diff` and any other reader (a console page) show the same comparison.

- SLA rules are matched by their `when` conditions, not by their place: a rule with
  the same conditions in both policies is the same rule, and its targets are compared
  one by one (duration and clock). A rule only one side has is new or removed. Matched
  rules in another relative order are reported as reordered, because the first rule
  that matches a ticket applies.
- Agents, teams and departments are matched by `id`; the keyword rules of
  `[[classification.rules]]` by what they decide (type, category, urgency, impact).
- Every other setting is compared key by key and named by its dotted path.

The same policy (the same `policy_version`) gives an empty list.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from domain.calendar import parse_duration
from domain.policy import Policy
from domain.sla import TARGETS, WHEN_KEYS, SlaRule

Kind = Literal["version", "changed", "added", "removed", "reordered"]
BY_ID = {"agents": "agent", "teams": "team", "departments": "department"}
SHORT = 80  # a list shown whole, old → new, when both fit in this many characters
PREVIEW = 5  # keywords shown of a new or removed keyword rule


@dataclass(frozen=True)
class Change:
    """One difference between policy A (old) and policy B (new).

    `section`: the policy's top-level key (`sla`, `customer`, `agents`, ...), or
    `policy_version`. `key`: the dotted path of what changed, in B (in A for what was
    removed); list entries are counted from 0 as the loader's errors count them, agents,
    teams and departments are named by id. `old` and `new`: JSON values, None where one
    side has nothing (for a reordered rule, its index in A and in B). `subject`: what
    several changes share (an SLA rule, a keyword rule), empty for the others; `detail`:
    what changed about it. `text` is the whole sentence."""

    section: str
    key: str
    kind: Kind
    old: Any
    new: Any
    detail: str
    subject: str = ""

    @property
    def text(self) -> str:
        return f"{self.subject} — {self.detail}" if self.subject else self.detail

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "text": self.text}


def diff_policies(old: Policy, new: Policy) -> list[Change]:
    """What changes from `old` to `new`: the policy_version first, then the SLA rules,
    then the other settings in the order of the policy file's reference."""
    if old.canonical == new.canonical:
        return []
    version = f"policy_version {old.version} → {new.version}"
    changes = [
        Change("policy_version", "policy_version", "version", old.version, new.version, version)
    ]
    changes += sla_changes(old.sla, new.sla)
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    for section in Policy.model_fields:
        if section != "sla":
            changes += _settings(section, section, before[section], after[section])
    if len(changes) == 1:  # every part of the canonical form is compared above
        changes.append(
            Change(
                "policy",
                "",
                "changed",
                None,
                None,
                "the policies differ in details not listed here",
            )
        )
    return changes


# ---- SLA rules ---------------------------------------------------------------------


def describe_conditions(when: dict[str, str | list[str]]) -> str:
    """`type complaint, priority urgent or high`; `for every other ticket` for `{}`."""
    if not when:
        return "for every other ticket"
    keys = [k for k in WHEN_KEYS if k in when] + sorted(set(when) - set(WHEN_KEYS))
    parts = []
    for key in keys:
        value = when[key]
        values = value if isinstance(value, list) else [value]
        parts.append(f"{key} {' or '.join(values) if values else 'none (never matches)'}")
    return ", ".join(parts)


def describe_rule(rule: SlaRule, number: int, was: int | None = None) -> str:
    """`rule 2 (type complaint, priority urgent or high)`, numbered from 1 as a reader
    counts the `[[sla]]` entries; `was` adds the rule's number in the old policy."""
    moved = f"; was rule {was}" if was is not None and was != number else ""
    return f"rule {number} ({describe_conditions(rule.when)}{moved})"


def sla_changes(old: Sequence[SlaRule], new: Sequence[SlaRule]) -> list[Change]:
    """Rules matched by their conditions: what changed in each, in B's order, then the
    rules removed, then the rules whose order changed."""
    kept, moved, removed, added = _align(
        [_conditions_key(r.when) for r in old], [_conditions_key(r.when) for r in new]
    )
    old_index = {j: i for i, j in kept + moved}
    changes: list[Change] = []
    for j, rule in enumerate(new):
        if j in old_index:
            changes += _rule_changes(old[old_index[j]], rule, old_index[j], j)
        elif j in added:
            text = f"new {describe_rule(rule, j + 1)} with {_targets_text(rule)}"
            changes.append(Change("sla", f"sla.{j}", "added", None, _dump(rule), text))
    for i in removed:
        text = f"rule removed: was {describe_rule(old[i], i + 1)} with {_targets_text(old[i])}"
        changes.append(Change("sla", f"sla.{i}", "removed", _dump(old[i]), None, text))
    for (i, j), ahead, behind in _inversions(moved, kept + moved):
        clauses = [_overtakes(new[j], j, new[j2], j2, now_first=True) for _, j2 in ahead]
        clauses += [_overtakes(new[j], j, new[j2], j2, now_first=False) for _, j2 in behind]
        text = (
            f"rules reordered: {describe_rule(new[j], j + 1)}, was rule {i + 1}, now comes "
            + _some(clauses)
        )
        changes.append(Change("sla", f"sla.{j}", "reordered", i, j, text))
    return changes


def _rule_changes(old: SlaRule, new: SlaRule, i: int, j: int) -> list[Change]:
    subject = describe_rule(new, j + 1, was=i + 1)
    changes = []
    for target in TARGETS:
        before, after = old.targets().get(target), new.targets().get(target)
        clock_before, clock_after = old.clock_of(target), new.clock_of(target)
        key = f"sla.{j}.{target}"
        was = {"duration": before, "clock": clock_before} if before else None
        now = {"duration": after, "clock": clock_after} if after else None
        if before and after and (before, clock_before) != (after, clock_after):
            text = f"{target}: {_durations(before, after, clock_before, clock_after)}"
            changes.append(Change("sla", key, "changed", was, now, text, subject))
        elif after and not before:
            text = f"new target {target}: {after} ({clock_after} clock)"
            changes.append(Change("sla", key, "added", None, now, text, subject))
        elif before and not after:
            text = f"target {target} removed (was {before})"
            changes.append(Change("sla", key, "removed", was, None, text, subject))
    if changes:
        return changes
    # Same targets on the same clocks: what differs changes no ticket's targets (the
    # conditions written another way, a clock that no tracked target runs on).
    was_dump, now_dump = _dump(old), _dump(new)
    for field in ("when", "clock", "clocks"):
        a, b = was_dump.get(field), now_dump.get(field)
        if a != b:
            text = f"{field}: {_show(a)} → {_show(b)} (no target changes)"
            changes.append(Change("sla", f"sla.{j}.{field}", "changed", a, b, text, subject))
    return changes


def _targets_text(rule: SlaRule) -> str:
    """`first_response 30m, assignment 5m (business clock), ...; the rest on the wall clock`."""
    targets = rule.targets()
    if not targets:
        return "no targets (its tickets are not tracked)"
    clocks = {rule.clock_of(name) for name in targets}
    if len(clocks) == 1:
        listed = ", ".join(f"{name} {duration}" for name, duration in targets.items())
        return f"{listed}, all on the {clocks.pop()} clock"
    listed = ", ".join(
        f"{name} {duration}"
        + (f" ({rule.clock_of(name)} clock)" if rule.clock_of(name) != rule.clock else "")
        for name, duration in targets.items()
    )
    return f"{listed}; the rest on the {rule.clock} clock"  # two clocks: some use the rule's


def _durations(before: str, after: str, clock_before: str, clock_after: str) -> str:
    if clock_before != clock_after:
        return f"{before} ({clock_before} clock) → {after} ({clock_after} clock)"
    return f"{before} → {after}{_length(before, after)}"


def _length(before: Any, after: Any) -> str:
    """` (shorter)`, ` (longer)` or ` (same length)` for two durations of one unit kind
    (both elapsed time, or both working days); else nothing."""
    try:
        a, b = parse_duration(before), parse_duration(after)
    except (TypeError, ValueError):
        return ""
    if a.working_days and b.working_days and not (a.seconds or b.seconds):
        x, y = a.working_days, b.working_days
    elif not (a.working_days or b.working_days):
        x, y = a.seconds, b.seconds
    else:
        return ""
    return " (shorter)" if y < x else " (longer)" if y > x else " (same length)"


def _conditions_key(when: dict[str, str | list[str]]) -> str:
    """Conditions that mean the same give the same key: a list's order does not matter,
    and a one-value list is that value (except for `category`, where a string also
    matches the subcategories and a list does not)."""
    norm: dict[str, Any] = {}
    for key, value in when.items():
        if isinstance(value, list):
            values = sorted(set(value))
            norm[key] = values[0] if len(values) == 1 and key != "category" else values
        else:
            norm[key] = value
    return json.dumps(norm, sort_keys=True, ensure_ascii=False)


def can_both_match(a: dict[str, str | list[str]], b: dict[str, str | list[str]]) -> bool:
    """Whether some ticket could meet the conditions of both rules."""
    return all(_values_meet(key, a[key], b[key]) for key in set(a) & set(b))


def _values_meet(key: str, a: str | list[str], b: str | list[str]) -> bool:
    if key == "category" and isinstance(a, str) and isinstance(b, str):
        return a == b or a.startswith(b + "/") or b.startswith(a + "/")
    if key == "category" and isinstance(a, str) != isinstance(b, str):
        prefix, exact = (a, b) if isinstance(a, str) else (b, a)
        return any(c == prefix or c.startswith(f"{prefix}/") for c in exact)
    values_a = {a} if isinstance(a, str) else set(a)
    values_b = {b} if isinstance(b, str) else set(b)
    return bool(values_a & values_b)


def _overtakes(rule: SlaRule, j: int, other: SlaRule, j2: int, *, now_first: bool) -> str:
    where = "before" if now_first else "after"
    clause = f"{where} {describe_rule(other, j2 + 1)}"
    if not can_both_match(rule.when, other.when):
        return f"{clause} (no ticket matches both, so none changes rule)"
    winner, loser = (j, j2) if now_first else (j2, j)
    return f"{clause}: a ticket matching both now gets rule {winner + 1}, not rule {loser + 1}"


def _dump(rule: SlaRule) -> dict[str, Any]:
    return rule.model_dump(mode="json", exclude_none=True)


# ---- matching two lists ------------------------------------------------------------


def _align(
    old: Sequence[str], new: Sequence[str]
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], list[int], list[int]]:
    """Entries of two lists matched by key: (kept, moved, removed, added). `kept` is a
    longest run of pairs in the same order in both, `moved` the other pairs of equal
    keys (index in old, index in new); `removed` and `added` are the rest."""
    n, m = len(old), len(new)
    longest = [[0] * (m + 1) for _ in range(n + 1)]  # of old[i:] and new[j:]
    for i in reversed(range(n)):
        for j in reversed(range(m)):
            if old[i] == new[j]:
                longest[i][j] = longest[i + 1][j + 1] + 1
            else:
                longest[i][j] = max(longest[i + 1][j], longest[i][j + 1])
    kept: list[tuple[int, int]] = []
    i = j = 0
    while i < n and j < m:
        if old[i] == new[j]:
            kept.append((i, j))
            i, j = i + 1, j + 1
        elif longest[i + 1][j] >= longest[i][j + 1]:
            i += 1
        else:
            j += 1
    removed = [i for i in range(n) if i not in {p[0] for p in kept}]
    added = [j for j in range(m) if j not in {p[1] for p in kept}]
    moved = []
    for i in list(removed):
        j2 = next((j for j in added if new[j] == old[i]), None)
        if j2 is not None:
            moved.append((i, j2))
            removed.remove(i)
            added.remove(j2)
    return kept, sorted(moved, key=lambda p: p[1]), removed, added


def _inversions(
    moved: list[tuple[int, int]], matched: list[tuple[int, int]]
) -> list[tuple[tuple[int, int], list[tuple[int, int]], list[tuple[int, int]]]]:
    """For each moved pair, the matched pairs it now comes before (having come after
    them) and after (having come before them); each swapped couple is told once."""
    told: set[frozenset[tuple[int, int]]] = set()
    result = []
    for pair in moved:
        i, j = pair
        ahead, behind = [], []
        for other in sorted(matched, key=lambda p: p[1]):
            i2, j2 = other
            couple = frozenset((pair, other))
            if other == pair or couple in told:
                continue
            if i2 < i and j2 > j:
                ahead.append(other)
            elif i2 > i and j2 < j:
                behind.append(other)
            else:
                continue
            told.add(couple)
        if ahead or behind:
            result.append((pair, ahead, behind))
    return result


# ---- every other setting -----------------------------------------------------------


def _settings(section: str, path: str, old: Any, new: Any) -> list[Change]:
    if old == new:
        return []
    if path in BY_ID:
        return _by_id(path, old, new)
    if path == "classification.rules":
        return _keyword_rules(old, new)
    if isinstance(old, dict) and isinstance(new, dict):
        changes = []
        for key in [*old, *(k for k in new if k not in old)]:
            sub = f"{path}.{key}"
            if key not in new:
                text = f"{sub} removed (was {_show(old[key])})"
                changes.append(Change(section, sub, "removed", old[key], None, text))
            elif key not in old:
                text = f"{sub}: {_show(new[key])} (new)"
                changes.append(Change(section, sub, "added", None, new[key], text))
            else:
                changes += _settings(section, sub, old[key], new[key])
        return changes
    if isinstance(old, list) and isinstance(new, list):
        return [Change(section, path, "changed", old, new, f"{path}: {_list_text(old, new)}")]
    text = f"{path}: {_show(old)} → {_show(new)}{_length(old, new)}"
    return [Change(section, path, "changed", old, new, text)]


def _by_id(section: str, old: list[dict], new: list[dict]) -> list[Change]:
    noun = BY_ID[section]
    before, after = _keyed(old), _keyed(new)
    changes = []
    for key, entry in after.items():
        path = f"{section}.{key[0]}"
        if key in before:
            changes += _settings(section, path, before[key], entry)
        else:
            text = f"{section}: new {noun} {key[0]} ({_fields(entry)})"
            changes.append(Change(section, path, "added", None, entry, text))
    for key, entry in before.items():
        if key not in after:
            text = f"{section}: {noun} {key[0]} removed (was {_fields(entry)})"
            changes.append(Change(section, f"{section}.{key[0]}", "removed", entry, None, text))
    order_before = [k[0] for k in before if k in after]
    order_after = [k[0] for k in after if k in before]
    if order_before != order_after:
        text = f"{section}: {_list_text(order_before, order_after)}"
        changes.append(Change(section, section, "reordered", order_before, order_after, text))
    return changes


def _keyed(entries: list[dict]) -> dict[tuple[str, int], dict]:
    """Entries by (id, how many before it had that id), so a repeated id still pairs."""
    seen: Counter[str] = Counter()
    keyed = {}
    for entry in entries:
        keyed[(entry["id"], seen[entry["id"]])] = entry
        seen[entry["id"]] += 1
    return keyed


def _fields(entry: dict) -> str:
    shown = [(k, v) for k, v in entry.items() if k != "id" and v not in (None, [])]
    return "; ".join(f"{key} {_show(value)}" for key, value in shown) or "no other settings"


def _keyword_rules(old: list[dict], new: list[dict]) -> list[Change]:
    """`[[classification.rules]]`: the same rule is in both as it was, or it decides the
    same (type, category, urgency, impact) and keeps some of its keywords (edited)."""
    kept, moved, removed, added = _align([_json(r) for r in old], [_json(r) for r in new])
    edited: dict[int, int] = {}  # index in new -> index in old
    for j in list(added):
        words = set(new[j]["keywords"])
        alike = [
            i
            for i in removed
            if _decides_key(old[i]) == _decides_key(new[j]) and words & set(old[i]["keywords"])
        ]
        if alike:
            i = max(alike, key=lambda i: (len(words & set(old[i]["keywords"])), -abs(i - j)))
            edited[j] = i
            removed.remove(i)
            added.remove(j)
    section, changes = "classification", []
    for j, rule in enumerate(new):
        if j in edited:
            i = edited[j]
            subject = f"classification {_keyword_rule(rule, j + 1, was=i + 1)}"
            for field in rule:
                a, b = old[i].get(field), rule[field]
                if a != b:
                    if isinstance(a, list) and isinstance(b, list):
                        what = _list_text(a, b)
                    else:
                        what = f"{_show(a)} → {_show(b)}"
                    path = f"classification.rules.{j}.{field}"
                    changes.append(
                        Change(section, path, "changed", a, b, f"{field}: {what}", subject)
                    )
        elif j in added:
            shown = _preview(rule["keywords"])
            text = f"new classification {_keyword_rule(rule, j + 1)} with keywords {shown}"
            changes.append(Change(section, f"classification.rules.{j}", "added", None, rule, text))
    for i in removed:
        rule = old[i]
        text = (
            f"classification rule removed: was {_keyword_rule(rule, i + 1)}"
            f" with keywords {_preview(rule['keywords'])}"
        )
        changes.append(Change(section, f"classification.rules.{i}", "removed", rule, None, text))
    for (i, j), ahead, behind in _inversions(moved, kept + moved):
        others = [f"before rules {_numbers(ahead)}"] if ahead else []
        others += [f"after rules {_numbers(behind)}"] if behind else []
        text = (
            f"classification rules reordered: {_keyword_rule(new[j], j + 1)}, was rule {i + 1}, "
            f"now comes {' and '.join(others)}"
        )
        changes.append(Change(section, f"classification.rules.{j}", "reordered", i, j, text))
    return changes


def _numbers(pairs: list[tuple[int, int]]) -> str:
    return ", ".join(str(j + 1) for _, j in pairs)


def _some(clauses: list[str], limit: int = 3) -> str:
    """`a; and b`, or the first `limit` and how many more."""
    if len(clauses) > limit:
        return "; and ".join(clauses[:limit]) + f"; and {len(clauses) - limit} more"
    return "; and ".join(clauses)


DECIDES = ("type", "category", "urgency", "impact")


def _decides_key(rule: dict) -> str:
    return json.dumps([rule.get(k) for k in DECIDES], ensure_ascii=False)


def _keyword_rule(rule: dict, number: int, was: int | None = None) -> str:
    decides = ", ".join(f"{k} {rule[k]}" for k in DECIDES if rule.get(k) is not None)
    moved = f"; was rule {was}" if was is not None and was != number else ""
    return f"rule {number} ({decides}{moved})"


def _preview(keywords: list[str]) -> str:
    shown = ", ".join(keywords[:PREVIEW])
    return f"{shown}, … ({len(keywords)} in all)" if len(keywords) > PREVIEW else shown


# ---- showing values ----------------------------------------------------------------


def _list_text(old: list, new: list) -> str:
    """A short list whole, old → new; a long one by what was added and removed."""
    whole = f"{_show(old)} → {_show(new)}"
    if sorted(map(_json, old)) == sorted(map(_json, new)):
        short = len(whole) <= 2 * SHORT
        return f"listed in another order: {whole}" if short else "the same, listed in another order"
    if len(_show(old)) <= SHORT and len(_show(new)) <= SHORT:
        return whole
    added = [v for v in new if v not in old]
    removed = [v for v in old if v not in new]
    parts = [f"added {_show(added)}"] if added else []
    parts += [f"removed {_show(removed)}"] if removed else []
    return "; ".join(parts) or whole


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _show(value: Any, nested: bool = False) -> str:
    """A JSON value as a supervisor reads it: `unset`, `none` for an empty list, a list
    as `a, b` (inside another value as `[a, b]`), a table as `key: value, ...`."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value or '""'
    if isinstance(value, list):
        inner = ", ".join(_show(v, nested=True) for v in value)
        return f"[{inner}]" if nested else inner or "none"
    if isinstance(value, dict):
        inner = ", ".join(f"{k}: {_show(v, nested=True)}" for k, v in value.items())
        return f"{{{inner}}}" if nested else inner or "none"
    return str(value)
