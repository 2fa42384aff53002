"""Whether two requests say the same thing (domain.similarity), in Chinese and English."""

from __future__ import annotations

import pytest

from domain.similarity import Clusters, similarity, stem, terms, vector


def test_chinese_is_read_as_character_pairs_without_the_function_characters() -> None:
    assert set(terms("我的APP登录闪退了")) == {"登录", "录闪", "闪退", "app"}


def test_english_words_meet_in_their_stems_and_neighbours_pair_up() -> None:
    assert stem("charged") == stem("charges") == stem("charging") == "charg"
    assert "charg twic" in terms("I was charged twice")
    assert "was" not in terms("I was charged twice")


def test_numbers_and_masked_contacts_say_nothing_about_the_problem() -> None:
    assert terms("订单 DD4425639 电话 138****5678") == terms("订单 DD77 电话 139****0000")


def test_alike_requests_score_higher_than_unalike_ones() -> None:
    crash = vector("APP登录后马上闪退")
    assert similarity(crash, vector("app登录闪退了")) > similarity(crash, vector("发票抬头开错了"))
    assert similarity(crash, crash) == pytest.approx(1.0)
    assert similarity(crash, vector("")) == 0.0


class TestClusters:
    def test_a_request_joins_the_group_it_reads_like_or_starts_its_own(self) -> None:
        groups = Clusters(threshold=0.2, window=3600)
        first, _ = groups.add("a", 0, vector("APP登录后马上闪退"))
        assert first == "a"
        assert groups.add("b", 10, vector("app登录闪退了"))[0] == "a"
        assert groups.add("c", 20, vector("发票抬头开错了"))[0] == "c"

    def test_a_chain_of_near_neighbours_does_not_glue_unlike_requests(self) -> None:
        groups = Clusters(threshold=0.5, window=3600)
        groups.add("a", 0, {"x": 1.0})
        groups.add("b", 1, {"x": 0.8, "y": 0.6})  # like a (0.8)
        cluster, _ = groups.add("c", 2, {"y": 1.0})  # like b (0.6), unlike a: mean 0.3
        assert cluster == "c"

    def test_what_arrived_before_the_window_is_forgotten(self) -> None:
        groups = Clusters(threshold=0.2, window=60)
        groups.add("a", 0, vector("收不到短信验证码"))
        assert groups.add("b", 61, vector("验证码短信一直收不到"))[0] == "b"
        assert len(groups) == 1

    def test_held_in_any_order_the_window_answers_the_same(self) -> None:
        texts = ["收不到短信验证码", "验证码收不到", "发票抬头错了", "页面白屏", "短信验证码没来"]
        live = Clusters(threshold=0.2, window=100)
        clusters = [live.add(str(i), float(i), vector(t)) for i, t in enumerate(texts[:4])]
        reloaded = Clusters(threshold=0.2, window=100)
        for i in reversed(range(4)):
            reloaded.hold(str(i), float(i), clusters[i][0], vector(texts[i]))
        assert live.add("4", 4.0, vector(texts[4])) == reloaded.add("4", 4.0, vector(texts[4]))

    def test_a_window_of_at_most_n_keeps_the_latest_n_in_any_order_held(self) -> None:
        texts = ["收不到短信验证码", "验证码收不到", "发票抬头错了", "页面白屏"]
        probe = vector("短信验证码没来")  # reads like the first two
        unbounded = Clusters(threshold=0.2, window=100)
        capped = Clusters(threshold=0.2, window=100, most=2)
        clusters = [capped.add(str(i), float(i), vector(t))[0] for i, t in enumerate(texts)]
        for i, t in enumerate(texts):
            unbounded.add(str(i), float(i), vector(t))
        assert len(capped) == 2
        assert unbounded.add("4", 4.0, probe)[0] == "0"  # the first two are in its window
        assert capped.add("4", 4.0, probe) == ("4", 0.0)  # only the latest two are
        reloaded = Clusters(threshold=0.2, window=100, most=2)
        for i in (3, 0, 2, 1):  # held in another order (a restart): the same two stay
            reloaded.hold(str(i), float(i), clusters[i], vector(texts[i]))
        assert reloaded.add("4", 4.0, probe) == ("4", 0.0)
        assert len(reloaded) == 2
