"""Comparing two policies (`domain.policy_diff`): what a supervisor reads before a new
policy file goes live. SLA rules are matched by their conditions, the directory by id,
every other setting by its dotted path; the same policy shows no change."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

from domain.policy import Policy
from domain.policy_diff import Change, describe_conditions, diff_policies
from infra.policy_file import default_policy_text, merge

DEFAULTS: dict[str, Any] = tomllib.loads(default_policy_text())
DEFAULT = Policy.model_validate(DEFAULTS)
# The shipped rules, numbered from 1: 1 technical+urgent, 2 urgent, 3 complaint,
# 4 technical+high, 5 technical, 6 consultation, 7 suggestion, 8 every other ticket.


def policy(**override: Any) -> Policy:
    """The shipped defaults with `override` merged over them, as a policy file would."""
    return Policy.model_validate(merge(DEFAULTS, override))


def rules(edit) -> Policy:
    """The shipped defaults with their `[[sla]]` list edited by `edit(list)`."""
    sla = copy.deepcopy(DEFAULTS["sla"])
    edit(sla)
    return policy(sla=sla)


def texts(changes: list[Change]) -> list[str]:
    return [change.text for change in changes]


def only(changes: list[Change], kind: str) -> list[Change]:
    return [change for change in changes if change.kind == kind]


class TestTheSamePolicy:
    def test_shows_no_change(self) -> None:
        assert diff_policies(DEFAULT, DEFAULT) == []

    def test_written_another_way_shows_no_change(self) -> None:
        restated = policy(customer={"confirm_within": "3d"}, goals={"at_risk_share": 0.8})
        assert restated.version == DEFAULT.version
        assert diff_policies(DEFAULT, restated) == []


class TestTheVersionComesFirst:
    def test_the_first_change_is_the_policy_version_old_to_new(self) -> None:
        new = policy(customer={"confirm_within": "5d"})
        first = diff_policies(DEFAULT, new)[0]
        assert first.kind == "version"
        assert first.text == f"policy_version {DEFAULT.version} → {new.version}"


class TestSlaRulesAreMatchedByTheirConditions:
    def test_a_shorter_target_names_the_rule_by_its_conditions(self) -> None:
        new = rules(lambda sla: sla[0].update(resolution="8h"))
        [change] = only(diff_policies(DEFAULT, new), "changed")
        assert change.subject == "rule 1 (type technical, priority urgent)"
        assert change.detail == "resolution: 24h → 8h (shorter)"
        assert change.key == "sla.0.resolution"
        assert change.old == {"duration": "24h", "clock": "wall"}

    def test_a_longer_target_in_working_days_says_longer(self) -> None:
        new = rules(lambda sla: sla[3].update(resolution="7wd"))
        [change] = only(diff_policies(DEFAULT, new), "changed")
        assert change.detail == "resolution: 5wd → 7wd (longer)"

    def test_durations_of_different_kinds_are_shown_without_a_verdict(self) -> None:
        new = rules(lambda sla: sla[3].update(resolution="40h"))
        [change] = only(diff_policies(DEFAULT, new), "changed")
        assert change.detail == "resolution: 5wd → 40h"

    def test_a_target_on_another_clock_shows_both_clocks(self) -> None:
        new = rules(lambda sla: sla[2]["clocks"].pop("assignment"))
        [change] = only(diff_policies(DEFAULT, new), "changed")
        assert change.subject == "rule 3 (type complaint)"
        assert change.detail == "assignment: 5m (business clock) → 5m (wall clock)"

    def test_a_target_added_or_removed_is_named(self) -> None:
        def edit(sla: list[dict]) -> None:
            sla[5]["analysis"] = "2h"
            del sla[5]["transferred"]

        changes = diff_policies(DEFAULT, rules(edit))
        assert [c.detail for c in changes if c.subject == "rule 6 (type consultation)"] == [
            "target transferred removed (was 24h)",
            "new target analysis: 2h (wall clock)",
        ]

    def test_a_rule_with_new_conditions_is_a_new_rule_and_the_old_one_is_removed(self) -> None:
        new = rules(lambda sla: sla[3]["when"].update(priority=["urgent", "high"]))
        changes = diff_policies(DEFAULT, new)
        [added], [removed] = only(changes, "added"), only(changes, "removed")
        assert added.text.startswith("new rule 4 (type technical, priority urgent or high) with ")
        assert removed.text.startswith("rule removed: was rule 4 (type technical, priority high)")
        assert "resolution 5wd" in removed.text
        assert not only(changes, "changed")

    def test_a_rule_inserted_above_shifts_the_others_without_reordering_them(self) -> None:
        def edit(sla: list[dict]) -> None:
            sla.insert(0, {"when": {"channel": "phone"}, "clock": "wall", "resolution": "4h"})
            sla[3]["resolution"] = "24h"  # the complaint rule, now 4th

        changes = diff_policies(DEFAULT, rules(edit))
        assert texts(changes)[1:] == [
            "new rule 1 (channel phone) with resolution 4h, all on the wall clock",
            "rule 4 (type complaint; was rule 3) — resolution: 48h → 24h (shorter)",
        ]

    def test_the_catch_all_rule_is_the_rule_for_every_other_ticket(self) -> None:
        new = rules(lambda sla: sla[-1].update(first_response="8h"))
        [change] = only(diff_policies(DEFAULT, new), "changed")
        assert change.subject == "rule 8 (for every other ticket)"

    def test_values_listed_in_another_order_are_the_same_rule(self) -> None:
        old = rules(lambda sla: sla[3]["when"].update(priority=["high", "normal"]))
        new = rules(lambda sla: sla[3]["when"].update(priority=["normal", "high"]))
        [change] = diff_policies(old, new)[1:]
        assert change.subject == "rule 4 (type technical, priority normal or high)"
        assert change.detail.endswith("(no target changes)")


class TestReorderedRules:
    """The first rule that matches a ticket applies, so the order is part of the policy."""

    def test_swapping_overlapping_rules_says_which_now_wins(self) -> None:
        new = rules(lambda sla: sla.insert(1, sla.pop(2)))  # complaint before urgent
        [change] = diff_policies(DEFAULT, new)[1:]
        assert change.kind == "reordered"
        assert "a ticket matching both now gets rule 2, not rule 3" in change.text
        assert "(type complaint)" in change.text and "(priority urgent)" in change.text

    def test_swapping_rules_no_ticket_meets_both_says_none_changes_rule(self) -> None:
        new = rules(lambda sla: sla.insert(4, sla.pop(5)))  # consultation before technical
        [change] = diff_policies(DEFAULT, new)[1:]
        assert change.kind == "reordered"
        assert change.text.endswith("(no ticket matches both, so none changes rule)")

    def test_a_rule_moved_and_changed_reports_both(self) -> None:
        def edit(sla: list[dict]) -> None:
            sla.insert(1, sla.pop(2))
            sla[1]["first_response"] = "2h"

        changes = diff_policies(DEFAULT, rules(edit))
        assert [c.kind for c in changes] == ["version", "changed", "reordered"]
        assert changes[1].subject == "rule 2 (type complaint; was rule 3)"


class TestDescribingConditions:
    def test_a_list_reads_as_alternatives(self) -> None:
        conditions = {"type": "complaint", "priority": ["urgent", "high"]}
        assert describe_conditions(conditions) == "type complaint, priority urgent or high"

    def test_conditions_read_in_the_order_of_the_when_keys(self) -> None:
        assert describe_conditions({"channel": "phone", "type": "complaint"}) == (
            "type complaint, channel phone"
        )


class TestOtherSettings:
    def test_each_changed_key_is_named_by_its_dotted_path(self) -> None:
        new = policy(customer={"confirm_within": "5d"}, goals={"at_risk_share": 0.75})
        assert texts(diff_policies(DEFAULT, new))[1:] == [
            "goals.at_risk_share: 0.8 → 0.75",
            "customer.confirm_within: 3d → 5d (longer)",
        ]

    def test_a_key_only_one_side_has_is_new_or_removed(self) -> None:
        new = policy(classification={"type_urgency": {"consultation": "low"}})
        assert texts(diff_policies(DEFAULT, new))[1:] == [
            "classification.type_urgency.consultation: low (new)"
        ]
        assert texts(diff_policies(new, DEFAULT))[1:] == [
            "classification.type_urgency.consultation removed (was low)"
        ]

    def test_an_unset_value_reads_unset_and_an_empty_list_none(self) -> None:
        new = policy(escalation={"manager": "M001"}, review={"types": ["technical"]})
        assert texts(diff_policies(DEFAULT, new))[1:] == [
            "review.types: none → technical",
            "escalation.manager: unset → M001",
        ]

    def test_a_long_list_shows_what_was_added_and_removed(self) -> None:
        moods = copy.deepcopy(DEFAULTS["classification"]["moods"])
        moods["angry"] = [w for w in moods["angry"] if w != "scam"] + ["rip-off"]
        new = policy(classification={"moods": moods})
        assert texts(diff_policies(DEFAULT, new))[1:] == [
            "classification.moods.angry: added rip-off; removed scam"
        ]

    def test_the_same_entries_in_another_order_say_so(self) -> None:
        order = ["technical", "complaint", "suggestion", "consultation", "other"]
        [change] = diff_policies(DEFAULT, policy(classification={"type_precedence": order}))[1:]
        assert change.detail.startswith("classification.type_precedence: listed in another order")


AGENT = {"id": "A007", "team": "support", "supervisor": "S001", "skills": ["zh"], "capacity": 20}


class TestTheDirectoryById:
    def test_a_new_agent_is_shown_with_its_settings(self) -> None:
        [change] = diff_policies(DEFAULT, policy(agents=[AGENT]))[1:]
        assert change.text == (
            "agents: new agent A007 (team support; supervisor S001; skills zh; capacity 20)"
        )

    def test_a_changed_agent_is_compared_field_by_field(self) -> None:
        old = policy(agents=[{"id": "A001"}, AGENT])
        new = policy(agents=[{"id": "A001"}, {**AGENT, "capacity": 15, "skills": ["zh", "en"]}])
        assert texts(diff_policies(old, new))[1:] == [
            "agents.A007.skills: zh → zh, en",
            "agents.A007.capacity: 20 → 15",
        ]

    def test_agents_are_matched_by_id_not_by_place(self) -> None:
        old = policy(agents=[{"id": "A001"}, AGENT])
        new = policy(agents=[AGENT])
        [change] = diff_policies(old, new)[1:]
        assert change.text == "agents: agent A001 removed (was team support; capacity 20)"

    def test_the_same_agents_in_another_order_say_so(self) -> None:
        old = policy(agents=[{"id": "A001"}, AGENT])
        new = policy(agents=[AGENT, {"id": "A001"}])
        [change] = diff_policies(old, new)[1:]
        assert change.text == "agents: listed in another order: A001, A007 → A007, A001"

    def test_departments_are_compared_by_id(self) -> None:
        departments = [*DEFAULTS["departments"][:3], {"id": "legal", "name": "法务部"}]
        departments[0] = {**departments[0], "head": "H001"}
        assert texts(diff_policies(DEFAULT, policy(departments=departments)))[1:] == [
            "departments.tech.head: unset → H001",
            "departments: new department legal (name 法务部)",
            "departments: department logistics removed (was name 物流部)",
        ]


class TestKeywordRules:
    def test_a_keyword_added_to_a_rule_names_the_rule_by_what_it_decides(self) -> None:
        keyword_rules = copy.deepcopy(DEFAULTS["classification"]["rules"])
        refund = next(r for r in keyword_rules if r.get("category") == "billing/refund")
        refund["keywords"].append("退货款")
        number = keyword_rules.index(refund) + 1
        [change] = diff_policies(DEFAULT, policy(classification={"rules": keyword_rules}))[1:]
        assert change.subject == (
            f"classification rule {number} (type complaint, category billing/refund)"
        )
        assert change.detail == "keywords: added 退货款"


class TestAsJson:
    def test_each_change_carries_its_sentence(self) -> None:
        new = policy(customer={"confirm_within": "5d"})
        assert diff_policies(DEFAULT, new)[1].as_json() == {
            "section": "customer",
            "key": "customer.confirm_within",
            "kind": "changed",
            "old": "3d",
            "new": "5d",
            "subject": "",
            "detail": "customer.confirm_within: 3d → 5d (longer)",
            "text": "customer.confirm_within: 3d → 5d (longer)",
        }
