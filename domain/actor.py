"""Who does something to a ticket: an id and a role.

Commands, the process managers and the aggregate pass this value; a stored event keeps
it as the plain `{"id": ..., "role": ...}` it always had (`record()`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    id: str
    role: str  # agent, supervisor, manager, auditor, analytics, channel or system

    @classmethod
    def system(cls, name: str) -> Actor:
        """One of ticketflow's own workers (the classifier, the SLA watcher...)."""
        return cls(name, "system")

    def record(self) -> dict[str, str]:
        """The shape stored in events and shown on the stream."""
        return {"id": self.id, "role": self.role}
