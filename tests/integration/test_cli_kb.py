"""`ticketflow kb import` and `ticketflow kb search` against a running service: a folder
of Markdown articles published once (a bad file refused with its reason, the others
published), imported again without a change, an edited file published as the next
version, and the articles found by a customer's question."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from infra.article_files import ArticleFileError, parse_article
from tests.integration.helpers import ask
from tests.integration.test_cli_clients import cli

pytestmark = pytest.mark.nats

LOGIN = """登录时提示“账号或密码错误”，请确认手机号和密码；连续输错5次账号会锁定30分钟，
可以改用短信验证码登录。"""
REFUND = """Refunds go back to the original payment method within 3 to 5 working days
after the returned parcel is checked at our warehouse."""


def write(folder: Path, name: str, front: str, body: str) -> Path:
    path = folder / name
    path.write_text(f"---\n{front.strip()}\n---\n{body}\n", "utf-8")
    return path


def folder_of_three(tmp_path: Path) -> Path:
    folder = tmp_path / "kb"
    folder.mkdir()
    write(
        folder,
        "login-failure.zh.md",
        "title: 登录失败怎么办\nlanguage: zh\ncategories: [account/login]\n"
        "replies:\n  - 您好，请点击“忘记密码”重置后再试。",
        LOGIN,
    )
    write(
        folder,
        "refund-timeline.en.md",
        "title: How long does a refund take\nlanguage: en\ncategories: [billing/refund]",
        REFUND,
    )
    write(
        folder,
        "opening-hours.fr.md",
        "title: Heures d'ouverture\nlanguage: fr\ncategories: [other]",
        "Le service client répond de 9h à 18h.",
    )
    (folder / "README.md").write_text("# not an article\n", "utf-8")
    return folder


async def kb(url: str, *args: str) -> subprocess.CompletedProcess:
    """The CLI as a user runs it, in a thread: the service answers on this loop."""
    return await asyncio.to_thread(cli, "kb", *args, "--nats-url", url)


async def imported(url: str, folder: Path, *args: str) -> tuple[int, dict[str, dict]]:
    result = await kb(url, "import", str(folder), "--json", *args)
    assert result.stdout, result.stderr
    return result.returncode, {f["file"]: f for f in json.loads(result.stdout)["files"]}


async def suggested(url: str, text: str, expected: str, timeout: float = 10.0) -> dict:
    """`kb search --json` until its first article is `expected` (the read side follows
    the store within moments)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await kb(url, "search", text, "--json")
        assert result.returncode == 0, result.stderr
        reply = json.loads(result.stdout)
        if reply["articles"] and reply["articles"][0]["number"] == expected:
            return reply
        assert asyncio.get_running_loop().time() < deadline, reply
        await asyncio.sleep(0.2)


async def test_import_publishes_once_refuses_a_bad_file_and_revises_an_edited_one(
    service, client, tmp_path
) -> None:
    folder = folder_of_three(tmp_path)

    code, files = await imported(service.url, folder, "--as", "S001")
    assert code == 1  # a file was refused
    assert sorted(files) == ["login-failure.zh.md", "opening-hours.fr.md", "refund-timeline.en.md"]
    refused = files["opening-hours.fr.md"]
    assert refused["result"] == "refused" and refused["number"] is None
    assert "language 'fr' is not one of zh, en" in refused["reason"]
    assert {(f["number"], f["version"], f["result"]) for n, f in files.items() if f["number"]} == {
        ("KB0001", 1, "new"),
        ("KB0002", 1, "new"),
    }
    login = files["login-failure.zh.md"]["number"]
    article = (await ask(client, "tickets.query.article", {"article_id": login}))["article"]
    assert article["versions"][0]["by"] == {"id": "S001", "role": "supervisor"}
    assert article["version"]["replies"] == ["您好，请点击“忘记密码”重置后再试。"]

    code, again = await imported(service.url, folder, "--as", "S001")
    assert code == 1 and again["opening-hours.fr.md"]["result"] == "refused"
    assert {
        n: (f["number"], f["version"], f["result"]) for n, f in again.items() if f["number"]
    } == {n: (f["number"], 1, "unchanged") for n, f in files.items() if f["number"]}

    (folder / "opening-hours.fr.md").unlink()
    write(
        folder,
        "refund-timeline.en.md",
        "title: How long does a refund take\nlanguage: en\ncategories: [billing/refund]",
        REFUND + "\nA refund to a bank card can take up to 10 working days.",
    )
    result = await kb(service.url, "import", str(folder), "--as", "M001", "--role", "manager")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 revised, 1 unchanged" in result.stdout
    refund = files["refund-timeline.en.md"]["number"]
    article = (await ask(client, "tickets.query.article", {"article_id": refund}))["article"]
    assert article["latest"] == 2 and "10 working days" in article["version"]["body"]
    assert article["versions"][1]["by"] == {"id": "M001", "role": "manager"}

    found = await suggested(
        service.url, "when do I get my money back after returning a parcel", refund
    )
    assert found["articles"][0]["version"] == 2
    await suggested(service.url, "登录不上去，密码好像输错了", login)
    table = await kb(service.url, "search", "密码错误 账号锁定", "--limit", "1")
    assert table.returncode == 0 and login in table.stdout and "登录失败怎么办" in table.stdout


