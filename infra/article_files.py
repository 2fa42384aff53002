"""Knowledge-base articles kept as files: one Markdown file an article, its fields in
YAML front matter between the first two `---` lines, its body after them.

    ---
    title: 登录失败怎么办
    language: zh
    categories: [account/login]
    replies:
      - 您好，请点击“忘记密码”重置后再试。
    article: KB0001        # optional: publish the next version of this article
    ---
    登录时提示“账号或密码错误”……

`ticketflow kb import DIR` publishes such a folder and `bench.kb_suggest` indexes the
shipped one (deploy/kb); both read it here, so they read it alike. A file is read
whole or refused with every reason found (a missing field, a language that is not zh
or en, YAML that does not parse, an empty body, ...): nothing of a refused file is
used. The edge's length limits are the command's to check (`PublishArticle`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from domain.article import LANGUAGES

REQUIRED = ("title", "language", "categories")
OPTIONAL = ("replies", "article")
NUMBER = re.compile(r"KB\d{4,}")
FENCE = "---"


class ArticleFileError(ValueError):
    """Why a file is refused: every reason found, joined with `; `."""


@dataclass(frozen=True)
class ArticleFile:
    name: str  # the file's name, e.g. login-failure.zh.md
    title: str
    language: str
    categories: tuple[str, ...]
    replies: tuple[str, ...]
    body: str
    article: str | None = None  # the number of the article this file is a version of

    def content(self) -> dict[str, Any]:
        """The fields of a `publish_article` command (without actor and article_id)."""
        return {
            "title": self.title,
            "body": self.body,
            "language": self.language,
            "categories": list(self.categories),
            "replies": list(self.replies),
        }


@dataclass(frozen=True)
class Refused:
    name: str
    reason: str


def article_paths(folder: Path) -> list[Path]:
    """The article files of a folder: every `*.md` but README.md, sorted by name."""
    return sorted(
        p for p in folder.glob("*.md") if p.is_file() and p.name.casefold() != "readme.md"
    )


def read_folder(folder: Path) -> list[ArticleFile | Refused]:
    """Every article file of the folder, read or refused, in name order. A title (or an
    `article:` number) that an earlier file already has refuses the later file: a title
    names one article, so two files with it would publish over each other."""
    found: list[ArticleFile | Refused] = []
    titles: dict[str, str] = {}
    numbers: dict[str, str] = {}
    for path in article_paths(folder):
        try:
            article = read_article(path)
        except ArticleFileError as error:
            found.append(Refused(path.name, str(error)))
            continue
        if article.title in titles:
            found.append(Refused(path.name, f"the same title as {titles[article.title]}"))
            continue
        if article.article and article.article in numbers:
            found.append(
                Refused(path.name, f"article {article.article} is also {numbers[article.article]}")
            )
            continue
        titles[article.title] = path.name
        if article.article:
            numbers[article.article] = path.name
        found.append(article)
    return found


def read_article(path: Path) -> ArticleFile:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise ArticleFileError(f"cannot read: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ArticleFileError(f"not UTF-8 text (byte {error.start})") from None
    return parse_article(text, path.name)


def parse_article(text: str, name: str = "article.md") -> ArticleFile:
    """An article file's text, read; ArticleFileError with every reason otherwise."""
    lines = text.splitlines()
    if not lines or lines[0].rstrip() != FENCE:
        raise ArticleFileError("no front matter: the first line must be `---`")
    end = next((i for i, line in enumerate(lines[1:], 1) if line.rstrip() == FENCE), None)
    if end is None:
        raise ArticleFileError("the front matter has no closing `---` line")
    try:
        fields = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as error:
        raise ArticleFileError(f"bad YAML in the front matter: {_yaml_reason(error)}") from None
    if fields is None:
        fields = {}
    if not isinstance(fields, dict):
        raise ArticleFileError("the front matter must be fields (`title: ...`), one a line")
    body = "\n".join(lines[end + 1 :]).strip()
    problems = _problems(fields, body)
    if problems:
        raise ArticleFileError("; ".join(problems))
    return ArticleFile(
        name=name,
        title=fields["title"].strip(),
        language=fields["language"],
        categories=tuple(c.strip() for c in fields["categories"]),
        replies=tuple(r.strip() for r in fields.get("replies") or ()),
        body=body,
        article=fields.get("article"),
    )


def _problems(fields: dict, body: str) -> list[str]:
    problems = []
    missing = [f for f in REQUIRED if not _given(fields.get(f))]
    if missing:
        problems.append(f"missing field{'s' * (len(missing) > 1)}: {', '.join(missing)}")
    unknown = sorted(str(f) for f in fields if f not in REQUIRED + OPTIONAL)
    if unknown:
        known = ", ".join(REQUIRED + OPTIONAL)
        problems.append(f"unknown field{'s' * (len(unknown) > 1)}: {', '.join(unknown)} ({known})")
    title, language = fields.get("title"), fields.get("language")
    if _given(title) and not (isinstance(title, str) and title.strip()):
        problems.append("title must be text (quote it if YAML reads it as something else)")
    if _given(language) and language not in LANGUAGES:
        problems.append(f"language {language!r} is not one of {', '.join(LANGUAGES)}")
    for key in ("categories", "replies"):
        value = fields.get(key)
        if _given(value) and not _texts(value):
            problems.append(f"{key} must be a list of texts, e.g. [{_example(key)}]")
    number = fields.get("article")
    if number is not None and not (isinstance(number, str) and NUMBER.fullmatch(number)):
        problems.append(f"article {number!r} is not an article number such as KB0001")
    if not body:
        problems.append("the body (after the front matter) is empty")
    return problems


def _given(value: Any) -> bool:
    return value is not None and value != "" and value != []


def _texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def _example(key: str) -> str:
    return "account/login" if key == "categories" else "a reply, another reply"


def _yaml_reason(error: yaml.YAMLError) -> str:
    """One line: what the parser found, and where in the file (the front matter starts
    on the file's second line)."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    return f"{problem} (line {mark.line + 2})" if mark is not None else problem
