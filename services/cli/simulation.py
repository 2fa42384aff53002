"""`ticketflow simulate`: realistic traffic through the public subjects only.

`generate` is pure (a seed in, stories out): each story is one intake request and
the commands people then send about it (assign, acknowledge, updates, escalations,
close, the customer's rating, sometimes a reclassification), and the status those
commands leave the ticket in under the default policy. `run` sends the stories:
JetStream publishes on `tickets.intake.<channel>` (header
`Nats-Msg-Id: <channel>:<external_id>`), then request/reply on `tickets.cmd.*`,
after `tickets.query.ticket` has shown the ticket stored.

Texts: English from the Bitext and BANKING77 samples, Chinese from templates built
on the process rules' examples, monitoring alerts and internal transfers; all in
`services/cli/simdata/` (README there: sources and licences).
"""

from __future__ import annotations

import asyncio
import csv
import json
import random
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client

from domain.ticket import ticket_id_for

CUSTOMER_CHANNELS = ("phone", "chat", "email", "app", "web")
CHANNEL_WEIGHTS = {
    "phone": 15,
    "chat": 25,
    "email": 20,
    "app": 15,
    "web": 12,
    "monitoring": 5,
    "internal": 8,
}
TEAMS = {"S001": ("A001", "A002", "A003", "A004"), "S002": ("A005", "A006", "A007", "A008")}
SCORES, SCORE_WEIGHTS = (5, 4, 3, 2, 1), (45, 30, 10, 8, 7)
BURST_SHARE = 0.05  # chance that the next requests are 3-4 customers with the same problem
# Seconds between two arrivals, on average; the last arrives just before now, and a
# long run is squeezed into about two hours, so some SLA targets are met and some not.
MEAN_GAP, WINDOW = 20.0, 7200.0
RECLASSIFY = (
    ("complaint", "billing/refund", "the customer asks for a refund"),
    ("technical", "technical/front-end", "a page fault, for the tech team"),
    ("consultation", "order/change", "only wants to change the order"),
    ("suggestion", "product/feature", "a feature request"),
    ("complaint", "service-attitude", "a complaint about our staff"),
)


class SimulationError(RuntimeError):
    """The simulation cannot go on (no server, no service answering)."""


@dataclass(frozen=True)
class Step:
    command: str  # the `<name>` of `tickets.cmd.<name>`
    body: dict  # the request without `ticket_id`


@dataclass(frozen=True)
class Story:
    channel: str
    request: dict  # the intake message
    steps: tuple[Step, ...]
    outcome: str  # the ticket's status after the steps
    tags: tuple[str, ...] = ()  # escalated, reclassified, rated, reopened
    topic: str | None = None  # the problem: a template family, a dataset label, an alert kind

    @property
    def msg_id(self) -> str:
        return f"{self.channel}:{self.request['external_id']}"

    @property
    def ticket_id(self) -> str:
        return str(ticket_id_for(self.channel, self.request["external_id"]))


# ---- texts ---------------------------------------------------------------------------


@cache
def phrases() -> dict[str, Any]:
    return tomllib.loads(_simdata("phrases.toml"))


@cache
def english_texts() -> tuple[tuple[str, str], ...]:
    """(text, label): Bitext instructions with their intent, BANKING77 with its category."""
    bitext = csv.DictReader(_simdata("bitext.csv").splitlines())
    banking = csv.DictReader(_simdata("banking77.csv").splitlines())
    pairs = [(r["instruction"], r["intent"]) for r in bitext]
    pairs += [(r["text"], r["category"]) for r in banking]
    return tuple((text, label.lower()) for text, label in pairs if text.strip())


def _simdata(name: str) -> str:
    return resources.files("services.cli").joinpath("simdata", name).read_text(encoding="utf-8")


def _group_of_label(label: str) -> str | None:
    for group, words in phrases()["en"]["label_groups"].items():
        if any(word in label for word in words):
            return str(group)
    return None


