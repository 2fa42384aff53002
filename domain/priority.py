"""Priority from urgency × impact scope (docs/process.md: 紧急程度 × 影响范围).

Pure: the `[priority.matrix]` table of the policy maps every urgency and impact to a
priority; this module validates that it is complete and looks priorities up.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator

from domain.classifier import IMPACTS, URGENCIES

PRIORITIES = ("urgent", "high", "normal", "low")

DEFAULT_MATRIX: dict[str, dict[str, str]] = {
    "urgent": {"individual": "urgent", "group": "urgent", "systemic": "urgent"},
    "high": {"individual": "high", "group": "urgent", "systemic": "urgent"},
    "normal": {"individual": "normal", "group": "high", "systemic": "high"},
    "low": {"individual": "low", "group": "normal", "systemic": "high"},
}


class PriorityConfig(BaseModel):
    """The `[priority]` table: `matrix.<urgency>.<impact> = <priority>`, every cell given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    matrix: dict[str, dict[str, str]] = DEFAULT_MATRIX

    @field_validator("matrix")
    @classmethod
    def _complete(cls, matrix: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for urgency in matrix:
            if urgency not in URGENCIES:
                raise ValueError(f"matrix.{urgency}: unknown urgency; use {list(URGENCIES)}")
        for urgency in URGENCIES:
            row = matrix.get(urgency)
            if row is None:
                raise ValueError(f"matrix.{urgency} is missing; give a row for every urgency")
            for impact, level in row.items():
                if impact not in IMPACTS:
                    raise ValueError(
                        f"matrix.{urgency}.{impact}: unknown impact; use {list(IMPACTS)}"
                    )
                if level not in PRIORITIES:
                    raise ValueError(
                        f"matrix.{urgency}.{impact}: unknown priority {level!r}; "
                        f"use {list(PRIORITIES)}"
                    )
            missing = [impact for impact in IMPACTS if impact not in row]
            if missing:
                raise ValueError(f"matrix.{urgency} is missing impact(s) {missing}")
        return matrix


def priority(urgency: str, impact: str, config: PriorityConfig) -> str:
    """The priority of a ticket of this urgency and impact scope."""
    row = config.matrix.get(urgency)
    if row is None or impact not in row:
        raise ValueError(f"no priority for urgency {urgency!r} and impact {impact!r}")
    return row[impact]
