"""`ticketflow policy check FILE` and `ticketflow policy diff A B`: a policy file read
as `ticketflow up --policy FILE` reads it, without starting anything. The comparison
itself is `domain.policy_diff`; this module reads the files and renders."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from domain.policy import Policy
from domain.policy_diff import Change, diff_policies
from infra.policy_file import PolicyError, default_policy_text, load_policy, merge

app = typer.Typer(
    help="Check a policy file, or compare two, before `ticketflow up --policy` uses them.",
    no_args_is_help=True,
)
DEFAULT = "default"  # in `diff`: the shipped defaults
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@dataclass(frozen=True)
class Problem:
    """One reason a policy file is refused: the file, the key it names (None when the
    file cannot be read or parsed at all) and what is wrong."""

    file: str
    key: str | None
    message: str

    @property
    def line(self) -> str:
        named = f"{self.key}: " if self.key else ""
        return f"{self.file}: {named}{self.message}"


def read(source: str, *, defaults_named: bool = True) -> tuple[Policy | None, list[Problem]]:
    """The policy of a file, merged over the shipped defaults by the loader `up` uses, or
    why it is refused, key by key. `default` is the shipped defaults, unless
    `defaults_named` is false (`check` checks files only)."""
    try:
        return load_policy(None if defaults_named and source == DEFAULT else source), []
    except PolicyError as error:
        return None, problems(source, error)


def problems(source: str, error: PolicyError) -> list[Problem]:
    """The loader's refusal as one problem per key. The loader joins them into one
    message; validating the same merge again gives pydantic's list (a message may hold
    `; ` itself). A file that cannot be read or parsed has one problem: the loader's."""
    try:
        file = tomllib.loads(Path(source).read_text("utf-8"))
        Policy.model_validate(merge(tomllib.loads(default_policy_text()), file))
    except ValidationError as invalid:
        return [
            Problem(source, ".".join(str(p) for p in e["loc"]) or None, e["msg"])
            for e in invalid.errors()
        ]
    except (OSError, ValueError, RecursionError):  # TOMLDecodeError, UnicodeDecodeError too
        pass
    return [Problem(source, None, str(error).removeprefix(f"{source}: "))]


def _refuse(found: list[Problem], as_json: bool) -> typer.Exit:
    if as_json:
        errors = [{"file": p.file, "key": p.key, "message": p.message} for p in found]
        _print_json({"valid": False, "errors": errors})
    else:
        for problem in found:
            typer.echo(problem.line, err=True)
    return typer.Exit(1)


def _print_json(body: dict[str, Any]) -> None:
    typer.echo(json.dumps(body, ensure_ascii=False, indent=2))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


@app.command()
def check(
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE",
            help="The policy file (TOML) to check, as `ticketflow up --policy FILE` reads it.",
            show_default=False,
        ),
    ],
    as_json: AsJson = False,
) -> None:
    """Check a policy file without starting anything: merged over the shipped defaults
    and validated by the loader `ticketflow up --policy FILE` uses.

    Valid: prints `FILE: valid; policy_version 4d1dfe5cf989` (from the whole policy,
    defaults included: two files that mean the same policy have the same version) and
    how many SLA rules, agents, teams and departments it has.

    Refused: prints each problem on its own line on stderr, naming the file and the key
    (`FILE: sla.0.resolution: ...`). A file that is missing, unreadable, not UTF-8 or
    not TOML is refused too.

    --json prints `{"valid": true, "policy_version", ...}` or
    `{"valid": false, "errors": [{"file", "key", "message"}, ...]}` on stdout.

    Exit status: 0 valid; 1 refused; 2 bad usage.
    """
    policy, found = read(file, defaults_named=False)
    if policy is None:
        raise _refuse(found, as_json)
    counts = {
        "sla_rules": len(policy.sla),
        "agents": len(policy.agents),
        "teams": len(policy.teams),
        "departments": len(policy.departments),
    }
    if as_json:
        _print_json({"valid": True, "file": file, "policy_version": policy.version, **counts})
        return
    typer.echo(f"{file}: valid; policy_version {policy.version}")
    typer.echo(
        f"  {_count(counts['sla_rules'], 'SLA rule')}, {_count(counts['agents'], 'agent')}, "
        f"{_count(counts['teams'], 'team')}, {_count(counts['departments'], 'department')}"
    )


@app.command()
def diff(
    a: Annotated[
        str,
        typer.Argument(
            metavar="A",
            help="The policy before: a file, or `default` for the shipped defaults.",
            show_default=False,
        ),
    ],
    b: Annotated[
        str,
        typer.Argument(
            metavar="B",
            help="The policy after: a file, or `default` for the shipped defaults.",
            show_default=False,
        ),
    ],
    as_json: AsJson = False,
) -> None:
    """What changes from policy A to policy B, in words a supervisor reads.

    Both are read as `ticketflow policy check` reads them (`default` is the shipped
    defaults; write `./default` for a file of that name). Prints the policy_version
    of each, then the SLA rules, matched by their `when` conditions, not their place:
    targets changed (`resolution: 24h → 8h (shorter)`, a clock changed), added or
    removed, rules new, removed or reordered (the first rule that matches a ticket
    applies); then every other setting that changed, by its dotted path
    (`customer.confirm_within: 3d → 5d (longer)`), agents, teams and departments by
    id. Identical policies: `no changes (same policy_version ...)`.

    --json prints `{"from", "to", "changes": [...]}`, each change as `{"section",
    "key", "kind", "old", "new", "subject", "detail", "text"}` (docs/policy.md).

    Exit status: 0 compared (changes or none); 1 A or B refused (each problem on
    stderr, as `check` prints it); 2 bad usage.
    """
    old, old_problems = read(a)
    new, new_problems = read(b)
    if old is None or new is None:
        raise _refuse(old_problems + new_problems, as_json)
    changes = diff_policies(old, new)
    if as_json:
        _print_json(
            {
                "from": {"policy": a, "policy_version": old.version},
                "to": {"policy": b, "policy_version": new.version},
                "changes": [change.as_json() for change in changes],
            }
        )
        return
    for line in render(changes, _named(a), _named(b), old.version):
        typer.echo(line)


def _named(source: str) -> str:
    return "the shipped defaults" if source == DEFAULT else source


SECTIONS = (
    ("sla", "SLA rules (tried in order; the first that matches a ticket applies):"),
    ("", "Other settings:"),
)


def render(changes: list[Change], a: str, b: str, version: str) -> list[str]:
    """The changes as lines: the versions, then the SLA rules, then the other settings;
    changes about one rule under that rule."""
    if not changes:
        return [f"no changes (same policy_version {version})"]
    lines = []
    for change in changes:
        if change.kind == "version":
            lines.append(f"{change.text} ({a} → {b})")
    for section, heading in SECTIONS:
        wanted = [
            c for c in changes if c.kind != "version" and (c.section == "sla") == (section == "sla")
        ]
        if not wanted:
            continue
        lines += ["", heading]
        subject = ""
        for change in wanted:
            if change.subject and change.subject != subject:
                lines.append(f"  {change.subject}:")
            subject = change.subject
            lines.append(f"    {change.detail}" if subject else f"  {change.detail}")
    return lines
