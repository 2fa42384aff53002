"""Automatic classification of a request (docs/process.md): type, category, urgency, impact.

Pure: standard library and pydantic only. The rules are policy (`[classification]` and
`[[classification.rules]]`, defaults in `classification_defaults.toml`); this module
validates them and compiles them once into a `Classifier`.

Matching
- The text (subject, then content) and every keyword are normalised alike: Unicode NFKC
  (full-width letters and punctuation become ASCII), case-folded, curly apostrophes made
  straight, runs of white space made one space.
- A keyword matches as a substring: Chinese has no word boundaries. A keyword that begins
  with an ASCII letter or digit must also begin a word (the character before it is not an
  ASCII letter or digit) but may end inside one: "refund" matches "refunds" and "refunded",
  "api" matches "支付API超时" but not "rapid".
- `a+b`: a keyword of parts joined by `+` matches when every part matches, anywhere in the
  text ("cancel+order" matches "cancelling purchase 42 of my order"; "取消+订单").
- A rule matches when any of its keywords does. Every matching rule counts.

Decision
- type: of the matched rules' types, the first in `type_precedence` (default complaint >
  technical > suggestion > consultation > other). A grievance stays a complaint whatever
  else it mentions ("白屏了三天没人管,我要投诉"); a fault report stays technical when it
  also asks how or wishes; a wish phrased as a question stays a suggestion. No type
  matched: `default_type`. An alert (channel `monitoring`, or an `alert_ratio`) is technical.
- category: the most specific of the matched rules' categories (level 2 "technical/front-end"
  beats level 1 "process-efficiency"); ties go to a rule whose type is the final type, then
  to the rule listed first. None matched: `default_category`.
- urgency: the highest of the type's baseline (`type_urgency`, else `default_urgency`) and
  the matched rules' urgencies: rules only raise it. An alert with `alert_ratio` >=
  `urgent_alert_ratio` is urgent.
- impact: the highest of `individual` and the matched rules' impacts; an alert with
  `alert_ratio` >= `systemic_alert_ratio` is systemic. (Group impact from three customers
  reporting alike within 24 h spans tickets, so it is decided elsewhere.)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

TYPES = ("consultation", "complaint", "suggestion", "technical", "other")
URGENCIES = ("urgent", "high", "normal", "low")
IMPACTS = ("individual", "group", "systemic")
# The communication record: what the customer wants, and how they feel.
DEMANDS = ("refund", "repair", "exchange", "apology", "compensation", "other")
MOODS = ("calm", "anxious", "dissatisfied", "angry")
_URGENCY_RANK = {u: -i for i, u in enumerate(URGENCIES)}  # higher is more urgent
_IMPACT_RANK = {m: i for i, m in enumerate(IMPACTS)}
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """The form both texts and keywords are compared in."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")
    return _SPACE.sub(" ", text).strip()


