"""Automatic classification (docs/process.md): the shipped keyword rules and the rule semantics.

The accuracy checks run the shipped defaults over real English request phrasings
(bitext customer-support sample, banking77 test split). Their thresholds sit a little
below what was measured when the defaults were written, so a change to the keywords that
loses real accuracy fails here; the measured figures are quoted beside each threshold.
"""

from __future__ import annotations

import csv
import time
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

import domain
from domain.classifier import (
    IMPACTS,
    TYPES,
    URGENCIES,
    Classification,
    ClassificationConfig,
    Classifier,
    KeywordRule,
    classify,
)

DEFAULTS = Path(domain.__file__).parent / "default_policy.toml"
REPO = Path(__file__).resolve().parents[2]


DATA = REPO / "tests" / "fixtures" / "data"  # copies of public data sets, with their licenses


@pytest.fixture(scope="module")
def defaults() -> dict:
    return tomllib.loads(DEFAULTS.read_text("utf-8"))


@pytest.fixture(scope="module")
def config(defaults: dict) -> ClassificationConfig:
    return ClassificationConfig(**defaults["classification"])


@pytest.fixture(scope="module")
def classifier(config: ClassificationConfig) -> Classifier:
    return Classifier(config)


def _tree(**extra: object) -> dict:
    return {
        "categories": {"technical": ["front-end"], "billing": ["refund"], "general": []},
        "rules": [
            {"keywords": ["白屏"], "type": "technical", "category": "technical/front-end"},
            {"keywords": ["退款", "refund"], "type": "complaint", "category": "billing/refund"},
        ],
        **extra,
    }


# ------------------------------------------------------------- the process rules' own examples


@pytest.mark.parametrize(
    ("text", "kwargs", "expected"),
    [
        (
            "收到的商品与描述不符,要求退款!",
            {},
            ("complaint", "billing/refund", "normal", "individual"),
        ),
        (
            "I want a refund for this order",
            {},
            ("complaint", "billing/refund", "normal", "individual"),
        ),
        ("我要投诉", {}, ("complaint", "general", "normal", "individual")),
        ("客服小李态度恶劣,需投诉!", {}, ("complaint", "service-attitude", "normal", "individual")),
        ("APP登录后一直白屏", {}, ("technical", "technical/front-end", "normal", "individual")),
        ("页面报错了", {}, ("technical", "technical/front-end", "normal", "individual")),
        ("I get an error at checkout", {}, ("technical", "technical", "normal", "individual")),
        ("the app keeps crashing", {}, ("technical", "technical", "normal", "individual")),
        ("无法登录", {}, ("technical", "account/login", "normal", "individual")),
        ("建议简化发票开具流程", {}, ("suggestion", "billing/invoice", "low", "individual")),
        ("希望APP增加夜间模式", {}, ("suggestion", "product/feature", "low", "individual")),
        (
            "I suggest you add a dark mode",
            {},
            ("suggestion", "product/feature", "low", "individual"),
        ),
        ("如何开通会员权益?", {}, ("consultation", "account/profile", "normal", "individual")),
        ("退货流程是怎样的?", {}, ("consultation", "general", "normal", "individual")),
        ("怎么修改收货地址", {}, ("consultation", "logistics/address", "normal", "individual")),
        (
            "How do I change my shipping address?",
            {},
            ("consultation", "logistics/address", "normal", "individual"),
        ),
        (
            "account stolen, freeze it",
            {},
            ("technical", "account/security", "urgent", "individual"),
        ),
        ("账号被盗,请立即冻结", {}, ("technical", "account/security", "urgent", "individual")),
        ("客户订单无法发货", {}, ("complaint", "logistics/delay", "urgent", "individual")),
        ("再不解决我就要向媒体曝光", {}, ("complaint", "general", "urgent", "individual")),
        ("Fix this or I go to the press", {}, ("complaint", "general", "urgent", "individual")),
        (
            "payment API timeout, 10% of users affected",
            {"channel": "monitoring", "alert_ratio": 0.10},
            ("technical", "technical/back-end-api", "urgent", "systemic"),
        ),
        ("今天天气不错", {}, ("other", "general", "normal", "individual")),
        ("thanks, have a nice day", {}, ("other", "general", "normal", "individual")),
    ],
)
def test_spec_examples_classify_as_documented(classifier, text, kwargs, expected):
    result = classifier.classify(text, **kwargs)
    assert (result.type, result.category, result.urgency, result.impact) == expected


