"""The customers' self-service page (`/help`): a web form that answers from the
knowledge base before it opens a ticket. (Being written.)"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo

from nats.js import JetStreamContext
from starlette.routing import Route

from services.application.articles import KnowledgeBase
from services.edge.nats.handlers import Answer


class SelfServicePages:
    def __init__(
        self,
        answers: Mapping[str, Answer],
        kb: KnowledgeBase,
        js: JetStreamContext,
        secret: str,
        tz: tzinfo,
    ) -> None:
        self.answers, self.kb, self.js, self.secret, self.tz = answers, kb, js, secret, tz

    def routes(self) -> list[Route]:
        return []