def _phrasebook(lang: str, group: str | None) -> dict[str, Any]:
    """The lists people write from: the language's, with its group's replacing some."""
    book = phrases()[lang]
    return {**book, **book.get("by_group", {}).get(group, {})}


# ---- people --------------------------------------------------------------------------


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


def _customer(rng: random.Random, k: int) -> dict:
    p = phrases()["people"]
    if rng.random() < 0.55:
        surname = rng.choice(p["zh_surnames"])
        given = rng.choice(
            ["女士", "先生", rng.choice(p["zh_given"]), rng.choice(p["zh_given"]) * 2]
        )
        name, lang = surname + given, "zh"
        mail = f"{p['zh_pinyin'][surname]}{rng.randrange(100)}@{rng.choice(p['mail_domains'])}"
    else:
        first, last = rng.choice(p["en_first"]), rng.choice(p["en_last"])
        name, lang = f"{first} {last}", "en"
        mail = f"{first.lower()}.{last.lower()}@{rng.choice(p['mail_domains'])}"
    company = rng.choice(phrases()["fills"]["company"]) if rng.random() < 0.15 else None
    return {
        "lang": lang,
        "name": name,
        "company": company,
        "phone": _phone(rng),
        "email": mail,
        "customer_id": f"C{1001 + k}",
    }


# What a channel knows of the customer: a call has the number, a mail the address.
CONTACT = {
    "phone": ("name", "phone", "customer_id"),
    "email": ("name", "company", "email"),
    "chat": ("name", "customer_id"),
    "app": ("name", "phone", "customer_id"),
    "web": ("name", "company", "email", "phone"),
    "internal": ("name", "company", "customer_id"),
}


def _contact(customer: dict, channel: str) -> dict:
    return {k: customer[k] for k in CONTACT[channel] if customer.get(k)}


# ---- requests ------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """A request before its external id and arrival time are known."""

    channel: str
    lang: str  # of the people writing about it: "zh" or "en"
    group: str | None  # which phrases fit it (zh.groups, en.label_groups)
    body: dict
    topic: str | None = None


def _fills(rng: random.Random) -> dict[str, Any]:
    values = {k: rng.choice(v) for k, v in phrases()["fills"].items()}
    en = phrases()["en"]
    values.update(
        order=f"DD{rng.randrange(10**12):012d}",
        phone=_phone(rng),
        n=rng.randint(2, 9),
        page_en=rng.choice(en["pages"]),
        company_en=rng.choice(en["companies"]),
    )
    return values


def _customer_request(
    rng: random.Random, channel: str, customer: dict, family: str | None = None
) -> Draft:
    """A customer's own words; `family` forces a Chinese problem of that family."""
    zh = phrases()["zh"]
    if customer["lang"] == "zh" or family:
        fam, template = rng.choice([t for t in zh["templates"] if family in (None, t[0])])
        body: dict[str, Any] = {
            "content": template.format(**_fills(rng)),
            "subject": zh["subjects"].get(fam),
        }
        lang, group, topic = "zh", zh["groups"].get(fam), fam
        if fam in ("refund", "complaint", "white-screen", "error") and rng.random() < 0.3:
            name = "screen.png" if fam in ("white-screen", "error") else "photo.jpg"
            body["attachments"] = [
                {"name": name, "url": f"https://files.example/sim/{rng.randrange(10**8)}"}
            ]
    else:
        text, label = rng.choice(english_texts())
        body, lang, group, topic = {"content": text}, "en", _group_of_label(label), label
    if channel == "phone" and lang == "zh":
        body["content"] = zh["phone_prefix"] + body["content"]
        if rng.random() < 0.3:  # the customer's own words hold a number: masked downstream
            body["content"] += "," + zh["callback"].format(phone=customer["phone"])
    if channel != "email" or not body.get("subject"):
        body.pop("subject", None)
    body["customer"] = _contact(customer, channel)
    return Draft(channel, lang, group, body, topic)


