"""The roles of docs/contract.md as nats-server subject permissions, and the `authorization`
block that grants them.

| role | publishes | reads |
|---|---|---|
| channel | `tickets.intake.>`, self-service (`SELF_SERVICE`), granted `tickets.cmd.*` | its inbox |
| analytics | `tickets.query.stats`, `.tickets`, `.article`, `.articles` | TICKETS_EVENTS |
| agent, supervisor | `tickets.cmd.>`, `tickets.query.>` | its inbox |
| manager | the same, `tickets.admin.rebuild` and `.sla_whatif` | its inbox |
| auditor | `tickets.query.>`, `tickets.admin.rebuild`, `.sla_whatif` | TICKETS_EVENTS, DLQ |
| system | everything (the service itself) | everything |

A channel adapter also asks the knowledge base and reports self-service
(`tickets.query.suggest_articles`, `tickets.cmd.self_served`), and may be granted
`tickets.cmd.rate`, `reopen` and `confirm`.

The embedded server (`up --auth`) puts these users in one account, `TICKETS`, with the
streams. The service answers commands and queries from a second account,
`RESPONDERS`, which exports `tickets.cmd.>` and `tickets.query.>`; `TICKETS` imports
them with `share: true`, so each request reaches the service with a
`Nats-Request-Info` header the server writes (a client cannot forge it): the login
that sent it, recorded as the actor whatever the body says.

Each user receives replies (request/reply, JetStream acknowledgements, pushed stream
messages) on its own inbox `_INBOX.<user>.>` only, so nobody reads another user's
replies; a client connects with `inbox_prefix="_INBOX.<user>"`. Reading a stream is
JetStream's consumer API on that stream, without the service's own durable consumers
(a reader could otherwise take the read side's messages away from it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from infra.auth_file import AuthFile, User
from infra.streams import DLQ, EVENTS

SERVICE_CONSUMERS = {EVENTS: ("ticketflow-read-side",)}  # infra.projector.Feed's durable
REBUILD = "tickets.admin.rebuild"  # a projection rebuilt: roles manager, auditor (docs/contract.md)
WHATIF = "tickets.admin.sla_whatif"  # a candidate policy tried on the record: the same roles
# What analytics may ask: the statistics and the tickets behind each figure (no texts),
# and the knowledge base (published text, no customer's words).
ANALYTICS_QUERIES = (
    "tickets.query.stats",
    "tickets.query.tickets",
    "tickets.query.article",
    "tickets.query.articles",
)
# What every channel adapter may do besides intake: answer from the knowledge base first.
SELF_SERVICE = ("tickets.query.suggest_articles", "tickets.cmd.self_served")


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    deny_publish: tuple[str, ...] = ()


def inbox_prefix(user: str) -> str:
    return f"_INBOX.{user}"


def reading(stream: str) -> tuple[str, ...]:
    """What a client publishes to read a stream through a consumer of its own."""
    api = "$JS.API"
    return (
        f"{api}.INFO",
        f"{api}.STREAM.NAMES",
        f"{api}.STREAM.INFO.{stream}",
        f"{api}.STREAM.MSG.GET.{stream}",
        f"{api}.CONSUMER.CREATE.{stream}",
        f"{api}.CONSUMER.CREATE.{stream}.>",
        f"{api}.CONSUMER.DURABLE.CREATE.{stream}.*",
        f"{api}.CONSUMER.INFO.{stream}.*",
        f"{api}.CONSUMER.DELETE.{stream}.*",
        f"{api}.CONSUMER.MSG.NEXT.{stream}.*",
        f"$JS.ACK.{stream}.>",
        f"$JS.FC.{stream}.>",
    )


def untouchable(stream: str) -> tuple[str, ...]:
    """The service's own consumers on `stream`, in every position a consumer name takes."""
    return tuple(
        subject
        for name in SERVICE_CONSUMERS.get(stream, ())
        for subject in (
            f"$JS.API.CONSUMER.*.{stream}.{name}",
            f"$JS.API.CONSUMER.*.{stream}.{name}.>",
            f"$JS.API.CONSUMER.*.*.{stream}.{name}",
            f"$JS.ACK.{stream}.{name}.>",
        )
    )


def permissions(role: str, user: str, commands: Sequence[str] = ()) -> Permissions | None:
    """The subjects of `role` for `user`; None: no limits (the service itself)."""
    inbox = (f"{inbox_prefix(user)}.>",)
    if role == "system":
        return None
    if role == "channel":
        granted = (f"tickets.cmd.{c}" for c in commands)
        return Permissions(("tickets.intake.>", *SELF_SERVICE, *granted), inbox)
    if role in ("agent", "supervisor"):
        return Permissions(("tickets.cmd.>", "tickets.query.>"), inbox)
    if role == "manager":
        return Permissions(("tickets.cmd.>", "tickets.query.>", REBUILD, WHATIF), inbox)
    if role == "analytics":
        return Permissions(
            (*ANALYTICS_QUERIES, *reading(EVENTS)),
            (*inbox, "tickets.events.>"),
            untouchable(EVENTS),
        )
    if role == "auditor":
        reads = dict.fromkeys((*reading(EVENTS), *reading(DLQ)))
        return Permissions(
            ("tickets.query.>", REBUILD, WHATIF, *reads),
            (*inbox, "tickets.events.>", "tickets.dlq.>"),
            untouchable(EVENTS) + untouchable(DLQ),
        )
    raise ValueError(f"unknown role {role!r}")


