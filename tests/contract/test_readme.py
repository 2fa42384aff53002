"""The README and the docs tell the truth, and stand alone.

- Every setting in the README's configuration table is a flag or environment variable
  of `ticketflow up` (its `--help` says so), and every flag of `up` is in the table.
- The README's examples, taken from README.md as written, run against a real
  `ticketflow up`: the Python example prints what the README shows, the commands
  example works the ticket to closed, and the CLI session's commands answer.
- The README and docs/ refer to nothing outside the repository, and their links
  between each other land on a file and a heading that exist.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from tests.integration.test_cli import up

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
TICKETFLOW = [sys.executable, "-m", "services.cli"]
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
ENV_VAR = re.compile(r"\bTICKETFLOW_[A-Z0-9_]+\b")
NUMBER = re.compile(r"\bCS\d{12}\b")
URL = re.compile(r"nats://127\.0\.0\.1:\d+")


# ---- reading README.md --------------------------------------------------------------


def section(text: str, heading: str) -> str:
    """The text under the first heading that starts with `heading`, up to the next
    heading of the same or a higher level (headings inside code blocks do not count)."""
    lines, inside, level, found, fenced = text.splitlines(), False, 0, [], False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        mark = re.match(r"(#+) ", line) if not fenced else None
        if mark and inside and len(mark.group(1)) <= level:
            break
        if mark and not inside and line[len(mark.group(0)) :].startswith(heading):
            inside, level = True, len(mark.group(1))
            continue
        if inside:
            found.append(line)
    assert inside, f"README.md has no heading {heading!r}"
    return "\n".join(found)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block, in order."""
    return [(lang, body) for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", text, re.M | re.S)]


def first_table(text: str) -> list[list[str]]:
    """The rows of the first Markdown table in `text` (header and separator dropped)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def readme() -> str:
    return README.read_text(encoding="utf-8")


def run(args: list[str], **options) -> subprocess.CompletedProcess:
    """A command to its end, its output as text."""
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False, **options)


# ---- the configuration table against `ticketflow up --help` ---------------------------


def up_help() -> str:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    done = run([*TICKETFLOW, "up", "--help"], env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def configuration_table() -> list[list[str]]:
    rows = first_table(section(readme(), "Configuration"))
    assert rows, "the configuration section has no table"
    return rows


class TestTheConfigurationTable:
    def test_every_flag_and_variable_it_lists_is_one_of_up(self) -> None:
        help_text = up_help()
        cells = [cell for row in configuration_table() for cell in row]
        listed = {token for cell in cells for token in FLAG.findall(cell) + ENV_VAR.findall(cell)}
        assert listed, "no flag or TICKETFLOW_ variable found in the table"
        missing = sorted(token for token in listed if token not in help_text)
        assert not missing, f"in README's table but not in `ticketflow up --help`: {missing}"

    def test_each_row_names_a_flag_and_its_variable(self) -> None:
        for row in configuration_table():
            assert FLAG.fullmatch(row[0].strip("`")), row
            assert ENV_VAR.fullmatch(row[1].strip("`")), row

    def test_every_flag_of_up_is_in_it(self) -> None:
        flags = {row[0].strip("`") for row in configuration_table()}
        offered = set(FLAG.findall(up_help())) - {"--help"}
        assert offered <= flags, f"flags of `up` missing from README's table: {offered - flags}"


# ---- the examples against a running service ------------------------------------------


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`ticketflow up` on its defaults (embedded nats-server, SQLite) in a fresh data dir."""
    data_dir = tmp_path_factory.mktemp("readme") / "data"
    process, url = up(data_dir, "--log-level", "WARNING")
    try:
        yield url, data_dir
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


def run_example(url: str, folder: Path) -> str:
    """README's `example.py`, saved and run as the README says: `python example.py URL`."""
    (lang, code), (_, _output) = fenced_blocks(section(readme(), "Send a request"))[:2]
    assert lang == "python"
    script = folder / "example.py"
    script.write_text(code, encoding="utf-8")
    done = run([sys.executable, str(script), url], cwd=folder)
    assert done.returncode == 0, done.stderr
    return done.stdout


def number_in(output: str) -> str:
    numbers = set(NUMBER.findall(output))
    assert len(numbers) == 1, output
    return numbers.pop()


@pytest.mark.nats
def test_the_example_prints_the_tickets_first_two_events_as_shown(service, tmp_path) -> None:
    url, _ = service
    printed = run_example(url, tmp_path)
    blocks = fenced_blocks(section(readme(), "Send a request"))
    shown = NUMBER.sub(number_in(printed), blocks[1][1])  # the day's number, not the README's
    assert printed.splitlines() == shown.splitlines()


@pytest.mark.nats
async def test_the_commands_example_works_the_ticket_to_closed(service, tmp_path) -> None:
    url, _ = service
    number = number_in(run_example(url, tmp_path))
    example = fenced_blocks(section(readme(), "Commands and queries"))
    blocks = [body for lang, body in example if lang == "python"]
    assert len(blocks) == 1
    code = NUMBER.sub(number, URL.sub(url, blocks[0]))
    namespace: dict = {}
    compiled = compile(code, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    awaitable = eval(compiled, namespace)  # top-level await, as in `python -m asyncio`
    if awaitable is not None:
        await awaitable

    nc = await nats.connect(url)
    try:
        ask = namespace["ask"]
        ticket = (await ask(nc, "tickets.query.ticket", {"number": number}))["ticket"]
        history = await ask(nc, "tickets.query.history", {"number": number})
    finally:
        await nc.close()
    assert (ticket["status"], ticket["version"], ticket["assignee"]) == ("closed", 6, "A007")
    worked = ["Received", "Classified", "Assigned", "Acknowledged", "ProgressUpdated", "Closed"]
    assert [e["type"] for e in history["events"]] == worked
    assert history["verified"] is True


def console_session(text: str) -> list[tuple[str, list[str]]]:
    """(command line, the lines it printed) of each `$ ` line in the console blocks."""
    session: list[tuple[str, list[str]]] = []
    for lang, body in fenced_blocks(text):
        if lang != "console":
            continue
        for line in body.splitlines():
            if line.startswith("$ "):
                session.append((line[2:].split("#", 1)[0].strip(), []))
            elif session:
                session[-1][1].append(line)
    return session


def leading_words(line: str) -> str:
    """`SLA targets at risk or breached (3)` -> `SLA targets at risk or breached`."""
    return re.split(r"[\d(]", line, maxsplit=1)[0].rstrip()


@pytest.mark.nats
def test_the_cli_session_answers_as_shown(service, tmp_path) -> None:
    _, data_dir = service
    session = console_session(section(readme(), "Ask the service"))
    exports = [cmd for cmd, _ in session if cmd.startswith("export ")]
    assert any("TICKETFLOW_DATA_DIR=" in cmd for cmd in exports), "how the CLI finds the service"
    commands = [(cmd, shown) for cmd, shown in session if cmd.startswith("ticketflow ")]
    assert commands
    env = {**os.environ, "TICKETFLOW_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    for command, shown in commands:
        done = run([*TICKETFLOW, *shlex.split(command)[1:]], env=env, cwd=tmp_path)
        assert done.returncode == 0, (command, done.stderr)
        first = done.stdout.splitlines()[0]
        assert first.startswith(leading_words(shown[0])), (command, done.stdout)


# ---- the docs stand alone ----------------------------------------------------------

OUTSIDE = {
    "the shared specification": re.compile(r"\bSPEC\b"),
    "the shared contract file": re.compile(r"CONTRACT\.md"),
    "the team's notes": re.compile(r"NOTES\.md"),
    "a folder beside the repository": re.compile(r"\.\./shared|\bshared/"),
    "the source documents": re.compile(r"\bseeds/|\bseed \d{3}\b"),
    "an issue number": re.compile(r"\b[Ii]ssue[- ]?#?\d+"),
}


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#+ (.+)$", text, re.M):
        base = slug(heading)
        found.add(f"{base}-{seen[base]}" if base in seen else base)
        seen[base] = seen.get(base, 0) + 1
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
class TestTheDocsStandAlone:
    def test_they_refer_to_nothing_outside_the_repository(self, doc: Path) -> None:
        text = doc.read_text(encoding="utf-8")
        found = {what: pattern.findall(text) for what, pattern in OUTSIDE.items()}
        assert not {what: hits for what, hits in found.items() if hits}
        assert not re.findall(r"\]\((?:https?:)?//", text), "links leave the repository"

    def test_their_links_land_on_a_file_and_a_heading(self, doc: Path) -> None:
        text = re.sub(r"^```.*?^```", "", doc.read_text(encoding="utf-8"), flags=re.M | re.S)
        broken = []
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            headings = anchors(file) if file.suffix == ".md" and file.exists() else set()
            if not file.exists() or (anchor and file.suffix == ".md" and anchor not in headings):
                broken.append(target)
        assert not broken, f"links that lead nowhere: {broken}"


def test_the_readme_links_the_process_and_every_doc() -> None:
    text = readme()
    for doc in sorted((ROOT / "docs").glob("*.md")):
        assert f"](docs/{doc.name})" in text, f"README does not link docs/{doc.name}"
    assert "](process.md)" in (ROOT / "docs" / "policy.md").read_text(encoding="utf-8")
