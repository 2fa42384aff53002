"""The composition root: builds every part of one ticketflow instance, wired together,
and starts nothing (`services.runtime` runs what this builds).

    adapters -> TICKETS_INTAKE -> intake -> store -> relay -> TICKETS_EVENTS -> projectors
                        commands and queries (request/reply) -> store      -> queries
                        SLA watcher, group impact (read the views) -> commands -> store

Which parts run is the role's choice: a front serves (intake, commands, queries), a
back leads (relay, projections, SLA watcher, group impact, rebuilds, retention), `all`
does both. Among instances on one store, one leads at a time (the lease).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nats.js import JetStreamContext

from infra.chain_witness import StreamWitness
from infra.lease import Lease
from infra.metrics_http import MetricsServer
from infra.projector import Feed, Projector
from infra.readdb import ReadDB
from infra.relay import TICKET_TOPICS, Relay
from infra.store import store_env
from infra.streams import INTAKE_DURABLE
from services.application.articles import KnowledgeBase
from services.application.commands import CommandService
from services.application.desk import TicketDesk, utc_now
from services.application.problems import ProblemService
from services.application.queries import QueryService, role_checked
from services.application.registration import Registrar
from services.application.replanning import Replanner
from services.application.whatif import WhatIf
from services.automation.effects import Effects
from services.automation.group_impact import GroupImpact
from services.automation.low_scores import LowScores
from services.automation.retention import RetentionSchedule
from services.automation.sla_watcher import SlaWatcher
from services.automation.suggestions import SuggestionBatches
from services.edge.http.api import Api
from services.edge.http.console.live import Live
from services.edge.http.console.sessions import Sessions
from services.edge.http.console.views import Console
from services.edge.http.probes import probe_routes
from services.edge.http.selfservice import SelfServicePages
from services.edge.http.server import HttpServer
from services.edge.http.users import Attempts, Users
from services.edge.nats.handlers import Answer, build_router
from services.edge.nats.intake import IntakeConsumer
from services.edge.nats.ops import ops_router
from services.edge.nats.rebuild import Rebuilds
from services.edge.nats.responders import Responders
from services.edge.nats.whatif import WhatIfs
from services.ops.health import Health, Local, leader_facts
from services.ops.metrics import Counters, Ops
from services.readside.articles import ArticleShelf
from services.readside.audit import AuditService
from services.readside.board import BoardService
from services.readside.problems import ProblemsService
from services.readside.projections import projections_for
from services.readside.sla import SlaService
from services.readside.stats import StatsService
from services.readside.tickets import TicketList
from services.runtime.back_process import BackProcess
from services.runtime.leader import Leader
from services.runtime.link import NatsLink
from services.runtime.nudges import NudgeListener, Nudger
from services.runtime.service import Parts, Service
from services.runtime.settings import Role, Settings
from services.runtime.workers import Loop, Worker

log = logging.getLogger("ticketflow.service")


def build_service(settings: Settings) -> Service:
    return Service(settings, build_desk(settings), bootstrap)


def build_desk(settings: Settings) -> TicketDesk:
    from infra.policy_file import load_policy

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    policy = settings.policy or load_policy()
    env = store_env(settings.store_url, settings.data_dir)
    offset = settings.clock_offset
    return TicketDesk(policy, env, clock=(lambda: utc_now() + offset) if offset else utc_now)


def bootstrap(s: Settings, desk: TicketDesk, link: NatsLink) -> Parts:
    log.info(
        "running policy %s (%s)",
        desk.policy.version,
        s.policy_path or "the shipped defaults",
        extra={"policy_version": desk.policy.version},
    )
    relay = Relay(desk, link.js)
    read = read_side(s.read_url, desk, link.js)
    leader = leader_of(s, desk, link, relay, read)
    registrar = Registrar(desk, read.board.open_load)
    intake = IntakeConsumer(
        link.nc, link.js, registrar, INTAKE_DURABLE, s.intake_batch, s.clock_offset
    )
    intake_loop = Loop("intake", intake.run, intake.stop, grace=10.0)
    serving = lambda: intake_loop.running if s.role.serves else None  # noqa: E731
    local = Local(s.role, serving, lambda: leader.leading)
    health = Health(link.nc, link.js, desk, s.read_url, list(read.projectors), local)
    counters = lambda: Counters(  # noqa: E731
        registrar.received, intake.stats.accepted, intake.stats.rejected, registrar.batch_seconds
    )
    ops = Ops(health, counters)
    commands, answers = CommandService(desk), read.answers()  # every edge calls these
    replanner = Replanner(desk, read.board.open_tickets)
    routers = [
        build_router(
            commands, answers, read.problems, read.effects, link.logins, replanner, read.kb
        ),
        ops_router(ops),
    ]
    responders = Responders(link.nc, link.servers, link.broker_login(), routers)
    metrics = None
    if s.metrics_port is not None and s.role.serves:
        metrics = MetricsServer(s.metrics_host, s.metrics_port, probe_routes(ops))
    whatifs = WhatIfs(link.nc, WhatIf(desk))
    front: list[Worker] = [responders, whatifs, intake_loop, *([metrics] if metrics else [])]
    if s.http_port is not None and s.role.serves:
        front += http_edge(s, desk, link, commands, answers, read, replanner)
    workers = role_workers(s, desk, link, relay, leader, front)
    http = next((w for w in workers if isinstance(w, HttpServer)), None)
    closers = [db.close for db in read.databases()]
    return Parts(workers, health, intake, read.watcher, metrics, http, answers, closers)


def http_edge(
    s: Settings,
    desk: TicketDesk,
    link: NatsLink,
    commands: CommandService,
    answers: Mapping[str, Answer],
    read: ReadSide,
    replanner: Replanner | None = None,
) -> list[Worker]:
    """The HTTP API and the console, on the same application as the NATS handlers: the
    console's live feed, then the server (started in this order, stopped in reverse)."""
    assert s.http_port is not None
    users, attempts = Users(s.auth), Attempts()  # one budget of failed sign-ins for both
    closing = asyncio.Event()  # set first when the server stops: open streams end
    whatif = WhatIf(desk)
    problems, effects = read.problems, read.effects
    api = Api(
        commands,
        answers,
        link.js,
        users,
        closing,
        attempts,
        problems,
        effects,
        whatif,
        replanner,
        read.kb,
    )
    sessions = Sessions(desk.env.get("CIPHER_KEY") or "", attempts=attempts)
    live = Live(link.js, closing)
    tz, tree = desk.policy.business_calendar.tz, desk.policy.classification.categories
    categories = sorted([*tree, *(f"{top}/{sub}" for top, subs in tree.items() for sub in subs)])
    console = Console(
        commands,
        answers,
        users,
        sessions,
        live,
        tz,
        categories,
        desk.clock,
        problems,
        effects,
        whatif,
        replanner,
        read.kb,
    )
    secret = desk.env.get("CIPHER_KEY") or ""
    help_pages = SelfServicePages(answers, read.kb, link.js, secret, tz)  # /help, for customers
    routes = [*api.routes(), *console.routes(), *help_pages.routes()]
    server = HttpServer(s.http_host, s.http_port, routes, closing, s.http_forwarded_allow_ips)
    return [live, server]