def _one_of(key: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is not None and value not in allowed:
        raise ValueError(f"unknown {key} {value!r}; use one of {list(allowed)}")
    return value


_VOCABULARY = {"type": TYPES, "urgency": URGENCIES, "impact": IMPACTS,
               "default_type": TYPES, "default_urgency": URGENCIES}  # fmt: skip


def _in_vocabulary(value: str | None, info: ValidationInfo) -> str | None:
    return _one_of(info.field_name or "value", value, _VOCABULARY[info.field_name or ""])


class KeywordRule(BaseModel):
    """One `[[classification.rules]]` entry: any keyword matching applies what it sets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keywords: list[str] = Field(min_length=1)
    type: str | None = None
    category: str | None = None
    urgency: str | None = None
    impact: str | None = None

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, keywords: list[str]) -> list[str]:
        for keyword in keywords:
            if any(not normalize(part) for part in keyword.split("+")):
                raise ValueError(f"keyword {keyword!r} is blank or has a blank `+` part")
        return keywords

    _vocabulary = field_validator("type", "urgency", "impact")(_in_vocabulary)

    @model_validator(mode="after")
    def _sets_something(self) -> KeywordRule:
        if not (self.type or self.category or self.urgency or self.impact):
            raise ValueError(f"rule {self.keywords[:3]}… sets none of type/category/urgency/impact")
        return self


class ClassificationConfig(BaseModel):
    """The `[classification]` table of the policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    categories: dict[str, list[str]]
    rules: list[KeywordRule]
    default_type: str = "other"
    default_category: str = "general"
    default_urgency: str = "normal"
    type_precedence: list[str] = ["complaint", "technical", "suggestion", "consultation", "other"]
    type_urgency: dict[str, str] = {"suggestion": "low"}
    systemic_alert_ratio: float = Field(default=0.05, gt=0, le=1)
    urgent_alert_ratio: float = Field(default=0.10, gt=0, le=1)
    # Keywords per demand and per mood; the first listed that matches wins, none
    # matching gives "other" and "calm".
    demands: dict[str, list[str]] = {}
    moods: dict[str, list[str]] = {}
    _classifier: Classifier | None = PrivateAttr(default=None)

    @field_validator("categories")
    @classmethod
    def _tree(cls, tree: dict[str, list[str]]) -> dict[str, list[str]]:
        for level1, level2s in tree.items():
            for name in (level1, *level2s):
                if not name.strip() or "/" in name:
                    raise ValueError(f"category name {name!r} under {level1!r} is blank or has '/'")
            if len(set(level2s)) != len(level2s):
                raise ValueError(f"categories.{level1} lists a level-2 name twice: {level2s}")
        return tree

    _vocabulary = field_validator("default_type", "default_urgency")(_in_vocabulary)

    @field_validator("type_precedence")
    @classmethod
    def _precedence(cls, order: list[str]) -> list[str]:
        if sorted(order) != sorted(TYPES):
            raise ValueError(f"type_precedence {order} must list each of {list(TYPES)} once")
        return order

    @field_validator("type_urgency")
    @classmethod
    def _type_urgency(cls, mapping: dict[str, str]) -> dict[str, str]:
        for type_, urgency in mapping.items():
            _one_of("type in type_urgency", type_, TYPES)
            _one_of(f"urgency in type_urgency.{type_}", urgency, URGENCIES)
        return mapping

    @field_validator("demands", "moods")
    @classmethod
    def _record_words(cls, table: dict[str, list[str]], info: ValidationInfo) -> dict:
        allowed = DEMANDS if info.field_name == "demands" else MOODS
        for name, keywords in table.items():
            _one_of(f"key of {info.field_name}", name, allowed)
            if any(not normalize(part) for k in keywords for part in k.split("+")):
                raise ValueError(f"{info.field_name}.{name} has a blank keyword or `+` part")
        return table

    @model_validator(mode="after")
    def _categories_exist(self) -> ClassificationConfig:
        if not self.has_category(self.default_category):
            raise ValueError(f"default_category {self.default_category!r} is not in categories")
        for i, rule in enumerate(self.rules):
            if rule.category is not None and not self.has_category(rule.category):
                raise ValueError(
                    f"rules[{i}].category {rule.category!r} (keywords "
                    f"{rule.keywords[:3]}…) is not in categories"
                )
        return self

    def has_category(self, category: str) -> bool:
        """Whether `level1` or `level1/level2` names a node of the tree."""
        level1, _, level2 = category.partition("/")
        return level1 in self.categories and (not level2 or level2 in self.categories[level1])


@dataclass(frozen=True)
class Classification:
    type: str
    category: str
    urgency: str
    impact: str
    matched: tuple[str, ...]  # the keywords that matched, as written in the policy
    demand: str = "other"
    mood: str = "calm"

    @property
    def reason(self) -> str:
        """The audit reason of an automatic classification."""
        return "keywords: " + ", ".join(self.matched) if self.matched else "no keyword matched"


def _found(text: str, needle: str) -> bool:
    """`needle` in `text`; an ASCII-initial needle must also begin a word."""
    at = text.find(needle)
    if at < 0 or not (needle[0].isascii() and needle[0].isalnum()):
        return at >= 0
    while at >= 0:
        if at == 0 or not (text[at - 1].isascii() and text[at - 1].isalnum()):
            return True
        at = text.find(needle, at + 1)
    return False


def mentions(text: str, keywords: list[str]) -> list[str]:
    """The keywords (matched as the rules' are, `a+b` included) that occur in `text`."""
    hay = normalize(text)
    return [k for k in keywords if all(_found(hay, normalize(part)) for part in k.split("+"))]


class Classifier:
    """A `ClassificationConfig` compiled once (normalised keywords); then `classify` many texts."""

    def __init__(self, config: ClassificationConfig) -> None:
        self.config = config
        self._rank = {t: i for i, t in enumerate(config.type_precedence)}
        self._keywords = tuple(
            (tuple(normalize(part) for part in keyword.split("+")), keyword, index)
            for index, rule in enumerate(config.rules)
            for keyword in rule.keywords
        )
        # An index by each keyword's first two characters: a text is checked against the
        # few keywords that can occur in it, not all of them (about 5x fewer tests).
        self._by_start: dict[str, list[int]] = {}
        self._always: list[int] = []
        self._record_words = {
            field: [
                (name, [tuple(normalize(p) for p in k.split("+")) for k in keywords])
                for name, keywords in table.items()
            ]
            for field, table in (("demand", config.demands), ("mood", config.moods))
        }
        for position, (parts, _, _) in enumerate(self._keywords):
            head = parts[0][:2]
            (self._by_start.setdefault(head, []) if len(head) == 2 else self._always).append(
                position
            )

    def classify(
        self,
        text: str,
        *,
        subject: str | None = None,
        alert_ratio: float | None = None,
        channel: str | None = None,
    ) -> Classification:
        cfg, rules = self.config, self.config.rules
        hay = normalize(text if subject is None else f"{subject} | {text}")
        hit: dict[int, None] = {}  # rule indexes, in rule order
        words: dict[str, None] = {}
        starts = {hay[i : i + 2] for i in range(len(hay) - 1)}
        candidates = sorted(
            {p for s in starts for p in self._by_start.get(s, ())} | set(self._always)
        )  # in policy order, as before
        for position in candidates:
            parts, keyword, index = self._keywords[position]
            if parts[0] in hay and all(_found(hay, part) for part in parts):
                hit[index] = None
                words[keyword] = None
        matched = [rules[i] for i in hit]

        alert = channel == "monitoring" or alert_ratio is not None
        types = [r.type for r in matched if r.type]
        if alert:
            type_ = "technical"
        else:
            type_ = min(types, key=self._rank.__getitem__) if types else cfg.default_type

        category, best = cfg.default_category, None
        for rule in matched:
            if rule.category is not None:
                key = (-rule.category.count("/"), rule.type != type_)
                if best is None or key < best:
                    category, best = rule.category, key

        urgency = max(
            [cfg.type_urgency.get(type_, cfg.default_urgency)]
            + [r.urgency for r in matched if r.urgency],
            key=_URGENCY_RANK.__getitem__,
        )
        impact = max(
            ["individual"] + [r.impact for r in matched if r.impact], key=_IMPACT_RANK.__getitem__
        )
        if alert_ratio is not None and alert_ratio >= cfg.urgent_alert_ratio:
            urgency = "urgent"
        if alert_ratio is not None and alert_ratio >= cfg.systemic_alert_ratio:
            impact = "systemic"
        return Classification(
            type_,
            category,
            urgency,
            impact,
            tuple(words),
            self._first("demand", hay) or "other",
            self._first("mood", hay) or "calm",
        )

    def _first(self, field: str, hay: str) -> str | None:
        """The first demand (or mood) of the policy's list with a keyword in the text."""
        for name, keywords in self._record_words[field]:
            if any(all(_found(hay, part) for part in parts) for parts in keywords):
                return name
        return None


def classify(
    text: str,
    config: ClassificationConfig,
    *,
    subject: str | None = None,
    alert_ratio: float | None = None,
    channel: str | None = None,
) -> Classification:
    """Classify with `config`, compiling it on first use (the compiled form is kept on it)."""
    compiled = config._classifier
    if compiled is None or compiled.config is not config:  # model_copy copies private attrs
        compiled = config._classifier = Classifier(config)
    return compiled.classify(text, subject=subject, alert_ratio=alert_ratio, channel=channel)
