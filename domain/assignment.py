"""Who should handle a ticket (docs/process.md): the best agents by skill match and load.

Skills name what an agent handles: ticket types, categories (`billing` covers
`billing/refund`), channels and languages (`zh`, `en`). Only an agent with at least
one matching skill is proposed, and not one at capacity. More matching skills first;
ties go to the less loaded agent (open tickets / capacity), then by id. The policy
says how many are proposed (`assignment.proposals`, default 3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

PROPOSALS = 3


class Agent(Protocol):
    id: str
    team: str
    skills: list[str]
    capacity: int


def language_of(text: str) -> str:
    """`zh` when the text holds CJK ideographs, else `en`."""
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"


def wanted_skills(*, type: str, category: str, channel: str, text: str) -> set[str]:
    return {type, category, category.partition("/")[0], channel, language_of(text)}


def propose(
    agents: Sequence[Agent],
    wanted: set[str],
    load: Mapping[str, int],
    proposals: int = PROPOSALS,
) -> list[str]:
    able = [a for a in agents if load.get(a.id, 0) < a.capacity and wanted & set(a.skills)]
    ranked = sorted(
        able, key=lambda a: (-len(wanted & set(a.skills)), load.get(a.id, 0) / a.capacity, a.id)
    )
    return [a.id for a in ranked[:proposals]]
