"""The wire: everything that speaks NATS (`nats/`) or HTTP (`http/`); handlers parse,
call the application, reply."""
