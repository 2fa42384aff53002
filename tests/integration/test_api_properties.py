"""The HTTP API keeps to its own OpenAPI document, checked property by property with
schemathesis. For every operation of `/api/v1/openapi.json`, as a running service
serves it, requests drawn from the document (valid ones and ones it forbids), signed in
as any of the roles:

- never get a 5xx;
- get only the statuses the document lists for the operation, with the content type,
  the headers and the body its schema describes;
- and every refusal is `{"error": {"code", "message"}}`.

Afterwards the read side still keeps up: nothing the API accepted stalled a projection.
On each store kind (PostgreSQL refuses what SQLite takes, a NUL in a text column).

Bounded for CI: a fixed number of examples per operation, drawn the same way every run
(derandomized), no deadline.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import nats
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from infra.streams import DLQ, EVENTS, INTAKE
from services.bootstrap import build_service
from services.edge.http.openapi import openapi_document
from services.runtime.service import Service
from services.runtime.settings import Settings
from tests.conftest import postgres_or_skip

pytestmark = [pytest.mark.nats, pytest.mark.slow]
EXAMPLES = 30  # per operation: valid and invalid requests, on a ticket that exists or not
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# The local mode: a name and, as the password, the role; each request signs in as one.
PEOPLE = {
    "agent": "A007",
    "supervisor": "S001",
    "manager": "M001",
    "channel": "web-form",
    "auditor": "AU01",
    "analytics": "BI01",
}
FOLLOWERS = ("auditor", "analytics")  # to them `/events` is a stream that never ends
REQUEST = {"external_id": "form-1", "content": "页面白屏,报错500", "customer": {"name": "王先生"}}
OPERATIONS = [
    f"{method.upper()} {path}"
    for path, methods in openapi_document()["paths"].items()
    for method in methods
]


def basic(role: str) -> str:
    return "Basic " + base64.b64encode(f"{PEOPLE[role]}:{role}".encode()).decode()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def store(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('properties') / 'tickets.db'}"
        return
    import psycopg

    url, schema = postgres_or_skip(), f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{url}?schema={schema}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="module")
async def service(nats_server: str, store: str, tmp_path_factory, policy) -> AsyncIterator[Service]:
    """One service for every operation, on empty streams: an answer does not depend on
    what other operations did before (a ticket some case made is just another ticket)."""
    nc = await nats.connect(nats_server)
    for name in (INTAKE, EVENTS, DLQ):
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await nc.jetstream().delete_stream(name)
    await nc.close()
    data = tmp_path_factory.mktemp("service")
    svc = build_service(Settings(data_dir=data, nats_url=nats_server, policy=policy, store=store))
    await svc.start()
    yield svc
    await svc.stop()


@pytest.fixture(scope="module")
def base(service: Service) -> str:
    assert service.parts.http is not None
    return f"http://127.0.0.1:{service.parts.http.port}"


@pytest.fixture(scope="module")
async def api(base: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": basic("manager")}
    async with httpx.AsyncClient(base_url=f"{base}/api/v1", headers=headers, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
async def schema(base: str) -> schemathesis.BaseSchema:
    """The document as the running service serves it."""
    loaded = await asyncio.to_thread(schemathesis.openapi.from_url, f"{base}/api/v1/openapi.json")
    loaded.config.update(base_url=base)
    return loaded


async def submitted(api: httpx.AsyncClient, body: dict) -> dict:
    """Submit over HTTP, then wait until the ticket is on the SLA view (the read side)."""
    reply = await api.post("/intake/web", json=body)
    assert reply.status_code == 202, reply.text
    ticket_id = reply.json()["ticket_id"]
    deadline = time.monotonic() + 20
    while not (await api.get("/sla", params={"ticket_id": ticket_id})).json()["targets"]:
        assert time.monotonic() < deadline, "the read side did not show the ticket in 20 s"
        await asyncio.sleep(0.05)
    return (await api.get(f"/tickets/{ticket_id}")).json()["ticket"]


@pytest.fixture(scope="module")
async def refs(api: httpx.AsyncClient) -> list[str]:
    """A ticket's number and id: refs drawn at random meet nothing but `404`."""
    ticket = await submitted(api, REQUEST)
    return [ticket["number"], ticket["ticket_id"]]


def answers_as_documented(schema: schemathesis.BaseSchema, label: str, refs: list[str]) -> None:
    """Draw requests for one operation and check every answer (off the event loop: the
    service answers on it)."""
    operation = schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the served document"
    paths = [None, *({"ref": ref} for ref in refs)] if "{ref}" in label else [None]
    cases = st.one_of(
        *[
            operation.as_strategy(mode, path_parameters=path)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            for path in paths
        ]
    )
    roles = [r for r in PEOPLE if not (label == "GET /api/v1/events" and r in FOLLOWERS)]

    @given(case=cases, role=st.sampled_from(roles))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers(case: schemathesis.Case, role: str) -> None:
        # A negative case meant to go without credentials still does (schemathesis drops them).
        headers = {"Authorization": basic(role)}
        response = case.call_and_validate(headers=headers, checks=CHECKS, timeout=10)
        if response.status_code >= 400:
            error = response.json()
            assert list(error) == ["error"], error
            assert isinstance(error["error"].get("code"), str), error
            assert isinstance(error["error"].get("message"), str), error

    answers()


@pytest.mark.parametrize("label", OPERATIONS)
async def test_every_operation_answers_as_its_document_says(schema, refs, label: str) -> None:
    await asyncio.to_thread(answers_as_documented, schema, label, refs)


async def test_afterwards_a_new_request_still_reaches_the_read_side(schema, api) -> None:
    await submitted(api, {**REQUEST, "external_id": f"after-{uuid.uuid4().hex[:8]}"})
