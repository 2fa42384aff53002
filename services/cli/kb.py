"""`ticketflow kb import DIR` and `ticketflow kb search TEXT`: the knowledge base kept
as a folder of Markdown files (read by `infra.article_files`), published through a
running service, and asked which articles answer a question."""

from __future__ import annotations

import asyncio
import getpass
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from domain.article_search import search_terms
from infra.article_files import ArticleFile, Refused, article_paths, read_folder
from services.application.article_messages import PublishArticle
from services.application.messages import Actor, reason_of
from services.cli.client import ClientError, ask, client_url, connect, fail
from services.cli.options import ClientNatsUrl, Timeout
from services.cli.read import _ask

app = typer.Typer(
    help="The knowledge base: publish a folder of Markdown articles (`kb import`), or "
    "ask which published articles answer a question (`kb search`), on a running service.",
    no_args_is_help=True,
)
ROLES = ("supervisor", "manager")  # who may publish articles
# The service's refusals that concern one file; any other (forbidden, internal, no
# service, no reply) would refuse every file alike, so it stops the import.
PER_FILE = ("invalid", "not_found", "illegal_state", "conflict")
RESULTS = ("new", "revised", "unchanged", "refused", "not sent")  # what became of a file
LOOKUP = 50  # the articles most like a title, among which one with that exact title is found
AsJson = Annotated[bool, typer.Option("--json", help="Print the raw reply as JSON.")]


@dataclass
class Outcome:
    """What became of one file: new, revised, unchanged, refused or not sent."""

    file: str
    result: str
    number: str | None = None
    version: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.result in RESULTS[:3]

    @property
    def shown(self) -> str:
        return f"{self.result}: {self.reason}" if self.reason else self.result


@dataclass(frozen=True)
class Ready:
    """A file read and its command checked as the edge checks it, not yet sent."""

    file: ArticleFile
    body: dict[str, Any]


@app.command("import")
def import_(
    folder: Annotated[
        Path,
        typer.Argument(
            metavar="DIR",
            help="The folder of articles: every *.md in it but README.md.",
            exists=True,
            file_okay=False,
            dir_okay=True,
            show_default=False,
        ),
    ],
    nats_url: ClientNatsUrl = None,
    actor_id: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Who publishes, recorded as the actor (with --role). Default: cli:<user>. "
            "On a service started with --auth the service records your NATS login instead.",
        ),
    ] = None,
    role: Annotated[
        str, typer.Option(help="The publisher's role: supervisor or manager.")
    ] = "supervisor",
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Send nothing when any file is refused by the checks made before sending.",
        ),
    ] = False,
    timeout: Timeout = 30.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the outcome of each file as JSON.")
    ] = False,
) -> None:
    """Publish every article file of DIR (*.md but README.md, in name order).

    Each file is Markdown with YAML front matter between its first two `---`
    lines: `title`, `language` (zh or en), `categories` (a list), optionally
    `replies` (a list of standard replies) and `article` (the number of an
    existing article, e.g. KB0001: the file is its next version). The body
    follows the front matter. The format: deploy/kb/README.md.

    Every file is checked before anything is sent: a file with a missing
    field, a bad language, YAML that does not parse, an empty body, a title
    another file already has, or a value over the command's limits is
    refused with its reasons, and nothing of it is sent; the other files are
    published. With --strict nothing at all is sent when any file is
    refused.

    A file without `article:` is published as the next version of the
    article with exactly its title, if there is one, else as a new article.
    Publishing the text an article already has changes nothing, so importing
    a folder again changes only the articles whose file was edited. Once
    sent, the command waits (up to --timeout) until the knowledge base lists
    what it published, so a second import right after finds it.

    Prints a table: each file, its article's number and version, and new,
    revised, unchanged or refused with the reason.

    Exit status: 0 when every file was published or unchanged; 1 when a file
    was refused or not sent, or no service answered; 2 for bad usage.
    """
    if role not in ROLES:
        raise fail(f"--role must be supervisor or manager (who may publish), not {role!r}", 2)
    try:
        actor = Actor.model_validate({"id": actor_id or f"cli:{getpass.getuser()}", "role": role})
    except ValidationError as error:
        raise fail(f"--as: {reason_of(error)}", 2) from None
    if not article_paths(folder):
        raise fail(f"no article files in {folder} (*.md, README.md aside)", 1)
    outcomes: dict[str, Outcome] = {}
    ready: list[Ready] = []
    for found in read_folder(folder):
        checked = found if isinstance(found, Refused) else _check(found, actor.model_dump())
        if isinstance(checked, Refused):
            outcomes[checked.name] = Outcome(checked.name, "refused", reason=checked.reason)
        else:
            ready.append(checked)
    if strict and outcomes:
        for r in ready:
            reason = "--strict, and another file is refused"
            outcomes[r.file.name] = Outcome(r.file.name, "not sent", reason=reason)
    elif ready:
        try:
            sent = asyncio.run(_publish(client_url(nats_url), ready, timeout))
        except ClientError as error:
            raise fail(error, error.code) from None
        outcomes.update((o.file, o) for o in sent)
    _summary([outcomes[name] for name in sorted(outcomes)], folder, as_json)
    if not all(o.ok for o in outcomes.values()):
        raise typer.Exit(1)


def _check(file: ArticleFile, actor: dict) -> Ready | Refused:
    """The file's command, checked as the service's edge checks it (lengths, counts)."""
    body = {**file.content(), "actor": actor}
    if file.article:
        body["article_id"] = file.article
    try:
        PublishArticle.model_validate(body)
    except ValidationError as error:
        return Refused(file.name, reason_of(error))
    return Ready(file, body)


