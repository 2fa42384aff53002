"""The retention purge on its schedule (policy `retention.purge_every`, default quarterly).

The leader checks every hour whether the purge ran since the current period began
(in the policy's time zone), and runs it when not: so a service that was down when a
quarter began purges as soon as it is back. The last run is recorded in the store's
database, so a restart, or the other instance taking over, does not purge again.
`ticketflow purge` runs the same purge by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from domain.retention import period_start
from services.application.desk import TicketDesk
from services.application.erasure import Eraser, Erasure

log = logging.getLogger("ticketflow.retention")
CHECK_EVERY = 3600.0  # seconds


class RetentionSchedule:
    def __init__(self, desk: TicketDesk, check_every: float = CHECK_EVERY) -> None:
        self.desk, self.check_every = desk, check_every
        self._stop = asyncio.Event()

    def due(self) -> bool:
        policy = self.desk.policy
        began = period_start(
            self.desk.clock(), policy.retention.purge_every, policy.business_calendar.tz
        )
        last = self.desk.vault.last_purge()
        return last is None or last < began

    def run_once(self) -> list[Erasure] | None:
        """The purge, when due: the erasures it made; None when it was not due."""
        if not self.due():
            return None
        now = self.desk.clock()
        erasures = Eraser(self.desk).purge(now)
        self.desk.vault.record_purge(now, sum(e.erased for e in erasures))
        log.info("retention purge: personal data of %d customers erased", len(erasures))
        return erasures

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.run_once)
            except Exception as error:  # retried at the next check; the service goes on
                log.error("retention purge failed: %s", error, exc_info=error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.check_every)

    def stop(self) -> None:
        """Ends `run` after the purge in hand (its thread writes to the store)."""
        self._stop.set()
