"""Which articles answer a question (`domain.article_search.ArticleIndex`): a floor under
the hit rate on the shipped articles and the held-out questions, and the ranking's
small rules.

The floor sits a few points under the figures `python -m bench.kb_suggest` measured
(2026-12-03; bench/README.md): top-3 0.902 overall (Chinese 0.954, English 0.851),
top-1 0.682, against 0.848 for the plain cosine baseline. A change that drops a figure
under its floor makes suggestions worse; one that lifts them should lift the floor.
"""

from __future__ import annotations

from bench.kb_suggest import baseline, entries, hits, questions
from domain.article_search import ArticleIndex, Entry

ARTICLES = entries()  # deploy/kb, read as `ticketflow kb import` reads it
ASKED = questions()  # bench/data/kb_questions.json


def test_the_shipped_articles_answer_the_held_out_questions_above_the_floor() -> None:
    rates = hits(ArticleIndex(ARTICLES).rank, ASKED)["rates"]
    assert len(ARTICLES) == 30 and rates["all"]["questions"] == 132
    assert rates["all"]["top3"] >= 0.87
    assert rates["zh"]["top3"] >= 0.92
    assert rates["en"]["top3"] >= 0.82
    assert rates["all"]["top1"] >= 0.64
    assert rates["all"]["top3"] > hits(baseline(ARTICLES), ASKED)["rates"]["all"]["top3"]


LOGIN_ZH = Entry(
    "login-zh",
    "登录失败怎么办",
    "登录时提示账号或密码错误，请点击忘记密码重置；连续输错5次账号会锁定30分钟。",
    ["您好，请点击“忘记密码”重置后再试。"],
    "zh",
)
LOGIN_EN = Entry(
    "login-en",
    "Can't sign in to your account",
    "If the password is wrong five times in a row, the account locks for 30 minutes. "
    "Use Forgot password to set a new one.",
    ["Hi, please reset your password with Forgot password and sign in again."],
    "en",
)
REFUND_EN = Entry(
    "refund-en",
    "How long does a refund take",
    "Refunds go back to the original payment method within 3 to 5 working days.",
    [],
    "en",
)
DAMAGED_ZH = Entry(
    "damaged-zh",
    "收到的商品破损",
    "商品在运输途中摔碎或压坏，请上传照片申请售后，我们为您补发或退款。",
    [],
    "zh",
)
INDEX = ArticleIndex([LOGIN_ZH, LOGIN_EN, REFUND_EN, DAMAGED_ZH])


def test_a_chinese_question_finds_the_chinese_article() -> None:
    (best, score), *_ = INDEX.rank("登录不上去，密码输错了好几次")
    assert best == "login-zh" and 0 < score <= 1


def test_a_single_chinese_character_is_enough_to_find_an_article() -> None:
    # no character pair in common (镜子, 子碎), one character: 碎
    assert [key for key, _ in INDEX.rank("镜子碎了")] == ["damaged-zh"]


def test_an_english_question_finds_the_english_article_and_the_limit_holds() -> None:
    ranked = INDEX.rank("how many days until my refund arrives", limit=1)
    assert [key for key, _ in ranked] == ["refund-en"]


def test_the_language_filter_keeps_only_that_language() -> None:
    assert [key for key, _ in INDEX.rank("password 密码", limit=5, language="en")] == ["login-en"]
    assert [key for key, _ in INDEX.rank("密码错误", language="zh")] == ["login-zh"]
    assert INDEX.rank("密码错误", language="en") == []


def test_an_unrelated_question_gets_no_article() -> None:
    assert INDEX.rank("quantum chromodynamics lattice gauge") == []
    assert INDEX.rank("") == []


def test_ties_go_to_the_smaller_key_and_the_same_input_ranks_the_same() -> None:
    twins = [
        Entry(key, "Tracking your parcel", "Open My orders, then Track parcel.") for key in "ba"
    ]
    index = ArticleIndex([*twins, REFUND_EN])
    ranked = index.rank("track my parcel")
    assert [key for key, _ in ranked[:2]] == ["a", "b"] and ranked[0][1] == ranked[1][1]
    assert ArticleIndex([*reversed(twins), REFUND_EN]).rank("track my parcel") == ranked
