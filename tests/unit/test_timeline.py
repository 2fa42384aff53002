"""`ticketflow replay`'s formatting: history and ticket replies in, readable lines out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.cli import timeline as tl

SHANGHAI = tl.zone("Asia/Shanghai")
TICKET_ID = "cbc7b821-a310-526d-88ad-0d7fde7d58c1"
AGENT = {"id": "A007", "role": "agent"}
SUPERVISOR = {"id": "S001", "role": "supervisor"}


def event(
    version: int,
    kind: str | None,
    data: dict,
    actor: dict | None = None,
    time: str = "2026-11-24T02:30:00Z",
) -> dict:
    return {"version": version, "type": kind, "time": time, "actor": actor or AGENT, "data": data}


HISTORY = [
    event(
        1,
        "Received",
        {
            "channel": "email",
            "customer": {"name": "张女士", "phone": "138****5678"},
            "subject": "退款",
            "content": "收到的商品与描述不符,要求退款!",
            "attachments": [],
            "alert": None,
        },
        {"id": "email", "role": "channel"},
        "2026-11-24T01:30:00Z",
    ),
    event(
        2,
        "Classified",
        {
            "type": "complaint",
            "category": "billing/refund",
            "priority": "high",
            "impact": "individual",
            "reason": "keywords: 退款",
        },
        {"id": "classifier", "role": "system"},
        "2026-11-24T01:30:00Z",
    ),
    event(
        3, "Assigned", {"assignee": "A007", "collaborators": []}, SUPERVISOR, "2026-11-24T01:35:00Z"
    ),
    event(4, "Acknowledged", {}, AGENT, "2026-11-24T01:40:00Z"),
    event(
        5,
        "Closed",
        {"resolution": "refunded", "handling_seconds": 3720},
        AGENT,
        "2026-11-24T02:32:00Z",
    ),
]
TICKET = {
    "ticket_id": TICKET_ID,
    "number": "CS202611240001",
    "version": 5,
    "status": "closed",
    "assignee": "A007",
    "collaborators": [],
    "priority": "high",
    "type": "complaint",
    "category": "billing/refund",
    "impact": "individual",
    "escalation_level": None,
    "score": None,
    "reopen_count": 0,
    "updated_at": "2026-11-24T02:32:00Z",
    "sla": {
        "first_response": {
            "due": "2026-11-24T05:30:00Z",
            "state": "met",
            "met_at": "2026-11-24T02:32:00Z",
        },
        "resolution": {"due": "2026-11-26T01:30:00Z", "state": "breached", "met_at": None},
    },
}


class TestWhatTheUserTypes:
    def test_a_uuid_names_the_ticket_by_id(self) -> None:
        assert tl.ticket_ref(f" {TICKET_ID.upper()} ") == {"ticket_id": TICKET_ID}

    def test_a_human_number_names_the_ticket_by_number(self) -> None:
        assert tl.ticket_ref("cs202611240001") == {"number": "CS202611240001"}

    @pytest.mark.parametrize("text", ["", "hello", "CS-1", "12"])
    def test_anything_else_is_refused_with_an_example(self, text: str) -> None:
        with pytest.raises(ValueError, match="CS202611240001"):
            tl.ticket_ref(text)

    def test_as_of_takes_a_version_number(self) -> None:
        assert tl.as_of_point("5") == 5

    def test_as_of_takes_an_rfc3339_time(self) -> None:
        assert tl.as_of_point("2026-11-24T10:30:00+08:00") == datetime(
            2026, 11, 24, 2, 30, tzinfo=UTC
        )
        assert tl.as_of_point("2026-11-24T02:30:00Z") == datetime(2026, 11, 24, 2, 30, tzinfo=UTC)

    @pytest.mark.parametrize(
        "text, says", [("0", "from 1"), ("soon", "RFC 3339"), ("2026-11-24T10:30:00", "time zone")]
    )
    def test_as_of_refuses_what_is_not_a_point_in_history(self, text: str, says: str) -> None:
        with pytest.raises(ValueError, match=says):
            tl.as_of_point(text)

    def test_an_unknown_time_zone_is_refused(self) -> None:
        with pytest.raises(ValueError, match="Mars/Base"):
            tl.zone("Mars/Base")


class TestOneLinePerEvent:
    def test_a_line_shows_local_time_version_actor_and_what_happened(self) -> None:
        line = tl.event_line(HISTORY[2], SHANGHAI)
        assert line.text == ("2026-11-24 09:35:00  v3   S001 (supervisor)      Assigned to A007")

    def test_received_names_channel_customer_and_quotes_the_request(self) -> None:
        text = tl.summary(HISTORY[0], SHANGHAI)
        assert text == (
            'Received via email from 张女士 (138****5678): "退款 — 收到的商品与描述不符,要求退款!"'
        )

    def test_a_request_that_arrived_late_shows_when_the_customer_sent_it(self) -> None:
        late = {**HISTORY[0], "data": {**HISTORY[0]["data"], "received_at": "2026-11-23T23:50:00Z"}}
        assert " · received 2026-11-24 07:50:00" in tl.summary(late, SHANGHAI)
        on_time = {**late, "data": {**late["data"], "received_at": "2026-11-24T01:29:30Z"}}
        assert "received 2026" not in tl.summary(on_time, SHANGHAI)

    def test_an_alert_shows_kind_source_and_share_of_users(self) -> None:
        data = {
            "channel": "monitoring",
            "customer": {},
            "content": "支付接口超时",
            "alert": {
                "source": "prometheus",
                "kind": "payment_api_timeout",
                "affected_ratio": 0.12,
            },
        }
        assert "alert payment_api_timeout from prometheus, 12% of users affected" in (
            tl.summary(event(1, "Received", data), SHANGHAI)
        )

    @pytest.mark.parametrize(
        "kind, data, expected",
        [
            (
                "Classified",
                {
                    "type": "complaint",
                    "category": "billing/refund",
                    "priority": "high",
                    "impact": "individual",
                    "reason": "keywords: 退款",
                },
                "Classified complaint · billing/refund · priority high (keywords: 退款)",
            ),
            (
                "Classified",
                {
                    "type": "technical",
                    "category": "technical/front-end",
                    "priority": "urgent",
                    "impact": "group",
                    "reason": "3 customers",
                },
                "Classified technical · technical/front-end · priority urgent · impact group "
                "(3 customers)",
            ),
            (
                "ImpactRaised",
                {
                    "impact": "group",
                    "priority": "high",
                    "linked": ["t1", "t2"],
                    "reason": "3 customers reported account/login",
                },
                "ImpactRaised to group · priority high (3 customers reported account/login; "
                "linked to 2 ticket(s))",
            ),
            ("Assigned", {"assignee": "A007", "collaborators": []}, "Assigned to A007"),
            (
                "Assigned",
                {"assignee": "A007", "collaborators": ["A003", "A004"]},
                "Assigned to A007 with A003, A004",
            ),
            ("Acknowledged", {}, "Acknowledged"),
            (
                "ProgressUpdated",
                {
                    "note": "we are on it",
                    "visibility": "customer",
                    "next_step": "refund",
                    "waiting_on_customer": False,
                },
                'ProgressUpdated [customer] "we are on it" → next: refund',
            ),
            (
                "ProgressUpdated",
                {
                    "note": "请提供截图",
                    "visibility": "customer",
                    "next_step": None,
                    "expected_done_at": "2026-11-25T10:00:00Z",
                    "waiting_on_customer": True,
                },
                'ProgressUpdated [customer] "请提供截图" · expected done 2026-11-25 18:00:00 '
                "· waiting on the customer",
            ),
            (
                "Escalated",
                {"level": "supervisor", "reason": "sla_breach", "target": "first_response"},
                "Escalated to supervisor: sla_breach (first_response)",
            ),
            (
                "Escalated",
                {"level": "manager", "reason": "customer threatens the press", "target": None},
                "Escalated to manager: customer threatens the press",
            ),
            (
                "Closed",
                {"resolution": "refunded", "handling_seconds": 3720.4},
                "Closed: refunded (handled in 1h 02m)",
            ),
            ("Rated", {"score": 2, "comment": "slow"}, 'Rated 2/5 "slow"'),
            ("Rated", {"score": 5, "comment": None}, "Rated 5/5"),
            ("Reopened", {"reason": "customer rated 2"}, "Reopened: customer rated 2"),
        ],
    )
    def test_each_event_reads_as_a_short_phrase(self, kind: str, data: dict, expected: str) -> None:
        assert tl.summary(event(3, kind, data), SHANGHAI) == expected

    def test_an_event_type_it_does_not_know_still_shows_its_fields(self) -> None:
        text = tl.summary(event(9, "Merged", {"into": "CS1", "sla": {"x": 1}}), SHANGHAI)
        assert text == "Merged into=CS1"

    def test_an_unreadable_stored_event_is_shown_in_red(self) -> None:
        unreadable = {"version": 4, "type": None, "error": "unreadable stored event: InvalidTag"}
        line = tl.event_line(unreadable, SHANGHAI)
        assert "v4" in line.text and "unreadable stored event: InvalidTag" in line.text
        assert "red" in line.style

    def test_long_text_is_cut_and_kept_on_one_line(self) -> None:
        text = tl.summary(
            event(
                5,
                "ProgressUpdated",
                {"note": "line one\nline two " + "x" * 80, "visibility": "internal"},
            ),
            SHANGHAI,
        )
        assert "\n" not in text and text.endswith('…"') and "line one line two" in text

    @pytest.mark.parametrize(
        "seconds, shown", [(45, "45s"), (725, "12m 05s"), (3720, "1h 02m"), (273600, "3d 04h")]
    )
    def test_durations_read_like_a_clock(self, seconds: float, shown: str) -> None:
        assert tl.duration(seconds) == shown


class TestTheWholeReplay:
    def test_it_ends_with_the_state_and_the_verification(self) -> None:
        lines = [
            line.text for line in tl.render({"events": HISTORY, "verified": True}, TICKET, SHANGHAI)
        ]
        assert lines[0] == (f"Ticket CS202611240001 ({TICKET_ID}) · times in Asia/Shanghai")
        assert len([x for x in lines if x.startswith("2026-11-24")]) == 5
        assert "  status      closed" in lines
        assert "  assignee    A007" in lines
        assert "  priority    high · complaint · billing/refund · impact individual" in lines
        assert any(x.split()[:3] == ["first_response", "met", "2026-11-24"] for x in lines)
        assert any(
            x.split()[:4] == ["resolution", "breached", "2026-11-26", "09:30:00"] for x in lines
        )
        assert lines[-1] == "history verified: yes"

    def test_a_tampered_history_says_so(self) -> None:
        last = tl.render({"events": HISTORY, "verified": False}, TICKET, SHANGHAI)[-1]
        assert last.text == "history verified: NO (tampered)"
        assert "red" in last.style

    def test_as_of_a_version_shows_the_events_up_to_it(self) -> None:
        lines = [
            x.text
            for x in tl.render(
                {"events": HISTORY, "verified": True},
                {**TICKET, "version": 3, "status": "assigned"},
                SHANGHAI,
                3,
            )
        ]
        assert "as of version 3" in lines[0]
        assert [x.split()[2] for x in lines if x.startswith("2026-")] == ["v1", "v2", "v3"]
        assert "(2 later event(s) not shown)" in lines
        assert "  status      assigned" in lines

    def test_as_of_a_moment_shows_the_events_until_then(self) -> None:
        moment = tl.as_of_point("2026-11-24T09:36:00+08:00")
        assert [e["version"] for e in tl.events_until(HISTORY, moment)] == [1, 2, 3]
        assert tl.events_until(HISTORY, None) == HISTORY

    def test_times_are_shown_in_the_zone_asked_for(self) -> None:
        line = tl.event_line(HISTORY[2], tl.zone("UTC"))
        assert line.text.startswith("2026-11-24 01:35:00")

    def test_linked_tickets_are_counted_in_the_state(self) -> None:
        lines = tl.state_lines({**TICKET, "linked": ["t1", "t2"]}, SHANGHAI)
        assert "  linked      2 ticket(s) with the same problem" in [x.text for x in lines]

    def test_a_state_that_cannot_be_replayed_still_shows_the_history(self) -> None:
        history = {
            "ticket_id": TICKET_ID,
            "verified": False,
            "events": [
                HISTORY[0],
                {"version": 2, "type": None, "error": "unreadable stored event: InvalidTag"},
            ],
        }
        lines = [x.text for x in tl.render(history, "internal: InvalidTag", SHANGHAI)]
        assert lines[0] == f"Ticket ({TICKET_ID}) · times in Asia/Shanghai"
        assert "unreadable stored event: InvalidTag" in lines[2]
        assert "State: cannot be replayed (internal: InvalidTag)" in lines
        assert lines[-1] == "history verified: NO (tampered)"
