"""Personal data without IO: what a reader is shown, sealed or not, erased or not; when
personal data expires under the retention policy; old stored events still load."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from eventsourcing.persistence import StoredEvent

from domain.event_data import event_data
from domain.personal_data import erased_customer, kept_part, sealed_part, shown
from domain.retention import RetentionConfig, after, expires_at, parse_period, period_start
from domain.ticket import ticket_id_for
from infra.policy_file import PolicyError, load_policy
from services.application.desk import TicketDesk

GOLDEN = Path(__file__).parents[1] / "fixtures" / "events" / "v1.json"
CUSTOMER = {
    "name": "张女士",
    "company": None,
    "phone": "13812345678",
    "email": "zhang@example.com",
    "customer_id": "C1",
}
T0 = datetime(2026, 1, 10, tzinfo=UTC)


class TestWhatAReaderIsShown:
    def personal(self) -> dict:
        return {"customer": CUSTOMER, "subject": "退款 13812345678", "content": "回电13812345678"}

    def test_sealed_data_opened_with_its_key_reads_masked(self) -> None:
        stored = {**kept_part(**self.personal()), "sealed": "…"}
        opened = sealed_part(**self.personal(), attachments=[{"name": "a.jpg", "url": "u"}])
        view = shown(stored, opened, erased=False)
        assert view["customer"] == {
            **CUSTOMER,
            "phone": "138****5678",
            "email": "z***@example.com",
            "erased": False,
        }
        assert view["content"] == "回电138****5678"
        assert view["attachments"] == [{"name": "a.jpg", "url": "u"}]

    def test_sealed_data_without_its_key_reads_erased_with_the_record_kept(self) -> None:
        stored = {**kept_part(**self.personal()), "sealed": "…"}
        view = shown(stored, None, erased=False)
        assert view == {
            "customer": erased_customer("C1"),
            "subject": "退款 138****5678",
            "content": "回电138****5678",
            "attachments": [],
        }

    def test_the_kept_part_holds_no_contact_data(self) -> None:
        kept = json.dumps(kept_part(**self.personal()), ensure_ascii=False)
        assert "13812345678" not in kept and "张女士" not in kept and "zhang" not in kept


@pytest.fixture(scope="module")
def received():
    """The golden file's Received event, stored as v1 (contact data in the clear)."""
    mapper = TicketDesk(load_policy(), {"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper
    record = json.loads(GOLDEN.read_text())[0]
    return mapper.to_domain_event(
        StoredEvent(
            originator_id=ticket_id_for("email", "golden-1"),
            originator_version=1,
            topic=record["topic"],
            state=json.dumps(record["state"]).encode(),
        )
    )


class TestOldStoredEvents:
    def test_a_v1_received_event_is_upcast_with_no_key(self, received) -> None:
        assert (received.key_id, received.sealed) == (None, None)
        assert received.customer["phone"] == "13812345678"

    def test_it_reads_masked_as_before_until_an_erasure_is_recorded(self, received) -> None:
        assert event_data(received)["customer"]["phone"] == "138****5678"
        erased = event_data(received, erased=True)
        assert erased["customer"] == erased_customer("C1")
        assert erased["content"] == "要求退款"


class TestRetention:
    config = RetentionConfig()

    def ticket(
        self,
        closed_days_ago: float | None,
        type_: str = "consultation",
        received_days_ago: float = 200,
    ) -> dict:
        now = T0 + timedelta(days=400)
        return {
            "closed_at": None if closed_days_ago is None else now - timedelta(days=closed_days_ago),
            "received_at": now - timedelta(days=received_days_ago),
            "type": type_,
        }

    def test_data_expires_90_days_after_the_last_ticket_closed(self) -> None:
        now = T0 + timedelta(days=400)
        tickets = [self.ticket(100), self.ticket(95)]
        assert expires_at(self.config, tickets) == now - timedelta(days=5)
        assert expires_at(self.config, [*tickets, self.ticket(30)]) == now + timedelta(days=60)

    def test_an_open_ticket_keeps_the_data(self) -> None:
        assert expires_at(self.config, [self.ticket(100), self.ticket(None)]) is None

    def test_a_complaint_keeps_the_data_three_years_after_it_arrived(self) -> None:
        complaint = self.ticket(100, "complaint", received_days_ago=200)
        assert expires_at(self.config, [complaint]) == after(complaint["received_at"], "3y")

    def test_periods_are_days_or_calendar_years(self) -> None:
        assert parse_period("90d") == (0, 90) and parse_period("3y") == (3, 0)
        assert after(datetime(2024, 2, 29, tzinfo=UTC), "1y") == datetime(2025, 3, 1, tzinfo=UTC)
        with pytest.raises(ValueError, match="90 days"):
            parse_period("90 days")

    def test_the_purge_period_begins_at_local_midnight(self) -> None:
        tz = ZoneInfo("Asia/Shanghai")
        now = datetime(2026, 5, 20, 1, tzinfo=UTC)
        assert period_start(now, "quarterly", tz) == datetime(2026, 4, 1, tzinfo=tz)
        assert period_start(now, "monthly", tz) == datetime(2026, 5, 1, tzinfo=tz)
        assert period_start(now, "weekly", tz) == datetime(2026, 5, 18, tzinfo=tz)
        assert period_start(now, "daily", tz) == datetime(2026, 5, 20, tzinfo=tz)

    @pytest.mark.parametrize(
        ("table", "named"),
        [
            ('complaint_records_min = "2y"', "retention: Value error, complaint_records_min '2y'"),
            ('personal_data = "3 months"', "retention.personal_data"),
            ('purge_every = "yearly"', "retention.purge_every"),
        ],
    )
    def test_a_bad_retention_key_is_refused_by_name(
        self, tmp_path: Path, table: str, named: str
    ) -> None:
        path = tmp_path / "policy.toml"
        path.write_text(f"[retention]\n{table}\n")
        with pytest.raises(PolicyError, match=named.replace("(", r"\(")):
            load_policy(path)
