"""Personal data (docs/process.md): forgetting a customer and the retention purge, on real
stores (SQLite and PostgreSQL). The history, the numbers and the statistics stay;
the personal data becomes unreadable, and an event records who erased it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from pydantic_core import to_jsonable_python

from domain.errors import NotFound
from domain.personal_data import erased_customer
from infra.store import store_env
from projections.audit import AuditTrail
from projections.stats import Statistics
from services.application import messages as m
from services.application.commands import CommandService
from services.application.desk import TicketDesk
from services.application.erasure import Eraser
from services.application.queries import QueryService
from services.application.registration import Registrar, Request
from tests.integration.projecting import dump, project, projector

ARRIVED = datetime(2026, 11, 24, 1, 59, tzinfo=UTC)
AGENT = {"id": "A007", "role": "agent"}
MANAGER = {"id": "M001", "role": "manager"}
PHONE, EMAIL = "13812345678", "zhang@example.com"


def request(
    external_id: str,
    customer_id: str | None = "C1001",
    content: str = "收到的商品与描述不符,要求退款!请回电13812345678",
    subject: str = "退款",
) -> Request:
    body = m.IntakeRequest.model_validate(
        {
            "external_id": external_id,
            "content": content,
            "subject": subject,
            "customer": {
                "name": "张女士",
                "company": "某公司",
                "phone": PHONE,
                "email": EMAIL,
                "customer_id": customer_id,
            },
            "attachments": [{"name": "张女士-发票.jpg", "url": "https://files.example/1"}],
        }
    )
    return Request("email", body, ARRIVED)


def register(desk: TicketDesk, *requests: Request) -> list[str]:
    return [str(r.ticket_id) for r in Registrar(desk).register(list(requests))]


def command(desk: TicketDesk, name: str, ticket_id: str, actor: dict, **fields: object) -> None:
    CommandService(desk).execute(
        name, m.COMMANDS[name].model_validate({"ticket_id": ticket_id, "actor": actor, **fields})
    )


def close(desk: TicketDesk, ticket_id: str, resolution: str = "refunded") -> None:
    command(desk, "close", ticket_id, AGENT, resolution=resolution)


def forget(desk: TicketDesk, **fields: object) -> dict:
    return CommandService(desk).forget(m.Forget.model_validate({"actor": MANAGER, **fields}))


def ticket(desk: TicketDesk, ticket_id: str) -> dict:
    return QueryService(desk).ticket(m.TicketQuery(ticket_id=ticket_id))["ticket"]


def history(desk: TicketDesk, ticket_id: str) -> dict:
    return QueryService(desk).history(m.HistoryQuery(ticket_id=ticket_id))


def decrypted_records(desk: TicketDesk) -> str:
    """Every stored event and snapshot, with the store's own encryption taken off."""
    mapper = desk.mapper
    records: list = list(desk.recorder.select_notifications(start=0, limit=100_000))
    assert desk.snapshots is not None
    for aggregate_id in {n.originator_id for n in records}:
        records += desk.snapshots.recorder.select_events(aggregate_id)
    assert mapper.cipher is not None
    return "".join(mapper.cipher.decrypt(r.state).decode() for r in records)


def personal_fields(view: dict) -> dict:
    return {k: view[k] for k in ("customer", "subject", "content", "attachments")}


def not_personal(view: dict) -> dict:
    return {
        k: v
        for k, v in view.items()
        if k not in ("customer", "attachments", "version", "updated_at")
    }