async def test_strict_sends_nothing_when_a_file_is_refused_and_article_names_the_version(
    service, client, tmp_path
) -> None:
    folder = folder_of_three(tmp_path)
    code, files = await imported(service.url, folder, "--strict")
    assert code == 1
    assert {n: f["result"] for n, f in files.items()} == {
        "login-failure.zh.md": "not sent",
        "opening-hours.fr.md": "refused",
        "refund-timeline.en.md": "not sent",
    }
    listed = await ask(client, "tickets.query.articles", {})
    assert listed["count"] == 0

    (folder / "opening-hours.fr.md").unlink()
    code, files = await imported(service.url, folder)
    assert code == 0 and files["refund-timeline.en.md"]["number"] == "KB0002"

    # `article:` publishes the next version of that article, whatever its title
    write(
        folder,
        "refund-timeline.en.md",
        "title: Refund times\nlanguage: en\ncategories: [billing/refund]\narticle: KB0002",
        REFUND,
    )
    code, files = await imported(service.url, folder)
    assert code == 0
    assert files["refund-timeline.en.md"] == {
        "file": "refund-timeline.en.md",
        "result": "revised",
        "number": "KB0002",
        "version": 2,
        "reason": None,
    }
    write(
        folder,
        "refund-timeline.en.md",
        "title: Refund times\nlanguage: en\ncategories: [billing/refund]\narticle: KB0404",
        REFUND,
    )
    code, files = await imported(service.url, folder)
    assert code == 1 and files["refund-timeline.en.md"]["result"] == "refused"
    assert "not_found" in files["refund-timeline.en.md"]["reason"]


def test_only_a_supervisor_or_a_manager_imports(tmp_path) -> None:
    result = cli("kb", "import", str(folder_of_three(tmp_path)), "--role", "agent")
    assert result.returncode == 2 and "supervisor or manager" in result.stderr


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "title: T\nlanguage: en\ncategories: [a]",
            "no front matter: the first line must be `---`",
        ),
        ("---\ntitle: T\n", "the front matter has no closing `---` line"),
        ("---\ntitle: [T\n---\nbody", "bad YAML in the front matter: expected ',' or ']'"),
        ("---\n- title\n---\nbody", "the front matter must be fields"),
        ("---\nlanguage: en\n---\nbody", "missing fields: title, categories"),
        ("---\ntitle: T\nlanguage: fr\ncategories: [a]\n---\nbody", "language 'fr' is not"),
        ("---\ntitle: T\nlanguage: en\ncategories: a\n---\nbody", "categories must be a list"),
        ("---\ntitle: T\nlanguage: en\ncategories: [a]\n---\n \n", "the body (after the"),
        ("---\ntitle: T\nlanguage: en\ncategories: [a]\ntags: [x]\n---\nb", "unknown field: tags"),
        ("---\ntitle: T\nlanguage: en\ncategories: [a]\narticle: 7\n---\nb", "article 7 is not"),
    ],
)
def test_a_file_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(ArticleFileError) as refused:
        parse_article(text)
    assert reason in str(refused.value)


def test_a_file_is_read_with_its_optional_fields() -> None:
    text = "---\r\ntitle: ' T '\r\nlanguage: zh\r\ncategories: [a/b, c]\r\n"
    text += "article: KB0007\r\n---\r\n\r\n正文\r\n"
    article = parse_article(text, "t.zh.md")
    assert (article.title, article.language, article.categories) == ("T", "zh", ("a/b", "c"))
    assert (article.replies, article.body, article.article) == ((), "正文", "KB0007")


def test_the_help_says_what_a_file_holds_and_what_strict_does() -> None:
    result = cli("kb", "import", "--help")
    assert result.returncode == 0
    said = " ".join(result.stdout.split())  # as wrapped for any terminal's width
    for words in ("front matter", "--strict", "--as", "--role", "README.md", "Exit status"):
        assert words in said
    assert "suggest_articles" in cli("kb", "search", "--help").stdout
