"""Hypothesis profiles for the fuzz suite (docs/reliability.md).

`ci` (the default) is deterministic: derandomized, no example database, no deadline, so
the same examples run on every machine. `long` draws fresh random examples, four times as
many as CI (tests/fuzz/budget.py): `HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/fuzz`.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_QUIET = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
    HealthCheck.large_base_example,
]
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=_QUIET,
    print_blob=True,
)
settings.register_profile(
    "long",
    derandomize=False,
    database=None,
    deadline=None,
    suppress_health_check=_QUIET,
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
