"""Priority from urgency × impact scope (docs/process.md)."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

import domain
from domain.classifier import ClassificationConfig, classify
from domain.priority import DEFAULT_MATRIX, PRIORITIES, PriorityConfig, priority

DEFAULTS = Path(domain.__file__).parent / "default_policy.toml"


@pytest.fixture(scope="module")
def defaults() -> dict:
    return tomllib.loads(DEFAULTS.read_text("utf-8"))


@pytest.mark.parametrize(
    ("urgency", "impact", "expected"),
    [
        ("urgent", "individual", "urgent"),
        ("urgent", "group", "urgent"),
        ("urgent", "systemic", "urgent"),
        ("high", "individual", "high"),
        ("high", "group", "urgent"),
        ("high", "systemic", "urgent"),
        ("normal", "individual", "normal"),
        ("normal", "group", "high"),
        ("normal", "systemic", "high"),
        ("low", "individual", "low"),
        ("low", "group", "normal"),
        ("low", "systemic", "high"),
    ],
)
def test_default_matrix_raises_priority_with_wider_impact(urgency, impact, expected):
    assert priority(urgency, impact, PriorityConfig()) == expected


def test_shipped_toml_matrix_is_the_default_matrix(defaults):
    assert PriorityConfig(**defaults["priority"]).matrix == DEFAULT_MATRIX


def test_a_policy_can_change_one_cell():
    matrix = copy.deepcopy(DEFAULT_MATRIX)
    matrix["low"]["systemic"] = "normal"
    assert priority("low", "systemic", PriorityConfig(matrix=matrix)) == "normal"


def _error(matrix: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        PriorityConfig(matrix=matrix)
    return str(caught.value)


def test_a_matrix_missing_an_urgency_row_is_rejected_naming_it():
    matrix = copy.deepcopy(DEFAULT_MATRIX)
    del matrix["low"]
    assert "matrix.low is missing" in _error(matrix)


def test_a_matrix_missing_an_impact_cell_is_rejected_naming_it():
    matrix = copy.deepcopy(DEFAULT_MATRIX)
    del matrix["high"]["group"]
    assert "matrix.high is missing impact(s) ['group']" in _error(matrix)


def test_unknown_urgency_impact_or_priority_in_the_matrix_is_rejected_naming_it():
    matrix = copy.deepcopy(DEFAULT_MATRIX)
    matrix["critical"] = dict(matrix["urgent"])
    assert "matrix.critical: unknown urgency" in _error(matrix)
    matrix = copy.deepcopy(DEFAULT_MATRIX)
    matrix["normal"]["team"] = "high"
    assert "matrix.normal.team: unknown impact" in _error(matrix)
    matrix = copy.deepcopy(DEFAULT_MATRIX)
    matrix["normal"]["group"] = "medium"
    assert "matrix.normal.group: unknown priority 'medium'" in _error(matrix)


def test_unknown_keys_beside_the_matrix_are_rejected():
    with pytest.raises(ValidationError, match="levels"):
        PriorityConfig(matrix=DEFAULT_MATRIX, levels=["p1"])


def test_asking_outside_the_vocabulary_is_an_error():
    with pytest.raises(ValueError, match="'critical'"):
        priority("critical", "individual", PriorityConfig())


def test_every_cell_of_the_default_matrix_is_a_priority():
    assert {cell for row in DEFAULT_MATRIX.values() for cell in row.values()} <= set(PRIORITIES)


def test_monitoring_alert_on_a_tenth_of_users_is_urgent(defaults):
    config = ClassificationConfig(**defaults["classification"])
    result = classify(
        "payment API timeout, 10% of users affected", config, channel="monitoring", alert_ratio=0.10
    )
    matrix = PriorityConfig(**defaults["priority"])
    assert priority(result.urgency, result.impact, matrix) == "urgent"


def test_an_alert_on_a_few_percent_of_users_is_high(defaults):
    config = ClassificationConfig(**defaults["classification"])
    result = classify(
        "payment API timeout, 6% of users affected", config, channel="monitoring", alert_ratio=0.06
    )
    matrix = PriorityConfig(**defaults["priority"])
    assert priority(result.urgency, result.impact, matrix) == "high"