async def _publish(url: str, ready: list[Ready], timeout: float) -> list[Outcome]:
    """Send each file's command on one connection, with a progress bar on a terminal;
    then wait until the knowledge base lists what was published."""
    from rich.progress import Progress

    console = Console(stderr=True)
    nc = await connect(url)
    outcomes: list[Outcome] = []
    try:
        with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
            task = bar.add_task("publishing", total=len(ready))
            for r in ready:
                bar.update(task, description=r.file.name)
                try:
                    outcomes.append(await _publish_one(nc, r, timeout))
                except ClientError as error:
                    if str(error).partition(":")[0] not in PER_FILE:
                        stopped = f"stopped: {error}"
                        outcomes += [
                            Outcome(left.file.name, "not sent", reason=stopped)
                            for left in ready[len(outcomes) :]
                        ]
                        break
                    outcomes.append(Outcome(r.file.name, "refused", reason=str(error)))
                bar.advance(task)
        published = [o for o in outcomes if o.result in ("new", "revised")]
        try:
            listed = not published or await _listed(nc, published, ready, timeout)
        except ClientError:  # what was sent stands; the summary says what it was
            listed = False
        if not listed:
            console.print(
                "warning: the knowledge base does not list every published article yet; "
                "wait a moment before importing this folder again"
            )
    finally:
        await nc.close()
    return outcomes


async def _publish_one(nc: Any, r: Ready, timeout: float) -> Outcome:
    body = r.body
    if "article_id" not in body:
        titled = await _titled(nc, r.file.title, timeout)
        if len(titled) > 1:
            numbers = ", ".join(sorted(a["number"] for a in titled))
            reason = f"articles {numbers} have this title; name one with `article:`"
            return Outcome(r.file.name, "refused", reason=reason)
        if titled:
            body = {**body, "article_id": titled[0]["number"]}
    reply = await ask(nc, "tickets.cmd.publish_article", body, timeout)
    revised = "revised" if reply["changed"] else "unchanged"
    result = revised if "article_id" in body else "new"
    return Outcome(r.file.name, result, reply["number"], reply["version"])


async def _titled(nc: Any, title: str, timeout: float) -> list[dict]:
    """The articles titled exactly `title`. The `articles` query ranks by similarity,
    so an article with the very title is among the first; a title of no search terms
    at all ("Hello", "?") ranks nothing, and is looked for in the whole list instead
    (its first 1,000 articles)."""
    query: dict[str, Any] = {"text": title, "limit": LOOKUP}
    if not search_terms(title):
        query = {"limit": 1000}
    reply = await ask(nc, "tickets.query.articles", query, timeout)
    return [a for a in reply["articles"] if a["title"] == title]


async def _listed(nc: Any, published: list[Outcome], ready: list[Ready], timeout: float) -> bool:
    """Whether the knowledge base lists each published article at its new version
    within `timeout` seconds (the read side follows the store within moments)."""
    titles = {r.file.name: r.file.title for r in ready}
    waiting = {o.file: o for o in published}
    deadline = time.monotonic() + timeout
    while True:
        for name, o in list(waiting.items()):
            if any(
                (a["number"], a["version"]) == (o.number, o.version)
                for a in await _titled(nc, titles[name], timeout)
            ):
                del waiting[name]
        if not waiting or time.monotonic() > deadline:
            return not waiting
        await asyncio.sleep(0.1)


def _summary(outcomes: list[Outcome], folder: Path, as_json: bool) -> None:
    if as_json:
        files = [asdict(o) for o in outcomes]
        typer.echo(
            json.dumps(
                {"ok": all(o.ok for o in outcomes), "files": files}, ensure_ascii=False, indent=2
            )
        )
        return
    counts = {r: sum(o.result == r for o in outcomes) for r in RESULTS}
    title = f"{folder}: " + ", ".join(f"{n} {r}" for r, n in counts.items() if n)
    table = Table(title=title, title_justify="left")
    for column in ("file", "article", "version"):
        table.add_column(column, no_wrap=True)
    table.add_column("result", ratio=1)
    for o in outcomes:
        result = escape(o.shown) if o.ok else f"[bold red]{escape(o.shown)}[/]"
        table.add_row(escape(o.file), o.number or "—", str(o.version or "—"), result)
    Console().print(table)


@app.command()
def search(
    text: Annotated[
        str,
        typer.Argument(
            metavar="TEXT",
            help="The question, as a customer would write it (Chinese or English).",
            show_default=False,
        ),
    ],
    nats_url: ClientNatsUrl = None,
    limit: Annotated[int, typer.Option(min=1, max=20, help="How many articles at most.")] = 3,
    language: Annotated[
        str | None, typer.Option(help="Only articles in this language: zh or en.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """The published articles that best answer TEXT, best first.

    Prints each article's number, score (0 to 1) and title: the
    `suggest_articles` query, as agents see it beside a ticket. An article
    that shares no word with TEXT is not listed; a newly published one is
    found once the read side has it (within moments).

    Exit status: 0 (also when no article matches); 1 when no service
    answers; 2 for bad input.

    """
    if language not in (None, "zh", "en"):
        raise fail("--language must be zh or en", 2)
    body: dict[str, Any] = {"text": text, "limit": limit}
    if language:
        body["language"] = language
    reply = _ask(nats_url, "tickets.query.suggest_articles", body)
    if as_json:
        typer.echo(json.dumps(reply, ensure_ascii=False, indent=2))
        return
    if not reply["articles"]:
        typer.echo("no published article matches")
        return
    table = Table(title="Suggested articles", title_justify="left")
    table.add_column("article", no_wrap=True)
    table.add_column("score", justify="right")
    table.add_column("title", ratio=1)
    for a in reply["articles"]:
        table.add_row(a["number"], f"{a['score']:.3f}", escape(a["title"]))
    Console().print(table)
