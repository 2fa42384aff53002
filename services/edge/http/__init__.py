"""The HTTP edge: the JSON API under `/api/v1/` and who may use it, the server that
runs it on the service's loop, and the probes (`/metrics`, `/healthz`, `/readyz`)."""