@dataclass
class ReadSide:
    """The queries on the projections, the process managers that read them, and the
    projectors that keep them."""

    queries: QueryService
    problems: ProblemService
    kb: KnowledgeBase
    shelf: ArticleShelf
    problem_list: ProblemsService
    sla: SlaService
    board: BoardService
    audit: AuditService
    stats: StatsService
    watcher: SlaWatcher
    group: GroupImpact
    low: LowScores
    batches: SuggestionBatches
    effects: Effects
    projectors: dict[str, Projector]

    def databases(self) -> list[ReadDB]:
        """Every read-model connection the read side holds (closed when it stops)."""
        held = [
            self.sla.db,
            self.problem_list.db,
            self.shelf.db,
            self.group.db,
            self.audit.db,
            self.stats.db,
            self.board.db,
            *(p.db for p in self.projectors.values()),
        ]
        return list({id(db): db for db in held}.values())

    def answers(self) -> dict[str, Answer]:
        """Every query by name, each refusing a role that may not ask it."""
        q = self.queries
        return role_checked(
            {
                "ticket": q.ticket,
                "history": q.history,
                "sla": self.sla.sla,
                "audit": self.audit.audit,
                "stats": self.stats.stats,
                "board": self.board.board,
                "tickets": TicketList(self.stats).tickets,
                "problem": self.problems.problem,
                "problems": self.problem_list.problems,
                "article": self.kb.article,
                "articles": self.shelf.articles,
                "suggest_articles": self.shelf.suggest,
            }
        )


