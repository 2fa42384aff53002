"""How many examples each fuzz test runs: its CI count (13,900 in all), times four under
the `long` profile (over 10,000 per family: intake, commands, policy files), or times
`FUZZ_SCALE` when that is set (e.g. 0.1 for a quick look)."""

from __future__ import annotations

import os

_DEFAULT = 4.0 if os.environ.get("HYPOTHESIS_PROFILE") == "long" else 1.0
SCALE = float(os.environ.get("FUZZ_SCALE", _DEFAULT))


def examples(ci_count: int) -> int:
    return max(1, round(ci_count * SCALE))