def _list(subjects: Iterable[str]) -> str:
    """A config array; a long one a subject a line, for the people who read the config."""
    quoted = [json.dumps(s) for s in subjects]
    if len(quoted) <= 3:
        return "[" + ", ".join(quoted) + "]"
    return "[\n" + "".join(f"        {q},\n" for q in quoted) + "      ]"


def render_user(name: str, password: str, perms: Permissions | None) -> str:
    """One entry of `users`; `password` as it goes into the config: a quoted string or a
    `$VARIABLE` reference."""
    head = f"{{user: {json.dumps(name)}, password: {password}"
    if perms is None:
        return head + "}"
    deny = f", deny: {_list(perms.deny_publish)}" if perms.deny_publish else ""
    return (
        f"{head}, permissions: {{\n"
        f"      publish: {{allow: {_list(perms.publish)}{deny}}}\n"
        f"      subscribe: {{allow: {_list(perms.subscribe)}}}\n    }}}}"
    )


def render_authorization(entries: Iterable[str]) -> str:
    return "authorization {\n  users = [\n" + "".join(f"    {e}\n" for e in entries) + "  ]\n}\n"


def quoted(secret: str) -> str:
    """A config string literal; nats-server reads JSON's escapes (and raw UTF-8)."""
    return json.dumps(secret, ensure_ascii=False)


def user_entry(user: User, environ: dict[str, str] | None = None) -> str:
    """A user of the auth file, its password read from `environ` (never written back to
    anything but the embedded server's config, which lives only while it starts)."""
    if user.password_bcrypt:
        password = quoted(user.password_bcrypt)
    else:
        assert environ is not None and user.password_env
        password = quoted(environ[user.password_env])
    return render_user(user.name, password, permissions(user.role, user.name, user.commands))


def embedded_authorization(
    auth: AuthFile, environ: dict[str, str], service: tuple[str, str] | None
) -> str:
    """The `authorization` block of the embedded server: the file's users and, when the
    service has no `system` user of the file, its own (`service`: name, password)."""
    entries = [user_entry(u, environ) for u in auth.users]
    if service is not None:
        entries.append(render_user(service[0], quoted(service[1]), None))
    return render_authorization(entries)


SHARED = ("tickets.cmd.>", "tickets.query.>")  # answered from RESPONDERS, with the login


def embedded_accounts(
    auth: AuthFile,
    environ: dict[str, str],
    service: tuple[str, str] | None,
    responder: tuple[str, str],
) -> str:
    """The `accounts` block of the embedded server: the file's users (and the service's
    own, when the file has no `system` user) in `TICKETS` with JetStream; the service's
    responders in `RESPONDERS`, whose commands and queries `TICKETS` imports with the
    requester's identity shared."""
    entries = [user_entry(u, environ) for u in auth.users]
    if service is not None:
        entries.append(render_user(service[0], quoted(service[1]), None))
    own = render_user(responder[0], quoted(responder[1]), None)
    lines = ["accounts {", "  TICKETS: {", "    jetstream: enabled", "    users = ["]
    lines += [f"      {e}" for e in entries]
    lines += ["    ]", "    imports = ["]
    lines += [
        f"      {{service: {{account: RESPONDERS, subject: {json.dumps(s)}}}, share: true}}"
        for s in SHARED
    ]
    lines += ["    ]", "  }", "  RESPONDERS: {", "    users = [", f"      {own}", "    ]"]
    lines += ["    exports = ["] + [f"      {{service: {json.dumps(s)}}}" for s in SHARED]
    lines += ["    ]", "  }", "}", ""]
    return "\n".join(lines)


COMPOSE_USERS = {
    "system": "ticketflow",
    "channel": "channel",
    "analytics": "analytics",
    "agent": "agent",
    "supervisor": "supervisor",
    "manager": "manager",
    "auditor": "auditor",
}


def password_variable(role: str) -> str:
    return f"TICKETFLOW_NATS_{role.upper()}_PASSWORD"


def compose_authorization() -> str:
    """deploy/nats-auth.conf: one user per role, each password from an environment variable
    of the NATS container (nats-server reads `$NAME` from its environment)."""
    header = (
        "# Generated by `python -m infra.nats_auth` (tests/contract check it is current):\n"
        "# one NATS user per role of docs/contract.md, passwords from the environment.\n"
    )
    return header + render_authorization(
        render_user(name, f"${password_variable(role)}", permissions(role, name))
        for role, name in COMPOSE_USERS.items()
    )


if __name__ == "__main__":
    print(compose_authorization(), end="")
