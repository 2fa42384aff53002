"""Reading the policy: the shipped defaults, overridden by a TOML file.

Tables merge key by key; a list in the file (`[[sla]]`, `[[agents]]`, rules)
replaces the default list. Errors name the file and the bad key.
"""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from domain.policy import Policy


class PolicyError(ValueError):
    pass


def default_policy_text() -> str:
    return resources.files("domain").joinpath("default_policy.toml").read_text("utf-8")


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = merge(base[key], value)
        else:
            merged[key] = value
    return merged


@functools.cache
def _defaults() -> dict[str, Any]:
    """The shipped defaults, parsed once (merging and validating never change them)."""
    return tomllib.loads(default_policy_text())


def load_policy(path: Path | str | None = None) -> Policy:
    if path is None:
        return policy_from_text("", "the default policy")
    try:
        text = Path(path).read_text("utf-8")
    except OSError as error:
        raise PolicyError(f"{path}: cannot read: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise PolicyError(
            f"{path}: not UTF-8 text: byte {error.start} "
            f"({error.object[error.start : error.start + 1]!r})"
        ) from None
    return policy_from_text(text, str(path))


def policy_from_text(text: str, source: str = "the policy") -> Policy:
    """A policy file's text over the defaults (the what-if receives one over NATS)."""
    data = _defaults()
    try:
        data = merge(data, tomllib.loads(text))
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"{source}: not valid TOML: {error}") from None
    except RecursionError:
        raise PolicyError(f"{source}: not valid TOML: arrays or tables nested too deeply") from None
    try:
        return Policy.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise PolicyError(f"{source}: {problems}") from None