def _alert_request(rng: random.Random) -> Draft:
    alert = rng.choice(phrases()["alerts"])
    ratio = round(rng.choice([rng.uniform(0.005, 0.05), rng.uniform(0.05, 0.35)]), 3)
    lang = rng.choice(("zh", "en"))
    text = phrases()[lang]["alerts"][0].format(
        kind_zh=alert["zh"], kind_en=alert["en"], ratio=f"{ratio:.1%}", source=alert["source"]
    )
    return Draft(
        "monitoring",
        lang,
        "tech",
        {
            "subject": f"[ALERT] {alert['kind']}",
            "content": text,
            "customer": {"name": alert["source"]},
            "alert": {"source": alert["source"], "kind": alert["kind"], "affected_ratio": ratio},
        },
        alert["kind"],
    )


def _internal_request(rng: random.Random, customer: dict) -> Draft:
    text = rng.choice(phrases()[customer["lang"]]["internal"]).format(**_fills(rng))
    return Draft(
        "internal",
        customer["lang"],
        None,
        {"content": text, "customer": _contact(customer, "internal")},
        "transfer",
    )


# ---- what people do about a ticket ---------------------------------------------------


def _life(rng: random.Random, draft: Draft, now: datetime) -> tuple[str, list[Step], list[str]]:
    """The commands for one ticket, the status they leave it in, and tags."""
    say = _phrasebook(draft.lang, draft.group)
    r = rng.random()
    if r < 0.12:
        return "open", [], []
    supervisor = rng.choice(sorted(TEAMS))
    agent = rng.choice(TEAMS[supervisor])
    me = {"id": agent, "role": "agent"}
    boss = {"id": supervisor, "role": "supervisor"}
    steps, tags = [_assignment(rng, me, boss, supervisor)], list[str]()
    if r < 0.22:
        return "assigned", steps, tags
    if rng.random() < 0.08:
        kind, category, reason = rng.choice(RECLASSIFY)
        steps.append(
            Step(
                "classify",
                {
                    "actor": me,
                    "type": kind,
                    "category": category,
                    "reason": f"reclassified: {reason}",
                },
            )
        )
        tags.append("reclassified")
    steps.append(Step("acknowledge", {"actor": me}))
    if rng.random() < 0.5:
        steps.append(_update(rng, me, say["notes_internal"], "internal"))
    if r < 0.32:
        return "in_progress", steps, tags
    if r < 0.40 or rng.random() < 0.2:
        steps.append(_update(rng, me, say["notes_waiting"], "customer", waiting=True))
        if r < 0.40:
            return "waiting_on_customer", steps, tags
        steps.append(_update(rng, me, say["notes_answered"], "internal"))
    done = (now + timedelta(hours=rng.choice([2, 4, 24, 48]))).isoformat(timespec="seconds")
    steps.append(
        _update(
            rng,
            me,
            say["notes_customer"],
            "customer",
            next_steps=say["next_steps"],
            expected_done_at=done if rng.random() < 0.5 else None,
        )
    )
    if rng.random() < 0.12:
        steps.append(
            Step(
                "escalate",
                {"actor": me, "level": "supervisor", "reason": rng.choice(say["escalations"])},
            )
        )
        if rng.random() < 0.3:
            steps.append(
                Step(
                    "escalate",
                    {"actor": boss, "level": "manager", "reason": rng.choice(say["escalations"])},
                )
            )
        tags.append("escalated")
    steps.append(Step("close", {"actor": me, "resolution": rng.choice(say["resolutions"])}))
    return _feedback(rng, draft.channel, say, me, steps, tags)


def _assignment(rng: random.Random, me: dict, boss: dict, supervisor: str) -> Step:
    if rng.random() < 0.2:  # an agent takes the ticket from the queue
        return Step("assign", {"actor": me, "assignee": me["id"]})
    body: dict[str, Any] = {"actor": boss, "assignee": me["id"]}
    if rng.random() < 0.1:
        body["collaborators"] = [rng.choice([a for a in TEAMS[supervisor] if a != me["id"]])]
    return Step("assign", body)