def test_complaint_beats_technical_and_category_comes_from_the_most_specific_match(classifier):
    result = classifier.classify("白屏了三天没人管,我要投诉")
    assert result.type == "complaint"
    assert result.category == "technical/front-end"  # level 2 beats "process-efficiency"
    assert {"白屏", "没人管", "投诉"} <= set(result.matched)


def test_equally_specific_categories_prefer_a_rule_of_the_winning_type(classifier):
    assert classifier.classify("退款页面白屏").category == "billing/refund"


def test_a_fault_report_stays_technical_when_it_also_asks_how(classifier):
    assert classifier.classify("How do I fix this error?").type == "technical"


def test_group_and_systemic_wording_widen_impact(classifier):
    assert classifier.classify("很多用户反映登录不了").impact == "group"
    assert classifier.classify("所有用户都无法支付").impact == "systemic"


def test_matched_keywords_are_the_audit_reason(classifier):
    result = classifier.classify("我要投诉")
    assert result.matched == ("投诉", "我要")
    assert result.reason == "keywords: 投诉, 我要"
    assert classifier.classify("hello").reason == "no keyword matched"


# ------------------------------------------------------------------ alerts


@pytest.mark.parametrize(
    ("ratio", "urgency", "impact"),
    [
        (0.01, "normal", "individual"),
        (0.05, "normal", "systemic"),
        (0.099, "normal", "systemic"),
        (0.10, "urgent", "systemic"),
        (0.60, "urgent", "systemic"),
    ],
)
def test_alert_share_of_users_sets_impact_and_urgency(classifier, ratio, urgency, impact):
    result = classifier.classify("disk usage high", channel="monitoring", alert_ratio=ratio)
    assert (result.type, result.urgency, result.impact) == ("technical", urgency, impact)


def test_monitoring_channel_is_technical_even_without_a_ratio_or_keyword(classifier):
    result = classifier.classify("something happened", channel="monitoring")
    assert (result.type, result.urgency, result.impact) == ("technical", "normal", "individual")


def test_alert_thresholds_are_configurable():
    config = ClassificationConfig(**_tree(systemic_alert_ratio=0.5, urgent_alert_ratio=0.9))
    result = classify("x", config, channel="monitoring", alert_ratio=0.6)
    assert (result.urgency, result.impact) == ("normal", "systemic")


# ------------------------------------------------------------------ matching


def test_english_keywords_must_start_a_word_but_may_end_inside_one(classifier):
    assert "api" not in classifier.classify("a rapid answer please").matched
    assert "refund" in classifier.classify("was it refunded?").matched
    assert "api" in classifier.classify("支付API超时").matched  # no word boundary in Chinese


def test_keywords_match_case_insensitively_and_full_width(classifier):
    assert classifier.classify("ＲＥＦＵＮＤ NOW").category == "billing/refund"
    assert classifier.classify("I Want A REFUND").type == "complaint"


def test_plus_keyword_needs_every_part():
    config = ClassificationConfig(
        **_tree(
            rules=[{"keywords": ["cancel+order"], "type": "consultation", "category": "general"}]
        )
    )
    assert classify("please cancel my order 42", config).type == "consultation"
    assert classify("please cancel it", config).type == "other"
    assert classify("cancel+order", config).matched == ("cancel+order",)


def test_subject_is_classified_with_the_content(classifier):
    result = classifier.classify("请尽快处理", subject="退款")
    assert (result.type, result.category, result.urgency) == ("complaint", "billing/refund", "high")


def test_suggestions_start_low_and_rules_only_raise_urgency(classifier):
    assert classifier.classify("建议增加导出功能").urgency == "low"
    assert classifier.classify("建议尽快增加导出功能").urgency == "high"


def test_type_precedence_is_configurable():
    config = ClassificationConfig(
        **_tree(type_precedence=["technical", "complaint", "suggestion", "consultation", "other"])
    )
    assert classify("白屏, refund", config).type == "technical"


