"""The `ticketflow` command line: one module per command group, the shared client
helpers and options, the simulator and its texts."""
