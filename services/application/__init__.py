"""The ticket application: the desk (store + policy), registration of intake requests,
the commands, the `ticket` and `history` queries, erasure, the message models."""