def _update(
    rng: random.Random,
    actor: dict,
    notes: list[str],
    visibility: str,
    waiting: bool = False,
    next_steps: list[str] | None = None,
    expected_done_at: str | None = None,
) -> Step:
    body: dict[str, Any] = {"actor": actor, "note": rng.choice(notes), "visibility": visibility}
    if waiting:
        body["waiting_on_customer"] = True
    if next_steps:
        body["next_step"] = rng.choice(next_steps)
    if expected_done_at:
        body["expected_done_at"] = expected_done_at
    return Step("update", body)


def _feedback(
    rng: random.Random, channel: str, say: dict, me: dict, steps: list[Step], tags: list[str]
) -> tuple[str, list[Step], list[str]]:
    """The customer rates (a score of 2 or less reopens, under the default policy)."""
    customer = {"id": channel, "role": "channel"}
    if channel not in CUSTOMER_CHANNELS or rng.random() >= 0.8:
        if channel in CUSTOMER_CHANNELS and rng.random() < 0.05:
            steps.append(Step("reopen", {"actor": customer, "reason": say["bad_comments"][1]}))
            return "assigned", steps, [*tags, "reopened"]
        return "closed", steps, tags
    score = rng.choices(SCORES, SCORE_WEIGHTS)[0]
    comments = say["good_comments"] if score >= 4 else say["bad_comments"]
    steps.append(Step("rate", {"actor": customer, "score": score, "comment": rng.choice(comments)}))
    tags.append("rated")
    if score > 2:
        return "closed", steps, tags
    tags.append("reopened")
    if rng.random() < 0.5:
        return "assigned", steps, tags
    steps.append(_update(rng, me, say["notes_customer"], "customer"))
    steps.append(Step("close", {"actor": me, "resolution": rng.choice(say["resolutions"])}))
    steps.append(
        Step(
            "rate",
            {
                "actor": customer,
                "score": rng.choice((4, 5)),
                "comment": rng.choice(say["good_comments"]),
            },
        )
    )
    return "closed", steps, tags


# ---- the generator -------------------------------------------------------------------