class TestForget:
    def test_the_customer_reads_as_erased_and_the_rest_of_the_ticket_stays(
        self, desk: TicketDesk
    ) -> None:
        [one, two] = register(desk, request("m1"), request("m2"))
        close(desk, one)
        before = ticket(desk, one)
        assert before["customer"] == {
            "name": "张女士",
            "company": "某公司",
            "phone": "138****5678",
            "email": "z***@example.com",
            "customer_id": "C1001",
            "erased": False,
        }
        assert before["attachments"] == [
            {"name": "张女士-发票.jpg", "url": "https://files.example/1"}
        ]

        reply = forget(desk, customer_id="C1001", reason="letter of 2026-11-30")

        assert reply["ok"] and reply["erased"] == 2
        assert {t["ticket_id"] for t in reply["tickets"]} == {one, two}
        after = ticket(desk, one)
        assert after["customer"] == erased_customer("C1001")
        assert after["attachments"] == []
        assert (after["subject"], after["content"]) == (before["subject"], before["content"])
        assert after["content"] == "收到的商品与描述不符,要求退款!请回电138****5678"
        assert not_personal(after) == not_personal(before)
        assert after["number"] == before["number"] and after["version"] == before["version"] + 1

    def test_the_history_still_verifies_and_records_who_erased_and_why(
        self, desk: TicketDesk, clock
    ) -> None:
        [one] = register(desk, request("m1"))
        close(desk, one)
        clock.advance(days=2)
        forget(desk, customer_id="C1001", reason="letter of 2026-11-30")

        replied = history(desk, one)
        assert replied["verified"] is True
        received, *_, erasure = replied["events"]
        assert received["data"]["customer"] == erased_customer("C1001")
        assert PHONE not in str(replied) and "张女士" not in str(replied)
        assert (
            erasure["type"],
            erasure["actor"],
            erasure["data"]["basis"],
            erasure["data"]["reason"],
        ) == ("PersonalDataErased", MANAGER, "request", "letter of 2026-11-30")
        assert erasure["time"] == "2026-11-26T02:00:00Z"

    def test_an_earlier_version_of_the_ticket_is_erased_too(self, desk: TicketDesk) -> None:
        [one] = register(desk, request("m1"))
        forget(desk, customer_id="C1001")
        as_of = QueryService(desk).ticket(m.TicketQuery(ticket_id=one, as_of=1))["ticket"]
        assert as_of["customer"] == erased_customer("C1001")

    def test_the_stored_bytes_no_longer_yield_the_contact_data(self, desk: TicketDesk) -> None:
        [one] = register(desk, request("m1"))
        for n in range(60):  # past the snapshot interval: a snapshot holds the state
            command(desk, "update", one, AGENT, note=f"note {n}")
        desk.take_snapshot(UUID(one))
        key_id = desk.load(UUID(one)).key_id
        assert key_id and desk.vault.key(key_id) is not None
        # Sealed from the start: the store's own decryption shows none of it...
        stored = decrypted_records(desk)
        for secret in (PHONE, EMAIL, "张女士", "某公司", "发票"):
            assert secret not in stored

        forget(desk, customer_id="C1001")

        # ...and the key that opens it is gone.
        assert desk.vault.key(key_id) is None
        assert ticket(desk, one)["customer"]["phone"] is None

    def test_the_statistics_and_the_audit_trail_count_the_same_after(
        self, desk: TicketDesk, store_url: str
    ) -> None:
        [one, _, _] = register(desk, request("m1"), request("m2"), request("m3", "C2"))
        close(desk, one)
        command(desk, "rate", one, AGENT, score=5)
        stats, audit = projector(Statistics({}), store_url), projector(AuditTrail(), store_url)
        project(desk, stats), project(desk, audit)
        stats_before, audit_before = dump(stats), dump(audit)

        forget(desk, customer_id="C1001")
        project(desk, stats), project(desk, audit)

        assert dump(stats) == stats_before
        audit_after = dump(audit)
        assert len(audit_after["audit_events"]) == len(audit_before["audit_events"]) + 2
        # The stream carries the name masked (its readers include analytics).
        assert "张**" in str(audit_before)
        assert PHONE[-4:] in str(audit_before)
        received = [r for r in audit_after["audit_events"] if r[4] == "Received"]
        assert sum("张**" in r[-1] for r in received) == 1  # C2's ticket only
        # A rebuild from the stream gives the same tables.
        for p in (stats, audit):
            with p.db.transaction() as tx:
                p.projection.reset(tx)
                tx.set_position(p.projection.name, 0)
            project(desk, p)
        assert dump(stats) == stats_before and dump(audit) == audit_after

    def test_other_customers_keep_their_data(self, desk: TicketDesk) -> None:
        [_, other] = register(desk, request("m1"), request("m2", "C2"))
        forget(desk, customer_id="C1001")
        assert ticket(desk, other)["customer"]["name"] == "张女士"
        assert ticket(desk, other)["customer"]["erased"] is False

    def test_an_unknown_customer_is_not_found(self, desk: TicketDesk) -> None:
        register(desk, request("m1"))
        with pytest.raises(NotFound):
            forget(desk, customer_id="C404")

    def test_forgetting_again_records_nothing_new(self, desk: TicketDesk) -> None:
        [one] = register(desk, request("m1"))
        forget(desk, customer_id="C1001")
        version = desk.load(UUID(one)).version
        assert forget(desk, customer_id="C1001")["erased"] == 0
        assert desk.load(UUID(one)).version == version

    def test_a_ticket_without_a_customer_id_is_forgotten_by_itself(self, desk: TicketDesk) -> None:
        [alone, other] = register(desk, request("m1", None), request("m2", None))
        reply = forget(desk, ticket_id=alone)
        assert [t["ticket_id"] for t in reply["tickets"]] == [alone]
        assert reply["subject"] == f"ticket:{alone}"
        assert ticket(desk, alone)["customer"]["erased"] is True
        assert ticket(desk, other)["customer"]["name"] == "张女士"

    def test_naming_a_ticket_forgets_its_customer(self, desk: TicketDesk) -> None:
        [one, two] = register(desk, request("m1"), request("m2"))
        number = desk.load(UUID(one)).number
        assert forget(desk, number=number)["subject"] == "customer:C1001"
        assert ticket(desk, two)["customer"]["erased"] is True

    def test_a_customer_who_comes_back_gets_a_new_key(self, desk: TicketDesk) -> None:
        [old] = register(desk, request("m1"))
        forget(desk, customer_id="C1001")
        [new] = register(desk, request("m2"))
        assert ticket(desk, new)["customer"]["name"] == "张女士"
        assert ticket(desk, old)["customer"]["erased"] is True
        assert desk.load(UUID(new)).key_id != desk.load(UUID(old)).key_id

    def test_only_a_manager_may_forget(self, desk: TicketDesk) -> None:
        from domain.errors import Forbidden

        register(desk, request("m1"))
        with pytest.raises(Forbidden):
            CommandService(desk).forget(
                m.Forget.model_validate({"actor": AGENT, "customer_id": "C1001"})
            )

    def test_the_stream_shows_the_erasure_and_erased_data_from_then_on(
        self, desk: TicketDesk
    ) -> None:
        from tests.integration.projecting import stream_of

        [one] = register(desk, request("m1"))
        before = [e for _, e in stream_of(desk)]
        forget(desk, customer_id="C1001")
        after = [e for _, e in stream_of(desk)]
        assert before[0]["type"] == "ticketflow.ticket.received.v2"
        assert before[0]["data"]["customer"]["name"] == "张**"  # masked on the stream
        assert after[0]["data"]["customer"] == erased_customer("C1001")
        assert after[-1]["type"] == "ticketflow.ticket.personal_data_erased.v1"
        assert after[-1]["subject"] == one
        assert "sealed" not in before[0]["data"] and "key_id" not in before[0]["data"]
        assert to_jsonable_python(after[-1]["data"]) == {
            "actor": MANAGER,
            "basis": "request",
            "reason": "customer request",
        }

    async def test_a_relay_batch_reveals_each_customer_by_the_key_it_still_has(
        self, desk: TicketDesk
    ) -> None:
        """The relay looks up a batch's keys at once: a forgotten customer's request in
        the same batch as another's still shows nothing of them."""
        from infra.relay import Relay

        register(desk, request("m1", "C1001"), request("m2", "C2002"))
        forget(desk, customer_id="C1001")
        outgoing, _ = Relay(desk, js=None)._read()  # type: ignore[arg-type]
        received = [
            json.loads(o.payload)["data"]["customer"] for o in outgoing if ".Received." in o.subject
        ]
        assert received[0] == erased_customer("C1001")
        assert received[1]["customer_id"] == "C2002" and received[1]["name"] == "张**"
        assert received[1]["phone"] != PHONE and received[1]["phone"].endswith("5678")


