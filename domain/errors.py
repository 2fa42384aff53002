"""Domain errors. Each carries the contract's error `code`, so the edge can reply with it."""


class TicketError(Exception):
    code = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(TicketError):
    code = "invalid"


class NotFound(TicketError):
    code = "not_found"


class IllegalState(TicketError):
    code = "illegal_state"


class Conflict(TicketError):
    code = "conflict"


class Forbidden(TicketError):
    code = "forbidden"