def test_function_and_class_agree_and_the_function_compiles_once(config, classifier):
    text = "APP登录后一直白屏"
    assert classify(text, config) == classifier.classify(text)
    first = config._classifier
    classify("again", config)
    assert first is config._classifier is not None


def test_a_copied_config_with_other_rules_is_compiled_afresh(config):
    classify("warm the cache", config)
    copy = config.model_copy(update={"rules": [KeywordRule(keywords=["退款"], type="suggestion")]})
    assert classify("退款", copy).type == "suggestion"
    assert classify("退款", config).type == "complaint"


def test_results_use_the_vocabulary(classifier):
    result = classifier.classify("anything at all")
    assert isinstance(result, Classification)
    assert result.type in TYPES and result.urgency in URGENCIES and result.impact in IMPACTS


# ------------------------------------------------------------------ validation


def _error(**overrides: object) -> str:
    with pytest.raises(ValidationError) as caught:
        ClassificationConfig(**_tree(**overrides))
    return str(caught.value)


def test_unknown_rule_type_is_rejected_naming_it():
    message = _error(rules=[{"keywords": ["x"], "type": "complain"}])
    assert "rules.0.type" in message and "'complain'" in message


def test_rule_category_must_be_in_the_tree_naming_the_rule():
    message = _error(rules=[{"keywords": ["x"], "category": "billing/refunds"}])
    assert "rules[0].category" in message and "'billing/refunds'" in message
    message = _error(rules=[{"keywords": ["x"], "category": "shipping"}])
    assert "rules[0].category" in message and "'shipping'" in message


def test_unknown_urgency_and_impact_are_rejected():
    assert "'asap'" in _error(rules=[{"keywords": ["x"], "urgency": "asap"}])
    assert "'everyone'" in _error(rules=[{"keywords": ["x"], "impact": "everyone"}])


def test_rules_need_a_keyword_and_an_effect():
    assert "rules.0.keywords" in _error(rules=[{"keywords": [], "type": "other"}])
    assert "blank" in _error(rules=[{"keywords": ["ok", "  "], "type": "other"}])
    assert "blank" in _error(rules=[{"keywords": ["cancel+"], "type": "other"}])
    assert "sets none" in _error(rules=[{"keywords": ["x"]}])


def test_unknown_keys_are_rejected():
    assert "rules.0.keyword" in _error(rules=[{"keyword": ["x"], "type": "other"}])
    assert "default_catgory" in _error(default_catgory="general")


def test_defaults_must_use_the_vocabulary_and_the_tree():
    assert "default_category 'misc'" in _error(default_category="misc")
    assert "'chat'" in _error(default_type="chat")
    assert "'whenever'" in _error(default_urgency="whenever")


def test_type_precedence_must_list_every_type_once():
    assert "type_precedence" in _error(type_precedence=["complaint", "technical"])


def test_type_urgency_uses_the_vocabulary():
    assert "'soon'" in _error(type_urgency={"suggestion": "soon"})
    assert "'idea'" in _error(type_urgency={"idea": "low"})


def test_category_names_cannot_hold_a_slash_or_repeat():
    assert "'a/b'" in _error(categories={"a/b": [], "general": []})
    assert "categories.technical" in _error(categories={"technical": ["x", "x"], "general": []})


def test_alert_ratios_are_shares():
    assert "systemic_alert_ratio" in _error(systemic_alert_ratio=5)


def test_has_category_knows_both_levels(config):
    assert config.has_category("billing") and config.has_category("billing/refund")
    assert not config.has_category("billing/rent") and not config.has_category("rent")


def test_keyword_rule_stands_alone():
    assert KeywordRule(keywords=["退款"], type="complaint").type == "complaint"


# ------------------------------------------------------------------ the shipped defaults


def test_shipped_defaults_load_and_validate(defaults, config):
    assert len(config.rules) >= 30
    assert {"technical", "billing", "logistics", "service-attitude", "process-efficiency"} <= set(
        config.categories
    )
    assert config.default_type == "other" and config.default_category == "general"


