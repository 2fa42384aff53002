"""The HTTP edge: the probes (`/metrics`, `/healthz`, `/readyz`)."""
