"""The Ticket aggregate: given events, when a command, then new events or a domain error."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.domain import Snapshot

from domain.actor import Actor
from domain.errors import Forbidden, IllegalState, Invalid
from domain.ticket import Ticket, event_digest, project_chain, ticket_id_for

T0 = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
AGENT = Actor("A007", "agent")
OTHER_AGENT = Actor("A008", "agent")
SUPERVISOR = Actor("S001", "supervisor")
CUSTOMER = Actor("web", "channel")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def received() -> Ticket:
    return Ticket.receive(
        channel="email",
        external_id="mail-1",
        number="CS202611240001",
        received_at=T0,
        customer={"name": "张女士", "phone": "13812345678", "email": None},
        subject="退款",
        content="收到的商品与描述不符,要求退款!",
        attachments=[],
        alert=None,
        at=T0,
    )


def assigned() -> Ticket:
    ticket = received()
    ticket.assign(assignee="A007", collaborators=[], sla={}, actor=SUPERVISOR, at=at(1))
    return ticket


def closed() -> Ticket:
    ticket = assigned()
    ticket.close(resolution="refunded", actor=AGENT, at=at(60))
    return ticket


def names(ticket: Ticket) -> list[str]:
    return [type(e).__name__ for e in ticket.collect_events()]


class TestReceiving:
    def test_the_same_channel_and_external_id_always_name_the_same_ticket(self) -> None:
        assert received().id == ticket_id_for("email", "mail-1")
        assert ticket_id_for("email", "mail-1") != ticket_id_for("web", "mail-1")

    def test_a_new_ticket_is_open_and_keeps_the_request_verbatim(self) -> None:
        ticket = received()
        assert ticket.status == "open"
        assert ticket.content == "收到的商品与描述不符,要求退款!"
        assert ticket.version == 1

    def test_blank_content_is_refused(self) -> None:
        with pytest.raises(Invalid):
            Ticket.receive(
                channel="web",
                external_id="x",
                number="CS1",
                received_at=T0,
                customer={},
                subject=None,
                content="  \n ",
                attachments=[],
                alert=None,
                at=T0,
            )


class TestAssigningAndAcknowledging:
    def test_assignment_sets_the_handler_and_status(self) -> None:
        ticket = assigned()
        assert (ticket.assignee, ticket.status) == ("A007", "assigned")

    def test_an_agent_may_assign_only_to_themself(self) -> None:
        ticket = received()
        with pytest.raises(Forbidden):
            ticket.assign(assignee="A008", collaborators=[], sla={}, actor=AGENT, at=at(1))
        ticket.assign(assignee="A007", collaborators=[], sla={}, actor=AGENT, at=at(1))
        assert ticket.assignee == "A007"

    def test_only_the_assignee_acknowledges(self) -> None:
        ticket = assigned()
        with pytest.raises(Forbidden):
            ticket.acknowledge(actor=OTHER_AGENT, at=at(2))
        ticket.acknowledge(actor=AGENT, at=at(2))
        assert ticket.status == "in_progress"

    def test_acknowledging_an_unassigned_ticket_is_illegal(self) -> None:
        with pytest.raises(IllegalState):
            received().acknowledge(actor=AGENT, at=at(2))

    def test_acknowledging_twice_is_illegal(self) -> None:
        ticket = assigned()
        ticket.acknowledge(actor=AGENT, at=at(2))
        with pytest.raises(IllegalState):
            ticket.acknowledge(actor=AGENT, at=at(3))


class TestWaitingOnTheCustomer:
    def test_an_update_waiting_on_the_customer_pauses_and_the_next_resumes(self) -> None:
        ticket = assigned()
        ticket.update(
            note="need order number",
            visibility="customer",
            next_step=None,
            expected_done_at=None,
            waiting_on_customer=True,
            sla={},
            actor=AGENT,
            at=at(5),
        )
        assert (ticket.status, ticket.paused_at) == ("waiting_on_customer", at(5))
        ticket.update(
            note="got it",
            visibility="internal",
            next_step="refund",
            expected_done_at=at(120),
            waiting_on_customer=False,
            sla={},
            actor=AGENT,
            at=at(30),
        )
        assert (ticket.status, ticket.paused_at) == ("in_progress", None)


class TestClosingRatingReopening:
    def test_close_is_legal_from_every_status_but_closed(self) -> None:
        ticket = received()
        ticket.close(resolution="answered", actor=AGENT, at=at(10))
        assert ticket.status == "closed"
        with pytest.raises(IllegalState):
            ticket.close(resolution="again", actor=AGENT, at=at(11))

    def test_closing_records_the_handling_time(self) -> None:
        ticket = closed()
        event = ticket.collect_events()[-1]
        assert event.handling_seconds == 3600

    def test_rating_before_close_is_illegal(self) -> None:
        with pytest.raises(IllegalState):
            assigned().rate(score=5, comment=None, actor=CUSTOMER, at=at(5))

    def test_a_closure_is_rated_once(self) -> None:
        ticket = closed()
        ticket.rate(score=5, comment="thanks", actor=CUSTOMER, at=at(61))
        with pytest.raises(IllegalState):
            ticket.rate(score=4, comment=None, actor=CUSTOMER, at=at(62))

    def test_a_score_outside_one_to_five_is_invalid(self) -> None:
        with pytest.raises(Invalid):
            closed().rate(score=6, comment=None, actor=CUSTOMER, at=at(61))

    def test_reopening_hands_the_ticket_back_to_the_assignee(self) -> None:
        ticket = closed()
        ticket.reopen(reason="still broken", sla={}, actor=CUSTOMER, at=at(70))
        assert (ticket.status, ticket.assignee, ticket.reopen_count) == ("assigned", "A007", 1)

    def test_only_a_closed_ticket_reopens(self) -> None:
        with pytest.raises(IllegalState):
            assigned().reopen(reason="?", sla={}, actor=CUSTOMER, at=at(5))

    def test_nothing_but_rate_and_reopen_touches_a_closed_ticket(self) -> None:
        ticket = closed()
        for attempt in (
            lambda: ticket.classify(
                type="other",
                category="general",
                priority="low",
                urgency="low",
                impact="individual",
                reason="r",
                sla={},
                actor=AGENT,
                at=at(61),
            ),
            lambda: ticket.assign(
                assignee="A007", collaborators=[], sla={}, actor=AGENT, at=at(61)
            ),
            lambda: ticket.escalate(level="supervisor", reason="r", actor=AGENT, at=at(61)),
            lambda: ticket.update(
                note="n",
                visibility="internal",
                next_step=None,
                expected_done_at=None,
                waiting_on_customer=False,
                sla={},
                actor=AGENT,
                at=at(61),
            ),
        ):
            with pytest.raises(IllegalState):
                attempt()


class TestSlaTargets:
    def test_first_customer_visible_update_meets_first_response(self) -> None:
        ticket = received()
        due = {"clock": "wall", "duration": "30m", "started_at": T0, "due": at(30)}
        ticket.classify(
            type="complaint",
            category="billing/refund",
            priority="urgent",
            urgency="urgent",
            impact="individual",
            reason="kw",
            sla={"first_response": due},
            actor=SUPERVISOR,
            at=at(1),
        )
        ticket.update(
            note="internal only",
            visibility="internal",
            next_step=None,
            expected_done_at=None,
            waiting_on_customer=False,
            sla={},
            actor=AGENT,
            at=at(5),
        )
        assert ticket.sla["first_response"]["met_at"] is None
        ticket.update(
            note="we are on it",
            visibility="customer",
            next_step=None,
            expected_done_at=None,
            waiting_on_customer=False,
            sla={},
            actor=AGENT,
            at=at(10),
        )
        assert ticket.sla["first_response"]["met_at"] == at(10)

    def test_closing_answers_every_running_target(self) -> None:
        ticket = received()
        cadence = {"clock": "wall", "duration": "1h", "started_at": T0, "due": at(60)}
        ticket.classify(
            type="technical",
            category="technical",
            priority="normal",
            urgency="normal",
            impact="individual",
            reason="kw",
            sla={"update_every": cadence, "resolution": {**cadence, "due": at(600)}},
            actor=SUPERVISOR,
            at=at(1),
        )
        ticket.close(resolution="fixed", actor=AGENT, at=at(30))
        assert {name: t["met_at"] for name, t in ticket.sla.items()} == {
            "update_every": at(30),
            "resolution": at(30),
        }

    def test_the_same_breach_escalates_to_a_level_once(self) -> None:
        ticket = assigned()
        ticket.escalate(
            level="supervisor",
            reason="sla_breach",
            target="first_response",
            actor=Actor("sla", "system"),
            at=at(31),
        )
        with pytest.raises(IllegalState):
            ticket.escalate(
                level="supervisor",
                reason="sla_breach",
                target="first_response",
                actor=Actor("sla", "system"),
                at=at(32),
            )
        ticket.escalate(
            level="manager",
            reason="sla_breach",
            target="first_response",
            actor=Actor("sla", "system"),
            at=at(300),
        )
        assert ticket.escalation_level == "manager"


class TestHashChain:
    def test_each_event_records_the_digest_of_the_one_before(self) -> None:
        ticket = closed()
        events = ticket.collect_events()
        assert events[0].prev == ""
        for before, after in itertools.pairwise(events):
            assert after.prev == event_digest(before)

    def test_replaying_the_events_gives_the_same_ticket(self) -> None:
        ticket = closed()
        events = ticket.collect_events()
        replayed = None
        for event in events:
            replayed = event.mutate(replayed)
        assert replayed is not None
        assert vars(replayed) == vars(ticket)

    def test_the_services_projector_gives_what_the_librarys_gives_at_every_version(
        self,
    ) -> None:
        ticket = closed()
        ticket.rate(score=2, comment="慢", actor=CUSTOMER, at=at(90))
        events = ticket.collect_events()
        for version in range(1, len(events) + 1):
            ours = project_chain(None, events[:version])
            theirs = project_aggregate(None, events[:version])
            assert vars(ours) == vars(theirs)
            assert ours.chain_head == event_digest(events[version - 1])

    def test_replaying_from_a_snapshot_keeps_the_snapshots_chain_head(self) -> None:
        ticket = assigned()
        events = ticket.collect_events()
        snapshot = Snapshot.take(ticket)
        ticket.close(resolution="refunded", actor=AGENT, at=at(60))
        later = ticket.collect_events()
        assert vars(project_chain(None, [snapshot])) == vars(project_aggregate(None, [snapshot]))
        assert project_chain(None, [snapshot]).chain_head == event_digest(events[-1])
        resumed = project_chain(None, [snapshot, *later])
        assert vars(resumed) == vars(project_aggregate(None, [*events, *later]))
