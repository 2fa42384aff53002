"""The `ticketflow` command line: the app and its commands, in the order `--help` lists
them. Each command lives in a module named by what it does."""

from __future__ import annotations

import typer

from services.cli import kb, policy, privacy, problems, read, replay, simulate, status, up, whatif

app = typer.Typer(
    help="ticketflow: event-sourced tickets, SLAs and audit trails for customer-service "
    "teams, over NATS JetStream.",
    no_args_is_help=True,
    add_completion=False,
)
COMMANDS = (
    up.up,
    up.asyncapi,
    replay.replay,
    simulate.simulate,
    read.sla,
    read.stats,
    read.rebuild,
    whatif.sla_whatif,
    status.status,
    privacy.forget,
    privacy.purge,
    problems.problems,
)
for command in COMMANDS:
    app.command()(command)
app.add_typer(problems.report, name="report")
app.add_typer(policy.app, name="policy")
app.add_typer(kb.app, name="kb")


@app.callback()
def _root() -> None:
    """ticketflow: event-sourced tickets, SLAs and audit trails over NATS JetStream."""


def main() -> None:
    app(prog_name="ticketflow")