def read_side(db: str, desk: TicketDesk, js: JetStreamContext) -> ReadSide:
    """The read models on `db`, each service on a connection of its own; they can be
    rebuilt from the stream, so their commits need not reach the disk at once."""
    policy, clock = desk.policy, desk.clock

    def connect() -> ReadDB:
        return ReadDB(db, durable=False)

    sla = SlaService(connect(), policy, clock)
    problems, problem_list = ProblemService(desk), ProblemsService(connect(), clock)
    managers = connect()  # one connection for the process managers: they read little
    watcher, group = SlaWatcher(desk, sla), GroupImpact(desk, managers, problems)
    low, batches = LowScores(desk, managers, problems), SuggestionBatches(desk, managers)
    after = {
        "sla": lambda events: watcher.refresh({e["subject"] for e in events}),
        "reports": group.check,
        "stats": low.check,
    }

    def applied(name: str, events: Sequence[dict]) -> None:
        if name in after:
            after[name](events)

    projectors = {
        p.name: Projector(p, connect(), js, on_applied=applied) for p in projections_for(policy)
    }
    audit, stats = AuditService(connect()), StatsService(connect(), policy, clock)
    effects = Effects(problems, stats, managers, clock)
    board = BoardService(connect(), policy, clock)
    return ReadSide(
        QueryService(desk, witness_of(js)),
        problems,
        KnowledgeBase(desk),
        ArticleShelf(connect(), desk),
        problem_list,
        sla,
        board,
        audit,
        stats,
        watcher,
        group,
        low,
        batches,
        effects,
        projectors,
    )


def witness_of(js: JetStreamContext) -> StreamWitness:
    """The event stream vouching for each ticket's last stored event (`history`)."""
    names = {topic.rpartition(".")[2] for topic in TICKET_TOPICS}
    return StreamWitness(js, asyncio.get_running_loop(), names)


def leader_of(
    s: Settings, desk: TicketDesk, link: NatsLink, relay: Relay, read: ReadSide
) -> Leader:
    """The lease holder's workers: the relay first (it stops last and publishes what the
    others stored), then the projections and the process managers."""
    retention = RetentionSchedule(desk)
    feed = Feed(list(read.projectors.values()), link.js)
    loops = [
        Loop("relay", relay.run, relay.flush, grace=30.0),
        Loop("projections", feed.run, feed.stop),
        Loop("sla-watcher", read.watcher.run, read.watcher.stop),
        Loop("group-impact", read.group.run, read.group.stop),
        Loop("low-scores", read.low.run, read.low.stop),
        Loop("suggestion-batch", read.batches.run, read.batches.stop),
        Loop("effects", read.effects.run, read.effects.stop),
    ]
    extra: list[Worker] = [
        Rebuilds(link.nc, read.projectors),
        Loop("retention", retention.run, retention.stop, grace=60.0),
    ]

    def facts(since: float) -> dict:
        running = {loop.name: loop.running for loop in loops}
        return leader_facts(since, running, relay, read.watcher, read.group)

    return Leader(link.nc, Lease(s.store_url), [*loops, *extra], relay=loops[0], facts=facts)


def role_workers(
    s: Settings,
    desk: TicketDesk,
    link: NatsLink,
    relay: Relay,
    leader: Leader,
    front: list[Worker],
) -> list[Worker]:
    """What this role runs, in start order (the runner stops them in reverse: the front
    first, so everything it stored is published before the relay stops)."""
    workers: list[Worker] = []
    if s.role is Role.ALL:
        desk.on_saved(relay.wake)
    elif s.role is Role.FRONT:  # the relay runs in another process: nudge it after a save
        nudger = Nudger(link.nc)
        desk.on_saved(nudger.after_save)
        workers.append(nudger)
        if s.processes > 1:
            workers.append(BackProcess(s, link.url, link.credentials))
    else:
        workers.append(NudgeListener(link.nc, relay.wake))
    if s.role.leads:
        workers.append(leader)
    if s.role.serves:
        workers += front
    return workers
