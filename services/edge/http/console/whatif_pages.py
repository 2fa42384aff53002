"""The console's SLA what-if (`/whatif`, for managers and auditors: who may ask
`services.application.whatif`): a candidate policy (a file or pasted TOML) and a
period, replayed beside what was recorded.

A what-if over a busy month takes a while (100,000 tickets: about a minute), so the
form's POST starts a job (`WhatIfJobs`: an asyncio task running the application in a
thread) and redirects to `/whatif/jobs/<id>`, which shows its progress and reloads
itself every second until the report is there. A refusal the application gives at once
(a bad policy, naming its key; a bad period) is shown above the form, the text kept.
Jobs live in memory, on this instance: a few at a time, each result kept an hour.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from domain.errors import TicketError
from services.application.messages import reason_of
from services.application.whatif import POLICY_CHARS, SlaWhatIf, WhatIf, last_month
from services.edge.http.console import i18n
from services.edge.http.console.access import may_ask
from services.edge.http.console.sessions import Session

log = logging.getLogger("ticketflow.console")
Render = Callable[..., Response]  # Console._render(request, template, context, session, status)
Csrf = Callable[[Request, Session], Awaitable[FormData]]
QUERY = "sla_whatif"  # the page's rule in `access`
RUNNING_AT_ONCE = 3  # what-ifs running on this instance at a time
KEPT = 20  # finished what-ifs kept (the oldest go first) ...
KEPT_SECONDS = 3600  # ... for an hour at most
CHANGES_SHOWN = 200  # changed outcomes listed on the page
POLICY_BYTES = 4 * POLICY_CHARS  # an uploaded file, at most
ANSWER_WAIT = 2.0  # seconds the POST waits for an immediate refusal before redirecting


@dataclass
class Job:
    """One what-if: its progress (written by the worker thread), then its report or why
    it was refused."""

    id: str
    by: str  # who started it
    policy: str  # the candidate's text, shown again if it is refused
    period: tuple[str, str]  # the form's dates
    phase: str = "starting"
    done: int = 0
    total: int = 0
    report: dict | None = None  # its `changed`: the first `CHANGES_SHOWN` only
    changed_total: int = 0
    error: TicketError | None = None
    failed: str | None = None  # an unexpected failure
    finished_at: float | None = None
    task: asyncio.Task | None = field(default=None, repr=False)

    def progress(self, phase: str, done: int, total: int) -> None:
        self.phase, self.done, self.total = phase, done, total

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


class WhatIfJobs:
    """The what-ifs of this console, by a random id."""

    def __init__(self, whatif: WhatIf, clock: Callable[[], float] = time.monotonic) -> None:
        self.whatif, self.clock = whatif, clock
        self.jobs: dict[str, Job] = {}

    def running(self) -> int:
        return sum(not job.finished for job in self.jobs.values())

    def start(self, request: SlaWhatIf, period: tuple[str, str]) -> Job | None:
        """A new job, running; None when enough are running already."""
        self.prune()
        if self.running() >= RUNNING_AT_ONCE:
            return None
        job = Job(secrets.token_urlsafe(16), request.actor.id, request.policy, period)
        self.jobs[job.id] = job
        job.task = asyncio.create_task(self._run(job, request), name=f"whatif-{job.id[:6]}")
        return job

    def get(self, job_id: str) -> Job | None:
        self.prune()
        return self.jobs.get(job_id)

    def forget(self, job: Job) -> None:
        self.jobs.pop(job.id, None)

    def prune(self) -> None:
        """Drop the results older than an hour, and the oldest beyond `KEPT`."""
        finished = sorted(
            (job for job in self.jobs.values() if job.finished_at is not None),
            key=lambda job: job.finished_at or 0.0,
        )
        too_old = self.clock() - KEPT_SECONDS
        for at, job in enumerate(finished):
            if (job.finished_at or 0.0) < too_old or at < len(finished) - KEPT:
                self.forget(job)

    async def _run(self, job: Job, request: SlaWhatIf) -> None:
        try:
            report = await asyncio.to_thread(self.whatif.answer, request, job.progress)
            job.changed_total = len(report["changed"])
            job.report = {**report, "changed": report["changed"][:CHANGES_SHOWN]}
            log.info(
                "console what-if by %s: %d tickets, %d changed outcomes, in %.2fs",
                job.by,
                report["tickets"],
                job.changed_total,
                report["seconds"],
            )
        except TicketError as e:
            job.error = e
        except Exception as e:  # shown on the job's page; nothing was written
            log.error("console what-if by %s failed: %r", job.by, e, exc_info=e)
            job.failed = f"{type(e).__name__}: {e}"
        finally:
            job.finished_at = self.clock()


class WhatIfPages:
    def __init__(
        self,
        whatif: WhatIf,
        tz: tzinfo,
        clock: Callable[[], datetime],
        render: Render,
        csrf: Csrf,
    ) -> None:
        self.jobs = WhatIfJobs(whatif)
        self.tz, self.clock, self.render, self.csrf = tz, clock, render, csrf

    # ---- pages -------------------------------------------------------------------------

    async def form(self, request: Request, session: Session) -> Response:
        if refused := self._refused(request, session):
            return refused
        start, end = last_month(self.clock(), self.tz)
        period = (start.date().isoformat(), (end - timedelta(days=1)).date().isoformat())
        return self._form(request, session, "", period)

    async def run(self, request: Request, session: Session) -> Response:
        form = await self.csrf(request, session)
        if refused := self._refused(request, session):
            return refused
        words = self._words(request)
        period = (str(form.get("from") or ""), str(form.get("to") or ""))
        pasted = str(form.get("policy_text") or "")
        try:
            text = await policy_of(form.get("policy_file"), pasted)
        except UnicodeDecodeError:
            return self._form(request, session, words["whatif_not_text"], period, pasted, 400)
        except ValueError:
            return self._form(request, session, words["whatif_too_large"], period, pasted, 400)
        if not text.strip():
            return self._form(request, session, words["whatif_no_policy"], period, pasted, 400)
        try:
            start, end = self._bounds(period)
        except ValueError as e:
            problem = f"{words['whatif_bad_date']} {e}"
            return self._form(request, session, problem, period, text, 400)
        body = {"policy": text, "from": start, "to": end, "actor": session.actor.record()}
        try:
            asked = SlaWhatIf.model_validate(body)
        except ValidationError as e:
            return self._form(request, session, reason_of(e), period, text, 400)
        job = self.jobs.start(asked, period)
        if job is None:
            return self._form(request, session, words["whatif_busy"], period, text, 429)
        await self._first_word(job)
        if job.error is not None:
            self.jobs.forget(job)
            return self._refusal(request, session, job)
        return RedirectResponse(f"/whatif/jobs/{job.id}", 303)

    async def job(self, request: Request, session: Session) -> Response:
        if refused := self._refused(request, session):
            return refused
        job = self.jobs.get(request.path_params["id"])
        words = self._words(request)
        if job is None:
            return self.render(
                request, "problem.html", {"problem": words["whatif_gone"]}, session, 404
            )
        if job.error is not None:
            return self._refusal(request, session, job)
        if job.failed is not None:
            problem = words["whatif_failed"] + job.failed
            return self.render(request, "problem.html", {"problem": problem}, session, 500)
        if job.report is None:
            context = {"job": job, "percent": percent(job.done, job.total)}
            response = self.render(request, "whatif_progress.html", context, session)
            response.headers["Cache-Control"] = "no-store"
            return response
        context = {"job": job, **report_view(job.report, job.changed_total, words)}
        return self.render(request, "whatif_result.html", context, session)

    # ---- the parts the pages share -----------------------------------------------------

    @staticmethod
    async def _first_word(job: Job) -> None:
        """Until the job is refused, reports progress or ends (a refusal comes before
        any reading: the role, the policy and the period are checked first)."""
        waited = 0.0
        while job.phase == "starting" and not job.finished and waited < ANSWER_WAIT:
            await asyncio.sleep(0.02)
            waited += 0.02

    def _bounds(self, period: tuple[str, str]) -> tuple[datetime, datetime]:
        """The form's days as instants on the team's clock: from the first day's start to
        the end of the last (included), or now if that is later."""
        first, last = (date.fromisoformat(day) for day in period)
        start = datetime.combine(first, datetime.min.time(), self.tz)
        end = datetime.combine(last + timedelta(days=1), datetime.min.time(), self.tz)
        return start, min(end, self.clock())

    def _refusal(self, request: Request, session: Session, job: Job) -> Response:
        assert job.error is not None
        status = 403 if job.error.code == "forbidden" else 400
        return self._form(request, session, job.error.message, job.period, job.policy, status)

    def _form(
        self,
        request: Request,
        session: Session,
        problem: str,
        period: tuple[str, str],
        policy: str = "",
        status: int = 200,
    ) -> Response:
        context = {
            "problem": problem,
            "period": period,
            "policy": policy,
            "message": request.query_params.get("msg", ""),
            "replanned": {
                k: request.query_params[k]
                for k in ("replanned", "unchanged", "version")
                if k in request.query_params
            },
            "running_policy": self.jobs.whatif.desk.policy.version,
        }
        return self.render(request, "whatif.html", context, session, status)

    def _refused(self, request: Request, session: Session) -> Response | None:
        if may_ask(session.actor.role, QUERY):
            return None
        problem = self._words(request)["not_for_role"]
        return self.render(request, "problem.html", {"problem": problem}, session, 403)

    @staticmethod
    def _words(request: Request) -> dict[str, str]:
        lang = i18n.pick(request.cookies.get("lang"), request.headers.get("accept-language"))
        return i18n.words(lang)


async def policy_of(upload: Any, pasted: str) -> str:
    """The candidate's text: the chosen file's, else what was pasted. ValueError: the
    file is larger than a policy may be."""
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(POLICY_BYTES + 1)
        if len(data) > POLICY_BYTES:
            raise ValueError("too large")
        if data:
            return data.decode("utf-8-sig")
    return pasted


def percent(done: int, total: int) -> int | None:
    return min(100, round(100 * done / total)) if total > 0 else None


def report_view(report: dict, changed_total: int, words: dict[str, str]) -> dict[str, Any]:
    """The report as the page shows it: compliance compared (overall, then by type,
    priority and team), each target's met / breached, and the first changed outcomes
    (of `changed_total`)."""
    recorded, whatif = report["recorded"], report["whatif"]
    groups = []
    for dimension, title in DIMENSIONS:
        mine, theirs = recorded[f"by_{dimension}"], whatif[f"by_{dimension}"]
        rows = [
            compare(label_of(dimension, key, words), mine.get(key, {}), theirs.get(key, {}), words)
            for key in sorted({*mine, *theirs})
        ]
        groups.append({"id": dimension, "title": words[title], "rows": rows})
    targets = [
        {
            "label": words.get(f"v_{name}", name),
            "recorded": recorded["targets"].get(name),
            "whatif": whatif["targets"].get(name),
        }
        for name in sorted({*recorded["targets"], *whatif["targets"]})
    ]
    changed = [
        {**c, "target_label": words.get(f"v_{c['target']}", c["target"])}
        for c in report["changed"][:CHANGES_SHOWN]
    ]
    return {
        "report": report,
        "overall": compare(words["whatif_overall"], recorded, whatif, words),
        "groups": groups,
        "targets": targets,
        "changed": changed,
        "changed_total": changed_total,
        "changed_more": max(changed_total - len(changed), 0),
    }


DIMENSIONS = (("type", "type"), ("priority", "priority"), ("team", "team_name"))


def label_of(dimension: str, key: str, words: dict[str, str]) -> str:
    """A type or priority in the reader's words; a team by its name; `none`: neither."""
    if key == "none":
        return words["unassigned" if dimension == "team" else "whatif_unclassified"]
    return key if dimension == "team" else words.get(f"v_{key}", key)


def compare(label: str, mine: dict, theirs: dict, words: dict[str, str]) -> dict[str, Any]:
    """One row: compliance recorded and under the candidate (with the counts behind
    each), and the change in percentage points."""
    a, b = mine.get("sla_compliance"), theirs.get("sla_compliance")
    change = None if a is None or b is None else round((b - a) * 100, 1)
    shown = "—" if change is None else words["whatif_points"].format(d=f"{change:+.1f}")
    return {
        "label": label,
        "recorded": pct(a),
        "whatif": pct(b),
        "recorded_counts": counts(mine.get("sla_targets", mine)),
        "whatif_counts": counts(theirs.get("sla_targets", theirs)),
        "change": shown,
        "trend": "same" if not change else ("better" if change > 0 else "worse"),
    }


def counts(side: dict) -> str:
    """met / breached"""
    return f"{side['met']} / {side['breached']}" if "met" in side else "—"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"
