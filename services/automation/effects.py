"""The effect of an improvement action, measured by the service itself.

Once an action is done and `evaluate_after` has passed since, its metric is computed
from the statistics view twice, over the tickets of its scope received in equal
windows: `baseline`, the window before the action was planned; `result`, the window
from when it was done. The problem records `EffectEvaluated` with both and the verdict
(domain.problem.verdict), as the system. A supervisor may also ask for it at once
(`evaluate_action`), which answers `illegal_state` with the end of the window while it
runs.

An action past its due date and not done is escalated to the supervisor
(`ActionOverdue`), once. The loop wakes at the next due date or window end (at most a
minute apart): deadlines, not a sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from domain.actor import Actor
from domain.calendar import parse_duration
from domain.errors import IllegalState, TicketError
from domain.problem import Problem
from domain.roles import check_may_send
from infra.readdb import ReadDB
from services.application.problems import ProblemService
from services.readside.stats import Facts, SelfServed, StatsService, metrics

log = logging.getLogger("ticketflow.effects")
SYSTEM = Actor.system("effects")
PENDING = (
    "SELECT problem_id, action_id FROM problem_actions WHERE status = 'done' "
    "AND verdict = 'pending'"
)
OPEN_ACTIONS = (
    "SELECT problem_id, action_id, due FROM problem_actions WHERE status IN "
    "('planned', 'in_progress') AND overdue = 0"
)
LONGEST_SLEEP = 60.0


def windows(action: dict) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
    """[from, to) before the action was planned, and from when it was done."""
    span = timedelta(seconds=parse_duration(action["evaluate_after"]).seconds)
    planned, done = action["planned_at"], action["done_at"]
    return (planned - span, planned), (done, done + span)


def in_scope(f: Facts | SelfServed, scope: dict) -> bool:
    category = scope.get("category")
    if category and not (f.category == category or (f.category or "").startswith(category + "/")):
        return False
    keys = ("type", "channel", "team")
    return all(getattr(f, key, None) == scope[key] for key in keys if key in scope)


def measure(facts: Sequence[Facts], metric: str, served: Sequence[SelfServed] = ()) -> float | None:
    """One of the actions' metrics over these tickets (`first_response_seconds.p50` …),
    and the consultations self-service solved (`self_service_rate`)."""
    figures: Any = metrics(facts, 1.0, served)
    for part in metric.split("."):
        figures = figures.get(part) if isinstance(figures, dict) else None
    return float(figures) if isinstance(figures, int | float) else None


class Effects:
    def __init__(
        self,
        problems: ProblemService,
        stats: StatsService,
        db: ReadDB,
        clock: Callable[[], datetime],
    ) -> None:
        self.problems, self.stats, self.db, self.clock = problems, stats, db, clock
        self.evaluated = self.escalated = 0
        self._stopping = asyncio.Event()

    # ---- on demand ------------------------------------------------------------------

    def evaluate_action(self, command: Any) -> dict:
        """`tickets.cmd.evaluate_action`: the verdict now, once the window has ended."""
        check_may_send("evaluate_action", command.actor.role)
        problem_id = self.problems.resolve(command.problem_id, command.number)
        verdict = self.evaluate(problem_id, command.action_id, command.actor.value())
        if verdict is None:
            raise IllegalState("the action's effect is already evaluated")
        problem = self.problems.load(problem_id)
        return {
            "ok": True,
            "problem_id": str(problem.id),
            "number": problem.number,
            "version": problem.version,
            "verdict": verdict,
        }

    # ---- the loop ---------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                wait = await asyncio.to_thread(self.evaluate_due)
            except Exception as error:
                log.error("evaluating effects failed: %s", error, exc_info=error)
                wait = LONGEST_SLEEP
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=wait)

    def evaluate_due(self) -> float:
        """Escalate every action past its due date, evaluate every action whose window
        has ended; the seconds to the next of either."""
        with self.db.transaction(write=False) as tx:
            pending = tx.execute(PENDING).fetchall()
            running = tx.execute(OPEN_ACTIONS).fetchall()
        wait, now = LONGEST_SLEEP, self.clock()
        for problem_id, action_id, due in running:
            left = (datetime.fromisoformat(due) - now).total_seconds()
            if left > 0:
                wait = min(wait, left)
                continue
            try:
                self.escalate(UUID(problem_id), action_id)
            except TicketError as error:
                log.warning("overdue %s %s: %s", problem_id, action_id, error.message)
        for problem_id, action_id in pending:
            try:
                self.evaluate(UUID(problem_id), action_id, SYSTEM)
            except IllegalState as running:
                wait = min(wait, max(1.0, getattr(running, "seconds_left", wait)))
            except TicketError as error:
                log.warning("effect of %s %s: %s", problem_id, action_id, error.message)
        return max(1.0, min(wait, LONGEST_SLEEP))

    def escalate(self, problem_id: UUID, action_id: str) -> None:
        """An action past its due date, not done: `ActionOverdue`, to the supervisor."""
        now = self.clock()
        problem = self.problems.desk.change_any(
            problem_id,
            lambda p: p.mark_overdue(action_id=action_id, actor=SYSTEM, at=now),
            None,
            self.problems.load,
        )
        self.escalated += 1
        log.warning("action %s of %s is overdue: escalated", action_id, problem.number)

    def evaluate(self, problem_id: UUID, action_id: str, actor: Actor) -> str | None:
        """Record the verdict; None when it is recorded already. IllegalState (with
        `seconds_left`) while the window after the action runs."""
        problem = self.problems.load(problem_id)
        action = problem.actions.get(action_id)
        if action is None:
            raise IllegalState(f"problem {problem.number} has no action {action_id!r}")
        if action["verdict"] != "pending":
            return None
        if action["status"] != "done":
            raise IllegalState(f"action {action_id} is not done: nothing to evaluate yet")
        before, after = windows(action)
        now = self.clock()
        if after[1] > now:
            running = IllegalState(f"the window after the action ends at {after[1].isoformat()}")
            running.seconds_left = (after[1] - now).total_seconds()  # type: ignore[attr-defined]
            raise running
        baseline, result = (self._measure(action, *window, now) for window in (before, after))

        def record(p: Problem) -> None:
            p.record_effect(
                action_id=action_id,
                baseline=baseline,
                result=result,
                before=[t.isoformat() for t in before],
                after=[t.isoformat() for t in after],
                actor=actor,
                at=now,
            )

        changed = self.problems.desk.change_any(problem_id, record, None, self.problems.load)
        self.evaluated += 1
        verdict: str = changed.actions[action_id]["verdict"]
        log.info("effect of %s %s: %s", changed.number, action_id, verdict)
        return verdict

    def _measure(self, action: dict, start: datetime, end: datetime, now: datetime) -> float | None:
        scope = action["scope"]
        facts = [f for f in self.stats.facts(start, end, now) if in_scope(f, scope)]
        served = [r for r in self.stats.self_served(start, end) if in_scope(r, scope)]
        return measure(facts, action["metric"], served)
