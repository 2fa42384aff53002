"""The HTTP API's OpenAPI document is made from the message models the API validates
with, and kept as a snapshot: a change to a route or a model shows up here as a diff to
review. Regenerate after a deliberate change:
`UPDATE_SNAPSHOTS=1 pytest tests/contract/test_openapi.py`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from starlette.routing import Route

from services.application.messages import COMMANDS
from services.application.problem_messages import PROBLEM_COMMANDS
from services.edge.http.api import Api
from services.edge.http.openapi import ARTICLE_PATHS, openapi_document
from services.edge.http.users import Users

SNAPSHOT = Path(__file__).parent / "openapi.snapshot.json"


def test_the_openapi_document_matches_its_snapshot() -> None:
    document = openapi_document()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False))
    assert document == json.loads(SNAPSHOT.read_text())


def test_every_route_of_the_api_is_documented() -> None:
    api = Api(commands=None, answers={}, js=None, users=Users(None))  # type: ignore[arg-type]
    paths = openapi_document()["paths"]
    for route in api.routes():
        assert isinstance(route, Route)
        if route.path == "/api/v1/tickets/{ref}/{command}":  # documented command by command
            assert all(f"/api/v1/tickets/{{ref}}/{name}" in paths for name in COMMANDS)
        elif route.path == "/api/v1/problems/{ref}/{command}":
            named = [f"/api/v1/problems/{{ref}}/{name}" for name in PROBLEM_COMMANDS]
            assert all(path in paths for path in named if not path.endswith("open_problem"))
        elif route.path == "/api/v1/articles/{ref}/{command}":
            assert all(f"/api/v1/articles/{{ref}}/{name}" in paths for name in ARTICLE_PATHS)
        elif route.path != "/api/v1/openapi.json":
            for method in (route.methods or set()) - {"HEAD"}:
                assert method.lower() in paths[route.path], (route.path, method)