def generate(count: int, seed: int, now: datetime, run: str = "sim") -> list[Story]:
    """`count` stories, the same for the same seed and run; arrivals end just before `now`."""
    rng = random.Random(seed)
    pool = [_customer(rng, k) for k in range(max(6, count // 4))]
    weights = [(k + 1) ** -0.5 for k in range(len(pool))]  # a few customers write often
    chinese = [c for c in pool if c["lang"] == "zh"]  # bursts: several report one problem
    drafts: list[tuple[float, Draft]] = []  # (seconds since the first arrival, draft)
    clock = 0.0
    while len(drafts) < count:
        clock += rng.expovariate(1 / min(MEAN_GAP, WINDOW / count))
        if count - len(drafts) >= 3 and len(chinese) >= 4 and rng.random() < BURST_SHARE:
            family = rng.choice(phrases()["zh"]["burst_families"])
            for customer in rng.sample(chinese, rng.choice((3, 4))):
                channel = rng.choice(CUSTOMER_CHANNELS)
                drafts.append((clock, _customer_request(rng, channel, customer, family)))
                clock += rng.uniform(5, 90)
            continue
        drafts.append((clock, _draft(rng, pool, weights, len(drafts))))
    return [
        _story(rng, i, at, draft, clock, now, run) for i, (at, draft) in enumerate(drafts[:count])
    ]


def _draft(rng: random.Random, pool: list[dict], weights: list[float], i: int) -> Draft:
    channel = rng.choices(list(CHANNEL_WEIGHTS), list(CHANNEL_WEIGHTS.values()))[0]
    if channel == "monitoring":
        return _alert_request(rng)
    repeat = rng.random() < 0.7
    customer = rng.choices(pool, weights)[0] if repeat else _customer(rng, 9000 + i)
    if channel == "internal":
        return _internal_request(rng, customer)
    return _customer_request(rng, channel, customer)


def _story(
    rng: random.Random, i: int, at: float, draft: Draft, last: float, now: datetime, run: str
) -> Story:
    received = now - timedelta(seconds=round(last - at) + 1)
    request = {"external_id": f"{run}-{i:05d}", "received_at": received.isoformat(), **draft.body}
    outcome, steps, tags = _life(rng, draft, now)
    return Story(draft.channel, request, tuple(steps), outcome, tuple(tags), draft.topic)


# ---- sending -------------------------------------------------------------------------


@dataclass
class Report:
    requests: Counter[str] = field(default_factory=Counter)  # acknowledged, per channel
    publish_failures: Counter[str] = field(default_factory=Counter)  # by error
    stored: int = 0  # tickets seen by `tickets.query.ticket`
    missing: int = 0  # published, but not stored in time
    commands: Counter[str] = field(default_factory=Counter)  # sent, per command
    command_errors: Counter[str] = field(default_factory=Counter)  # by reply code
    examples: dict[str, str] = field(default_factory=dict)  # a ticket number per story kind

    def highlights(self, limit: int = 8) -> list[tuple[str, str]]:
        """(kind, number) worth replaying: each end status, then the busiest stories."""
        kinds = sorted(self.examples, key=lambda k: (-k.count("·"), k))
        chosen: list[str] = []
        for status in ("closed", "assigned", "in_progress", "waiting_on_customer", "open"):
            chosen += [k for k in kinds if k.split(" · ")[0] == status][:1]
        chosen += [k for k in kinds if k not in chosen]
        return [(k, self.examples[k]) for k in chosen[:limit]]

    @property
    def clean(self) -> bool:
        return not (self.publish_failures or self.missing or self.command_errors)


Progress = Callable[[str, int], None]  # ("requests" | "tickets", how many more)


class Simulation:
    """Sends the stories; a ticket's commands start once its request is stored."""

    def __init__(
        self,
        nc: Client,
        *,
        rate: float | None = None,
        timeout: float = 10.0,
        concurrency: int = 32,
        settle: float = 60.0,
        progress: Progress = lambda kind, n: None,
    ) -> None:
        self.nc, self.js = nc, nc.jetstream()
        self.rate, self.timeout, self.settle, self.progress = rate, timeout, settle, progress
        self.workers = asyncio.Semaphore(concurrency)
        self.report = Report()

    async def run(self, stories: list[Story]) -> Report:
        if not stories:
            return self.report
        await self._probe(stories[0])
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._work(stories[0]))
                for i, story in enumerate(stories[1:], start=1):
                    if self.rate and (delay := start + i / self.rate - loop.time()) > 0:
                        await asyncio.sleep(delay)
                    tasks.create_task(self._story(story, await self._publish(story)))
        except* SimulationError as group:
            raise group.exceptions[0] from None
        return self.report

    async def _probe(self, story: Story) -> None:
        """The first request alone: no stream behind `tickets.intake.*` stops everything."""
        try:
            await self._publish_sync(story)
        except nats.js.errors.NoStreamResponseError:
            raise SimulationError(
                f"no stream takes tickets.intake.{story.channel}: is "
                "`ticketflow up` running on this NATS server?"
            ) from None
        except (TimeoutError, nats.errors.Error) as error:
            raise SimulationError(
                f"publishing on tickets.intake.{story.channel} failed: "
                f"{error or type(error).__name__}"
            ) from None
        self._sent(story)

    async def _publish_sync(self, story: Story) -> None:
        subject, payload, headers = _message(story)
        await self.js.publish(subject, payload, timeout=self.timeout, headers=headers)

    async def _publish(self, story: Story) -> asyncio.Future | None:
        subject, payload, headers = _message(story)
        try:
            return await self.js.publish_async(
                subject, payload, headers=headers, wait_stall=self.timeout
            )
        except nats.errors.Error:
            return None  # stalled: `_story` publishes it again, waiting for the ack

    async def _story(self, story: Story, future: asyncio.Future | None) -> None:
        try:
            if future is None:
                raise TimeoutError
            await asyncio.wait_for(future, self.timeout)
        except (TimeoutError, nats.errors.Error):
            try:  # the same Nats-Msg-Id: a late first copy and this one make one ticket
                await self._publish_sync(story)
            except (TimeoutError, nats.errors.Error) as error:
                self.report.publish_failures[type(error).__name__] += 1
                self.progress("tickets", 1)
                return
        self._sent(story)
        await self._work(story)

    def _sent(self, story: Story) -> None:
        self.report.requests[story.channel] += 1
        self.progress("requests", 1)

    async def _work(self, story: Story) -> None:
        async with self.workers:
            number = await self._stored(story)
            if number is not None:
                await self._steps(story)
                self.report.examples.setdefault(_kind(story), number)
        self.progress("tickets", 1)

    async def _stored(self, story: Story) -> str | None:
        deadline = asyncio.get_running_loop().time() + self.settle
        while True:
            try:
                reply = await self._ask("tickets.query.ticket", {"ticket_id": story.ticket_id})
            except TimeoutError:
                reply = {"ok": False}
            if reply.get("ok"):
                self.report.stored += 1
                return str(reply["ticket"]["number"])
            if asyncio.get_running_loop().time() > deadline:
                self.report.missing += 1
                return None
            await asyncio.sleep(0.2)

    async def _steps(self, story: Story) -> None:
        for step in story.steps:
            self.report.commands[step.command] += 1
            try:
                reply = await self._ask(
                    f"tickets.cmd.{step.command}", {"ticket_id": story.ticket_id, **step.body}
                )
            except TimeoutError:
                self.report.command_errors["timeout"] += 1
                return
            if not reply.get("ok"):
                self.report.command_errors[reply.get("error", {}).get("code", "?")] += 1
                return  # the rest of the story depends on this step

    async def _ask(self, subject: str, body: dict) -> dict:
        try:
            reply = await self.nc.request(
                subject, json.dumps(body, ensure_ascii=False).encode(), timeout=self.timeout
            )
        except nats.errors.NoRespondersError:
            raise SimulationError(
                f"no ticketflow service answers on {subject}: is "
                "`ticketflow up` running on this NATS server?"
            ) from None
        except nats.errors.TimeoutError:
            raise TimeoutError(subject) from None
        return json.loads(reply.data)


def _message(story: Story) -> tuple[str, bytes, dict[str, str]]:
    payload = json.dumps(story.request, ensure_ascii=False).encode()
    return f"tickets.intake.{story.channel}", payload, {"Nats-Msg-Id": story.msg_id}


def _kind(story: Story) -> str:
    return " · ".join([story.outcome, *story.tags])


def summary_lines(report: Report, stories: list[Story], run: str, seconds: float) -> list[str]:
    """What `ticketflow simulate` prints at the end."""

    def counts(counter: Counter[str]) -> str:
        return ", ".join(f"{k} {v}" for k, v in counter.most_common()) or "none"

    planned = Counter(s.outcome for s in stories)
    tags = Counter(t for s in stories for t in s.tags)
    lines = [
        f"simulated {len(stories)} tickets in {seconds:.1f}s ({run})",
        f"requests sent: {sum(report.requests.values())} ({counts(report.requests)})",
        f"tickets stored: {report.stored} of {len(stories)}",
        f"commands sent: {sum(report.commands.values())} ({counts(report.commands)})",
        f"command errors: {counts(report.command_errors)}",
        f"planned statuses: {counts(planned)}; {counts(tags)}",
    ]
    if report.publish_failures:
        lines.append(f"requests not acknowledged: {counts(report.publish_failures)}")
    if report.missing:
        lines.append(f"tickets not stored in time: {report.missing} (see tickets.dlq.intake)")
    if report.examples:
        lines.append("to look at some of them:")
    lines += [f"  ticketflow replay {number}   # {kind}" for kind, number in report.highlights()]
    return lines
