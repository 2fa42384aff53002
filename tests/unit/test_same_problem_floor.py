"""The floor under "the same problem" (bench.same_problem has the whole table): with the
policy's default threshold, clusters beat the rule they replaced (the same category)
on precision, on English banking requests and on Chinese requests written for it."""

from __future__ import annotations

from bench.same_problem import BANKING77, ZH, evaluate, load
from infra.policy_file import load_policy

DEFAULT = load_policy().group_impact.similarity


def test_chinese_phrasings_of_one_fault_meet_and_different_faults_stay_apart() -> None:
    found = evaluate(load(ZH, "text", "problem"), DEFAULT, window=10_000)
    assert found["clusters"].precision >= 0.95
    assert found["clusters"].recall >= 0.5
    assert found["category"].precision < 0.6  # one category holds several faults


def test_english_banking_requests_of_one_intent_meet_far_more_often_than_by_category() -> None:
    found = evaluate(load(BANKING77, "text", "category"), DEFAULT, window=200)
    assert found["clusters"].precision >= 0.2
    assert found["clusters"].precision >= 5 * found["category"].precision
    assert found["clusters"].recall >= 0.3
