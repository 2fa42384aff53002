"""A strict reader of the Prometheus text format (0.0.4), for tests: every line is a HELP,
a TYPE or a sample of the family announced just before it; histograms are cumulative."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*"'
VALUE = r"(?:[+-]?(?:\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|NaN|[+-]Inf)"
HELP = re.compile(rf"^# HELP ({NAME}) (.*)$")
TYPE = re.compile(rf"^# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)$")
SAMPLE = re.compile(rf"^({NAME})(?:\{{((?:{LABEL})(?:,{LABEL})*)?\}})? ({VALUE})$")
ONE_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass
class Family:
    name: str
    kind: str = ""
    help: str = ""
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def value(self, **labels: str) -> float:
        found = [v for n, ls, v in self.samples if n == self.name and ls == labels]
        assert len(found) == 1, (self.name, labels, self.samples)
        return found[0]


def parse(text: str) -> dict[str, Family]:
    assert text.endswith("\n"), "the exposition ends with a newline"
    families: dict[str, Family] = {}
    current: Family | None = None
    for line in text.splitlines():
        if m := HELP.match(line):
            assert m[1] not in families, f"family {m[1]} announced twice"
            current = families[m[1]] = Family(m[1], help=m[2])
        elif m := TYPE.match(line):
            assert current is not None and current.name == m[1], f"TYPE without HELP: {line}"
            assert not current.samples, f"TYPE after samples: {line}"
            current.kind = m[2]
        elif m := SAMPLE.match(line):
            assert current is not None and current.kind, f"sample outside a family: {line}"
            assert _belongs(m[1], current), f"{m[1]} is not part of {current.name}"
            labels = dict(ONE_LABEL.findall(m[2] or ""))
            current.samples.append((m[1], labels, _float(m[3])))
        else:
            raise AssertionError(f"not Prometheus text: {line!r}")
    for family in families.values():
        if family.kind == "histogram":
            _check_histogram(family)
    return families


def _belongs(sample: str, family: Family) -> bool:
    if family.kind == "histogram":
        return sample in {f"{family.name}_bucket", f"{family.name}_sum", f"{family.name}_count"}
    return sample == family.name


def _float(text: str) -> float:
    return {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}.get(text) or float(text)


def _check_histogram(family: Family) -> None:
    buckets = [(_float(ls["le"]), v) for n, ls, v in family.samples if n.endswith("_bucket")]
    assert buckets and buckets[-1][0] == math.inf, "a histogram ends with le=+Inf"
    assert [b for b, _ in buckets] == sorted(b for b, _ in buckets)
    assert [v for _, v in buckets] == sorted(v for _, v in buckets), "buckets are cumulative"
    count = [v for n, _, v in family.samples if n.endswith("_count")]
    assert count == [buckets[-1][1]], "_count equals the +Inf bucket"