def _rows(name: str) -> list[dict]:
    assert DATA is not None
    with open(DATA / name, encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def test_a_sample_of_200_bitext_requests_classifies_into_the_vocabulary(classifier, config):
    rows = _rows("bitext/bitext_sample_6480.csv")[::32][:200]
    assert len(rows) == 200
    for row in rows:
        result = classifier.classify(row["instruction"])
        assert result.type in TYPES and result.urgency in URGENCIES
        assert result.impact in IMPACTS and config.has_category(result.category)


# What each bitext intent should become under the shipped rules: the type (refunds are
# complaints per a service request is a consultation) and the level-2 category.
_TYPE = {
    "complaint": "complaint",
    "review": "suggestion",
    "payment_issue": "technical",
    "registration_problems": "technical",
    "get_refund": "complaint",
    "track_refund": "complaint",
    "check_refund_policy": "complaint",
}
_CATEGORY = {
    "cancel_order": "order/cancel",
    "change_order": "order/change",
    "place_order": "order/place",
    "track_order": "logistics/tracking",
    "delivery_options": "logistics/delivery",
    "delivery_period": "logistics/delivery",
    "change_shipping_address": "logistics/address",
    "set_up_shipping_address": "logistics/address",
    "get_invoice": "billing/invoice",
    "check_invoice": "billing/invoice",
    "check_cancellation_fee": "billing/fee",
    "get_refund": "billing/refund",
    "track_refund": "billing/refund",
    "check_refund_policy": "billing/refund",
    "payment_issue": "billing/payment",
    "check_payment_methods": "billing/payment",
    "recover_password": "account/login",
    "registration_problems": "account/registration",
    "create_account": "account/registration",
    "edit_account": "account/profile",
    "delete_account": "account/profile",
    "switch_account": "account/profile",
    "complaint": "general",
    "review": "general",
    "contact_customer_service": "general",
    "contact_human_agent": "general",
    "newsletter_subscription": "general",
}


@pytest.fixture(scope="module")
def bitext(classifier) -> list[tuple[dict, Classification]]:
    return [
        (row, classifier.classify(row["instruction"]))
        for row in _rows("bitext/bitext_sample_6480.csv")
    ]


def test_bitext_refund_requests_are_complaints_or_billing(bitext):
    refunds = [result for row, result in bitext if row["category"] == "REFUND"]
    hits = sum(r.type == "complaint" or r.category.startswith("billing") for r in refunds)
    assert len(refunds) == 719
    assert hits / len(refunds) > 0.90  # measured 0.950 (the rest are misspellings)


def test_bitext_types_match_the_intents(bitext):
    right = sum(result.type == _TYPE.get(row["intent"], "consultation") for row, result in bitext)
    assert right / len(bitext) > 0.95  # measured 0.975


def test_bitext_categories_match_the_intents(bitext):
    right = sum(result.category == _CATEGORY[row["intent"]] for row, result in bitext)
    assert right / len(bitext) > 0.90  # measured 0.924


@pytest.mark.parametrize(
    ("intent", "wanted", "floor"),
    [
        ("complaint", "complaint", 0.93),  # measured 0.966
        ("review", "suggestion", 0.90),  # measured 0.961
        ("payment_issue", "technical", 0.90),  # measured 0.954
    ],
)
def test_bitext_feedback_and_fault_intents_get_their_type(bitext, intent, wanted, floor):
    results = [result.type for row, result in bitext if row["intent"] == intent]
    assert Counter(results)[wanted] / len(results) > floor


def test_banking77_stolen_or_compromised_cards_are_raised_and_routine_questions_are_not(classifier):
    urgency: dict[str, Counter] = {}
    for row in _rows("banking77/test.csv"):
        level = classifier.classify(row["text"]).urgency
        urgency.setdefault(row["category"], Counter())[level] += 1
    security = urgency["compromised_card"] + urgency["lost_or_stolen_card"]
    assert (security["urgent"] + security["high"]) / security.total() > 0.75  # measured 0.825
    routine = Counter()
    for intent in (
        "exchange_rate",
        "top_up_limits",
        "age_limit",
        "atm_support",
        "fiat_currency_support",
        "verify_my_identity",
    ):
        routine += urgency[intent]
    assert routine["urgent"] == 0


def test_classifying_is_fast(classifier):
    texts = [row["instruction"] for row in _rows("bitext/bitext_sample_6480.csv")]
    started = time.perf_counter()
    for text in texts:
        classifier.classify(text)
    assert len(texts) / (time.perf_counter() - started) > 2000  # measured ~15,000 texts/s
