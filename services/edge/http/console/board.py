"""The board's filters as the URL keeps them: parsed into the `board` query, and links
that change one filter and keep the others (so a filtered board can be bookmarked,
shared and reloaded). Pure: parameters in, a query or links out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from services.readside.board import BoardQuery

FLAGS = ("mine", "my_team", "unassigned")  # checkboxes: present means on
CHOICES = ("priority", "type", "channel", "state", "category", "assignee")
KEPT = (*FLAGS, *CHOICES)  # what a link keeps; the page starts again at 1


def filters_of(params: Mapping[str, str]) -> dict[str, Any]:
    """The filters a URL asks for (empty values are no filter)."""
    found: dict[str, Any] = {flag: True for flag in FLAGS if params.get(flag)}
    found.update({key: params[key] for key in CHOICES if params.get(key)})
    return found


def board_query(params: Mapping[str, str], actor: dict) -> BoardQuery:
    """Raises pydantic's ValidationError, naming the field, for a value it does not take."""
    page = params.get("page", "1")
    return BoardQuery.model_validate(
        {**filters_of(params), "page": page if page.isdigit() else 1, "actor": actor}
    )


def link(filters: Mapping[str, Any], **change: Any) -> str:
    """The board's URL with `change` applied (None removes a filter)."""
    kept = {k: v for k, v in {**filters, **change}.items() if k in (*KEPT, "page") and v}
    return "/?" + urlencode({k: "1" if v is True else v for k, v in kept.items()})