class TestRetentionPurge:
    """Default policy: personal data expires 90 days after the customer's last ticket
    closed; a complainant's is kept 3 years after the complaint arrived."""

    def consultation(self, external_id: str, customer_id: str | None) -> Request:
        return request(external_id, customer_id, content="请问你们周末营业吗?", subject="营业时间")

    def test_only_customers_whose_tickets_all_closed_long_enough_ago_are_purged(
        self, desk: TicketDesk, clock
    ) -> None:
        [expired, recent, still_open, complaint, anonymous] = register(
            desk,
            self.consultation("m1", "C1"),
            self.consultation("m2", "C2"),
            self.consultation("m3", "C3"),
            request("m4", "C4"),
            self.consultation("m5", None),
        )
        assert desk.load(UUID(complaint)).type == "complaint"
        assert desk.load(UUID(expired)).type == "consultation"
        for ticket_id in (expired, complaint, anonymous):
            close(desk, ticket_id)
        clock.advance(days=60)
        close(desk, recent)
        clock.advance(days=31)  # 91 days after the first closings, 31 after `recent`

        erasures = Eraser(desk).purge(clock.now)

        assert sorted(e.subject for e in erasures) == ["customer:C1", f"ticket:{anonymous}"]
        assert ticket(desk, expired)["customer"]["erased"] is True
        assert ticket(desk, anonymous)["customer"]["erased"] is True
        for kept in (recent, still_open, complaint):
            assert ticket(desk, kept)["customer"]["name"] == "张女士"
        erasure = history(desk, expired)["events"][-1]
        assert (erasure["type"], erasure["actor"], erasure["data"]["basis"]) == (
            "PersonalDataErased",
            {"id": "retention", "role": "system"},
            "retention",
        )

    def test_a_complainant_is_purged_three_years_after_the_complaint(
        self, desk: TicketDesk, clock
    ) -> None:
        [complaint] = register(desk, request("m1", "C4"))
        close(desk, complaint)
        clock.advance(days=3 * 365)
        assert Eraser(desk).purge(clock.now) == []
        clock.advance(days=1)  # 2026-11-24 + 3 calendar years (a leap day between)
        assert [e.subject for e in Eraser(desk).purge(clock.now)] == ["customer:C4"]

    def test_a_dry_run_names_them_and_changes_nothing(self, desk: TicketDesk, clock) -> None:
        [one] = register(desk, self.consultation("m1", "C1"))
        close(desk, one)
        version = desk.load(UUID(one)).version
        clock.advance(days=91)
        [plan] = Eraser(desk).purge(clock.now, dry_run=True)
        assert plan.subject == "customer:C1" and plan.tickets[0]["ticket_id"] == one
        assert desk.load(UUID(one)).version == version
        assert ticket(desk, one)["customer"]["name"] == "张女士"

    def test_the_purge_keeps_every_event_and_number(self, desk: TicketDesk, clock) -> None:
        [one] = register(desk, self.consultation("m1", "C1"))
        close(desk, one)
        before = history(desk, one)["events"]
        clock.advance(days=91)
        Eraser(desk).purge(clock.now)
        after = history(desk, one)
        assert after["verified"] is True
        assert [e["type"] for e in after["events"]] == [
            *(e["type"] for e in before),
            "PersonalDataErased",
        ]
        assert ticket(desk, one)["number"] == "CS202611240001"


