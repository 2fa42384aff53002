"""The NATS edge: the intake consumer, the command and query handlers, rebuilds, the
operations queries and the AsyncAPI document of them all."""
