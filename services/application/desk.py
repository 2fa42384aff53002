"""The ticket application: the event store, the repository and the policy in one place.

Synchronous, like the eventsourcing library beneath it: async code calls it through
`asyncio.to_thread`. Saving never publishes anything; the relay reads the store's log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Recording

from domain.errors import Conflict, Invalid, NotFound
from domain.numbers import TicketNumber, number_id
from domain.policy import Policy
from domain.problem import Problem
from domain.sla_plan import Planner
from domain.ticket import Ticket, project_chain
from infra.personal_keys import vault_for

Clock = Callable[[], datetime]
TICKET_TOPIC_PREFIX = "domain.ticket:Ticket."
SAVE_RETRIES = 5


def utc_now() -> datetime:
    return datetime.now(UTC)


class TicketDesk(Application[UUID]):
    name = "ticketflow"
    # A snapshot every 50 events keeps replay of a long ticket short (bench/replay.py),
    # and of a problem that group impact links thousands of reports into.
    snapshotting_intervals: ClassVar[dict] = {Ticket: 50, Problem: 50}
    # A snapshot replays its aggregate as `get` does (the library's default projector
    # would digest every event again and check each against a runtime protocol).
    snapshotting_projectors: ClassVar[dict] = {Ticket: project_chain, Problem: project_chain}

    def __init__(
        self, policy: Policy, env: dict[str, str] | None = None, clock: Clock = utc_now
    ) -> None:
        super().__init__(env=env)
        self.vault = vault_for(self.env)
        self.policy = policy
        self.clock = clock
        self._saved_listeners: list[Callable[[], None]] = []

    @property
    def planner(self) -> Planner:
        """The targets the running policy sets on each event (`domain.sla_plan`)."""
        return Planner(self.policy)

    def close(self) -> None:
        super().close()
        self.vault.close()

    def reveal(self, key_id: str, sealed: str) -> dict | None:
        """A ticket's sealed personal data, or None once its key is destroyed."""
        return self.vault.reveal(key_id, sealed)

    def revealer(self, key_ids: Iterable[str]) -> Callable[[str, str], dict | None]:
        """`reveal` for a batch of events: their keys looked up at once, now."""
        keys = self.vault.keys(key_ids)

        def reveal(key_id: str, sealed: str) -> dict | None:
            key = keys.get(key_id)
            return key.open(sealed) if key else None

        return reveal

    # ---- notification of new events (wakes the relay; never publishes itself) --------

    def on_saved(self, listener: Callable[[], None]) -> None:
        self._saved_listeners.append(listener)

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        for listener in self._saved_listeners:
            listener()

    # ---- loading -------------------------------------------------------------------

    def resolve(self, ticket_id: str | None = None, number: str | None = None) -> UUID:
        """The ticket's id from its id or its human number; `not_found` otherwise."""
        if ticket_id:
            try:
                return UUID(ticket_id)
            except ValueError:
                raise Invalid(f"ticket_id {ticket_id!r} is not a UUID") from None
        assert number is not None
        try:
            entry: Any = self.get(number_id(number))
        except AggregateNotFoundError:
            raise NotFound(f"no ticket numbered {number!r}") from None
        assert isinstance(entry, TicketNumber)
        return entry.ticket_id

    def get(self, aggregate_id: UUID, version: int | None = None) -> Any:
        """What the store holds under this id (a ticket, a problem, an article, a
        number's entry) at `version` or now; `AggregateNotFoundError` if nothing.
        Replayed with `project_chain`: the library's result, for less CPU."""
        return self.repository.get(aggregate_id, version=version, projector_func=project_chain)

    def load(self, ticket_id: UUID, version: int | None = None) -> Ticket:
        try:
            ticket: Any = self.get(ticket_id, version)
        except AggregateNotFoundError:
            raise NotFound(f"no ticket {ticket_id}") from None
        if not isinstance(ticket, Ticket):
            raise NotFound(f"no ticket {ticket_id}")
        return ticket

    def exists(self, aggregate_id: UUID) -> bool:
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def is_ticket(self, aggregate_id: UUID) -> bool:
        """A ticket is stored under this id: its first stored event's topic says so, so
        nothing is decrypted or replayed (what `load` would check, for a fraction)."""
        first = self.recorder.select_events(aggregate_id, limit=1)
        return bool(first) and first[0].topic.startswith(TICKET_TOPIC_PREFIX)

    # ---- changing ------------------------------------------------------------------

    def change(
        self, ticket_id: UUID, action: Callable[[Ticket], Any], expected_version: int | None = None
    ) -> Ticket:
        """Load, act, save; on a concurrent write, act again on the fresh ticket.

        With `expected_version` the caller asked for exactly that state: a concurrent
        write (or a different current version) is a `conflict`, never a retry.
        """
        return self.change_any(ticket_id, action, expected_version, self.load)

    def change_any(
        self,
        aggregate_id: UUID,
        action: Callable[[Any], Any],
        expected_version: int | None,
        load: Callable[[UUID], Any],
    ) -> Any:
        """`change` for any aggregate the store holds (`load` reads it: a problem)."""
        for _ in range(SAVE_RETRIES):
            ticket = load(aggregate_id)
            if expected_version is not None and ticket.version != expected_version:
                raise Conflict(f"it is at version {ticket.version}, not {expected_version}")
            action(ticket)
            try:
                self.save(ticket)
                return ticket
            except IntegrityError:
                if expected_version is not None:
                    raise Conflict("the ticket changed while this command ran") from None
        raise Conflict(f"the ticket kept changing; gave up after {SAVE_RETRIES} tries")