class TestThePurgeSchedule:
    def test_it_runs_once_per_quarter_at_the_first_chance(self, desk: TicketDesk, clock) -> None:
        from services.automation.retention import RetentionSchedule

        [one] = register(desk, request("m1", "C1", content="请问营业时间?", subject="营业时间"))
        close(desk, one)
        schedule = RetentionSchedule(desk)
        assert schedule.run_once() == []  # never ran: runs now, nothing has expired yet
        clock.advance(days=30)
        assert schedule.run_once() is None  # 2026-12-24: this quarter's purge is done
        clock.advance(days=60)  # 2027-02-22: a new quarter began, and 90 days passed
        [erasure] = schedule.run_once() or []
        assert erasure.subject == "customer:C1"
        assert schedule.run_once() is None


def test_forgetting_destroys_the_key_bytes_in_the_sqlite_file(
    policy, clock, tmp_path: Path
) -> None:
    """SQLite only: on PostgreSQL the key table is rewritten (VACUUM FULL) and there is
    no file here to read."""
    store_url = f"sqlite:///{tmp_path / 'tickets.db'}"
    desk = TicketDesk(policy, store_env(store_url, tmp_path), clock=clock)
    try:
        register(desk, request("m1"))
        with desk.vault.db.transaction(write=False) as tx:
            [wrapped] = tx.execute("SELECT wrapped FROM personal_keys").fetchone()
        path = Path(store_url.removeprefix("sqlite:///"))
        files = [path, Path(f"{path}-wal")]
        assert any(wrapped.encode() in f.read_bytes() for f in files if f.exists())

        forget(desk, customer_id="C1001")

        assert not any(wrapped.encode() in f.read_bytes() for f in files if f.exists())
    finally:
        desk.close()
