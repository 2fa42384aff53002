"""Forgetting a customer from outside: `tickets.cmd.forget` on a running service (a
manager only), and the `forget` and `purge` commands of the CLI on the store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from typer.testing import CliRunner

from domain.personal_data import erased_customer
from infra.store import store_env
from services.application.desk import TicketDesk
from services.cli.main import app
from services.runtime.service import Service
from tests.conftest import FixedClock
from tests.integration.helpers import ask, envelope, publish_request, read_stream
from tests.integration.test_personal_data import close, register, request, ticket

MANAGER = {"id": "M001", "role": "manager"}
REQUEST = {
    "external_id": "mail-1",
    "subject": "退款",
    "content": "要求退款,电话13812345678",
    "customer": {"name": "张女士", "phone": "13812345678", "customer_id": "C1001"},
}


@pytest.mark.nats
class TestOnTheWire:
    async def test_a_manager_forgets_a_customer_and_the_stream_records_it(
        self, service: Service
    ) -> None:
        nc = await nats.connect(service.url)
        js = nc.jetstream()
        try:
            await publish_request(js, "email", REQUEST)
            [received] = [
                envelope(m) for m in await read_stream(js, "tickets.events.Received.>", 1)
            ]
            number = received["ticketnumber"]
            assert received["data"]["customer"]["name"] == "张**"  # masked on the stream

            reply = await ask(
                nc,
                "tickets.cmd.forget",
                {"customer_id": "C1001", "actor": MANAGER, "reason": "letter"},
            )

            assert reply["ok"] and reply["erased"] == 1
            assert reply["tickets"] == [{"ticket_id": received["subject"], "number": number}]
            state = await ask(nc, "tickets.query.ticket", {"number": number})
            assert state["ticket"]["customer"] == erased_customer("C1001")
            [erasure] = [
                envelope(m) for m in await read_stream(js, "tickets.events.PersonalDataErased.>", 1)
            ]
            assert erasure["data"] == {"actor": MANAGER, "basis": "request", "reason": "letter"}
            history = await ask(nc, "tickets.query.history", {"number": number})
            assert history["verified"] is True and "张女士" not in str(history)
        finally:
            await nc.close()

    async def test_an_agent_is_forbidden_and_an_unknown_customer_not_found(
        self, service: Service
    ) -> None:
        nc = await nats.connect(service.url)
        try:
            agent = {"id": "A007", "role": "agent"}
            refused = await ask(nc, "tickets.cmd.forget", {"customer_id": "C1", "actor": agent})
            unknown = await ask(nc, "tickets.cmd.forget", {"customer_id": "C404", "actor": MANAGER})
            both = await ask(
                nc, "tickets.cmd.forget", {"customer_id": "C1", "number": "CS1", "actor": MANAGER}
            )
        finally:
            await nc.close()
        assert refused["error"]["code"] == "forbidden"
        assert unknown["error"]["code"] == "not_found"
        assert both["error"]["code"] == "invalid"


class TestTheCommandLine:
    @pytest.fixture
    def old_desk(self, store_url: str, policy, tmp_path: Path):
        """A store (kept open, as a running service would) with tickets closed in 2025."""
        clock = FixedClock(datetime(2025, 3, 3, 2, tzinfo=UTC))
        desk = TicketDesk(policy, store_env(store_url, tmp_path), clock=clock)
        yield desk
        desk.close()

    def cli(self, store_url: str, tmp_path: Path, *args: str):
        return CliRunner().invoke(app, [*args, "--store", store_url, "--data-dir", str(tmp_path)])

    def test_forget_erases_and_says_which_tickets(self, old_desk, store_url, tmp_path) -> None:
        [one] = register(old_desk, request("m1"))
        result = self.cli(
            store_url, tmp_path, "forget", "C1001", "--reason", "letter", "--by", "M001"
        )
        assert result.exit_code == 0, result.output
        assert "customer:C1001 erased: 1 ticket(s) (CS202503030001), 1 newly" in result.output
        assert ticket(old_desk, one)["customer"]["erased"] is True
        *_, erasure = old_desk.events.get(old_desk.resolve(one))
        assert erasure.actor == {"id": "M001", "role": "manager"}  # type: ignore[attr-defined]

    def test_forget_of_an_unknown_customer_exits_1(self, old_desk, store_url, tmp_path) -> None:
        register(old_desk, request("m1"))
        result = self.cli(store_url, tmp_path, "forget", "C404")
        assert result.exit_code == 1 and "not_found" in result.output

    def test_purge_erases_what_expired(self, old_desk, store_url, tmp_path) -> None:
        consultation = request("m1", "C1", content="请问营业时间?", subject="营业时间")
        [expired, still_open] = register(old_desk, consultation, request("m2", "C2"))
        close(old_desk, expired)

        dry = self.cli(store_url, tmp_path, "purge", "--dry-run")
        assert dry.exit_code == 0 and "would erase customer:C1: CS202503030001" in dry.output
        assert ticket(old_desk, expired)["customer"]["erased"] is False

        done = self.cli(store_url, tmp_path, "purge")
        assert done.exit_code == 0 and "erased customer:C1" in done.output
        assert ticket(old_desk, expired)["customer"]["erased"] is True
        assert ticket(old_desk, still_open)["customer"]["erased"] is False
        assert old_desk.vault.last_purge() is not None
