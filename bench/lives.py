"""Recorded ticket lives: realistic tickets driven through the application in-process.

The stories of `ticketflow simulate` (intake, assignment, updates, waits on the
customer, escalations, closing, ratings, reopenings, reclassifications), plus a few
declines and requests to other departments, each step some minutes or hours after the
one before, so that under the default policy some targets are met and some breached.
Used by the what-if benchmark and by the what-if tests, which need stores whose
recorded outcomes are varied.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta

from domain.errors import TicketError
from services.application import messages as m
from services.application.commands import CommandService
from services.application.desk import TicketDesk
from services.application.registration import Registrar, Request
from services.cli.simulation import Story, generate

GAPS_MINUTES = (2, 10, 30, 90, 240, 600, 1500)  # between two steps of one ticket


class SteppingClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def record(
    desk: TicketDesk,
    clock: SteppingClock,
    count: int,
    *,
    seed: int = 7,
    start: datetime,
    every: timedelta = timedelta(minutes=7),
    progress: Callable[[int], None] | None = None,
) -> int:
    """Record `count` tickets, one arriving `every` from `start`; returns the events
    recorded. `clock` must be the desk's clock."""
    rng = random.Random(seed)
    stories = generate(count, seed, start + every * count, run=f"lives{seed}")
    registrar, commands = Registrar(desk), CommandService(desk)
    for i, story in enumerate(stories):
        clock.now = start + every * i
        body = {**story.request, "received_at": clock.now.isoformat()}
        [result] = registrar.register(
            [Request(story.channel, m.IntakeRequest.model_validate(body), clock.now)]
        )
        ticket_id = str(result.ticket_id)
        for name, fields in _steps(rng, story):
            clock.now += timedelta(minutes=rng.choice(GAPS_MINUTES))
            model = m.COMMANDS[name]
            if name == "request_department":  # due a day from now, when it is sent
                fields = {**fields, "due": (clock.now + timedelta(days=1)).isoformat()}
            with suppress(TicketError):  # a step written for a flow that no longer applies
                commands.execute(name, model.model_validate({"ticket_id": ticket_id, **fields}))
        if progress and (i + 1) % 1000 == 0:
            progress(i + 1)
    return desk.recorder.max_notification_id() or 0


def _steps(rng: random.Random, story: Story) -> list[tuple[str, dict]]:
    steps = [(step.command, step.body) for step in story.steps]
    if steps and steps[0][0] == "assign" and rng.random() < 0.06:
        agent = steps[0][1]["assignee"]
        decline = {"actor": {"id": agent, "role": "agent"}, "reason": "not my area"}
        steps[1:1] = [("decline", decline), steps[0]]
    acknowledged = next((i for i, s in enumerate(steps) if s[0] == "acknowledge"), None)
    if acknowledged is not None and rng.random() < 0.1:
        agent = steps[acknowledged][1]["actor"]
        ask = {"actor": agent, "department": "tech", "ask": "the server logs, please"}
        steps.insert(acknowledged + 1, ("request_department", ask))
    return steps
