"""Running an instance: settings and roles, the worker protocol and its runner, the NATS
link, the leader, the front/back split of `--processes 2`, and serving until stopped."""
