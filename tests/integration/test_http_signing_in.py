"""Signing in over HTTP on a running service: failed attempts are limited per name and
address, on the API's HTTP Basic as on the console's form (one budget for both), and
behind a TLS proxy the console's cookies are `Secure`.

The local mode (no `--auth`): a name and, as the password, a role; a role that is none
(`boss`) is a failed attempt.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.bootstrap import build_service
from services.edge.http.users import ATTEMPTS, WINDOW
from services.runtime.service import Service
from services.runtime.settings import Settings

pytestmark = pytest.mark.nats
HTTPS = {"X-Forwarded-Proto": "https"}  # what a TLS proxy in front adds


async def started(settings: Settings) -> Service:
    service = build_service(settings)
    await service.start()
    return service


@pytest.fixture
async def service(fresh_streams: str, tmp_path: Path, policy) -> AsyncIterator[Service]:
    svc = await started(Settings(data_dir=tmp_path, nats_url=fresh_streams, policy=policy))
    yield svc
    await svc.stop()


@pytest.fixture
async def site(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    assert service.parts.http is not None
    base = f"http://127.0.0.1:{service.parts.http.port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        yield client


def cookies(reply: httpx.Response) -> dict[str, str]:
    """Each Set-Cookie by its name."""
    found = reply.headers.get_list("set-cookie")
    return {text.partition("=")[0]: text for text in found}


def secure(cookie: str) -> bool:
    return "secure" in {part.strip().lower() for part in cookie.split(";")[1:]}


class TestTheApiLimitsFailedSignIns:
    async def test_after_five_failures_the_name_is_refused_with_429_and_when_to_retry(
        self, site
    ) -> None:
        for _ in range(ATTEMPTS):
            assert (await site.get("/api/v1/sla", auth=("S001", "boss"))).status_code == 401
        limited = await site.get("/api/v1/sla", auth=("S001", "supervisor"))  # even right
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "too_many_attempts"
        assert isinstance(limited.json()["error"]["message"], str)
        assert 1 <= int(limited.headers["retry-after"]) <= WINDOW

    async def test_another_name_from_the_same_address_may_still_sign_in(self, site) -> None:
        for _ in range(ATTEMPTS):
            await site.get("/api/v1/sla", auth=("S001", "boss"))
        assert (await site.get("/api/v1/sla", auth=("S002", "supervisor"))).status_code == 200

    async def test_requests_that_sign_in_are_never_limited(self, site) -> None:
        for _ in range(3 * ATTEMPTS):
            reply = await site.get("/api/v1/sla", auth=("S001", "supervisor"))
            assert reply.status_code == 200

    async def test_failures_on_the_console_s_form_count_too(self, site) -> None:
        for _ in range(ATTEMPTS):
            failed = await site.post("/login", data={"username": "S001", "role": "boss"})
            assert failed.status_code == 401
        assert (await site.get("/api/v1/sla", auth=("S001", "supervisor"))).status_code == 429
        console = await site.post("/login", data={"username": "S001", "role": "supervisor"})
        assert console.status_code == 429
        assert 0 < int(console.headers["retry-after"]) <= 60


class TestCookiesOverHttps:
    async def test_a_sign_in_that_came_over_https_gets_a_secure_session_cookie(self, site) -> None:
        form = {"username": "S001", "role": "supervisor"}
        reply = await site.post("/login", data=form, headers=HTTPS)
        assert reply.status_code == 303
        session = cookies(reply)["ticketflow_session"]
        assert secure(session) and "httponly" in session.lower()

    async def test_over_plain_http_on_loopback_the_session_cookie_is_not_secure(self, site) -> None:
        reply = await site.post("/login", data={"username": "S001", "role": "supervisor"})
        assert reply.status_code == 303
        assert not secure(cookies(reply)["ticketflow_session"])

    async def test_the_language_cookie_is_secure_over_https_too(self, site) -> None:
        assert secure(cookies(await site.get("/lang/en", headers=HTTPS))["lang"])
        assert not secure(cookies(await site.get("/lang/en"))["lang"])

    async def test_a_proxy_at_an_address_not_allowed_is_not_believed(
        self, fresh_streams, tmp_path, policy
    ) -> None:
        settings = Settings(
            data_dir=tmp_path,
            nats_url=fresh_streams,
            policy=policy,
            http_forwarded_allow_ips="192.0.2.1",  # the proxy; the test asks from loopback
        )
        service = await started(settings)
        try:
            assert service.parts.http is not None
            base = f"http://127.0.0.1:{service.parts.http.port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as site:
                form = {"username": "S001", "role": "supervisor"}
                reply = await site.post("/login", data=form, headers=HTTPS)
        finally:
            await service.stop()
        assert reply.status_code == 303
        assert not secure(cookies(reply)["ticketflow_session"])
