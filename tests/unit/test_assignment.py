"""Proposing handlers (docs/process.md): skill match first, then the lighter load."""

from __future__ import annotations

from domain.assignment import language_of, propose, wanted_skills
from domain.policy import AgentConfig

ZH_COMPLAINTS = AgentConfig(id="A1", skills=["complaint", "billing", "zh"], capacity=10)
EN_TECH = AgentConfig(id="A2", skills=["technical", "en"], capacity=10)
ZH_TECH = AgentConfig(id="A3", skills=["technical", "technical/front-end", "zh"], capacity=10)
GENERALIST = AgentConfig(id="A4", skills=[], capacity=10)
AGENTS = [ZH_COMPLAINTS, EN_TECH, ZH_TECH, GENERALIST]


def wanted(text: str, type: str, category: str) -> set[str]:
    return wanted_skills(type=type, category=category, channel="web", text=text)


def test_the_language_comes_from_the_text() -> None:
    assert language_of("页面白屏") == "zh"
    assert language_of("the page is blank") == "en"


def test_the_best_skill_match_comes_first_and_three_are_proposed() -> None:
    skills = wanted("页面白屏", "technical", "technical/front-end")
    assert propose(AGENTS, skills, {}) == ["A3", "A1", "A2"]


def test_a_category_skill_covers_its_subcategories() -> None:
    skills = wanted("要求退款", "complaint", "billing/refund")
    assert propose(AGENTS, skills, {})[0] == "A1"


def test_among_equal_matches_the_less_loaded_agent_wins() -> None:
    skills = wanted("the page is blank", "other", "general")
    english = [AgentConfig(id=i, skills=["en"], capacity=10) for i in ("A4", "A5")]
    assert propose(english, skills, {"A4": 5}) == ["A5", "A4"]


def test_an_agent_with_no_matching_skill_is_not_proposed() -> None:
    skills = wanted("the page is blank", "technical", "technical/front-end")
    assert "A4" not in propose(AGENTS, skills, {})  # no skills at all
    assert propose([ZH_COMPLAINTS], skills, {}) == []  # Chinese complaints only


def test_the_policy_says_how_many_are_proposed() -> None:
    skills = wanted("页面白屏", "technical", "technical/front-end")
    assert propose(AGENTS, skills, {}, proposals=1) == ["A3"]


def test_an_agent_at_capacity_is_not_proposed() -> None:
    skills = wanted("页面白屏", "technical", "technical/front-end")
    assert "A3" not in propose(AGENTS, skills, {"A3": 10})


def test_no_agents_no_proposal() -> None:
    assert propose([], {"technical"}, {}) == []
