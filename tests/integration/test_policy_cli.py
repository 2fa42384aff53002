"""`ticketflow policy check FILE` and `ticketflow policy diff A B` as a user runs them:
a file read as `ticketflow up --policy FILE` reads it, nothing started."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.policy_file import load_policy
from services.cli.main import app

VALID = """
[customer]
confirm_within = "5d"

[[agents]]
id = "A007"
team = "support"

[[sla]]
when = { priority = "urgent" }
clock = "wall"
first_response = "15m"
resolution = "8h"

[[sla]]
when = {}
clock = "wall"
first_response = "24h"
"""
# Two bad keys; the first message holds "; " itself, and still stays one line.
TWO_BAD_KEYS = """
[goals]
at_risk_share = 2

[[sla]]
when = { typ = "complaint" }
first_response = "4h"
"""


def run(*args: str):
    return CliRunner().invoke(app, ["policy", *args])


@pytest.fixture
def valid(tmp_path: Path) -> Path:
    path = tmp_path / "my-team.toml"
    path.write_text(VALID, encoding="utf-8")
    return path


@pytest.fixture
def two_bad_keys(tmp_path: Path) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(TWO_BAD_KEYS, encoding="utf-8")
    return path


class TestCheckAValidFile:
    def test_says_valid_with_the_policy_version_a_service_would_report(self, valid) -> None:
        result = run("check", str(valid))
        assert result.exit_code == 0, result.output
        version = load_policy(valid).version
        assert result.stdout.splitlines() == [
            f"{valid}: valid; policy_version {version}",
            "  2 SLA rules, 1 agent, 0 teams, 4 departments",
        ]

    def test_json_says_valid_with_the_counts(self, valid) -> None:
        result = run("check", "--json", str(valid))
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {
            "valid": True,
            "file": str(valid),
            "policy_version": load_policy(valid).version,
            "sla_rules": 2,
            "agents": 1,
            "teams": 0,
            "departments": 4,
        }


class TestCheckARefusedFile:
    def test_prints_each_problem_on_its_own_line_naming_its_key(self, two_bad_keys) -> None:
        result = run("check", str(two_bad_keys))
        assert result.exit_code == 1
        lines = result.stderr.splitlines()
        assert len(lines) == 2, lines
        assert lines[0].startswith(f"{two_bad_keys}: sla.0.when: ")
        assert "unknown key(s) ['typ']" in lines[0]
        assert lines[1].startswith(f"{two_bad_keys}: goals.at_risk_share: ")
        assert result.stdout == ""

    def test_json_lists_the_problems_by_key(self, two_bad_keys) -> None:
        result = run("check", "--json", str(two_bad_keys))
        assert result.exit_code == 1
        reply = json.loads(result.stdout)
        assert reply["valid"] is False
        assert [e["key"] for e in reply["errors"]] == ["sla.0.when", "goals.at_risk_share"]

    def test_a_missing_file_is_refused_with_the_reason(self, tmp_path) -> None:
        missing = tmp_path / "nowhere.toml"
        result = run("check", str(missing))
        assert result.exit_code == 1
        assert result.stderr.strip() == f"{missing}: cannot read: No such file or directory"

    def test_a_file_that_is_not_toml_is_refused_with_the_reason(self, tmp_path) -> None:
        broken = tmp_path / "broken.toml"
        broken.write_text("[customer\nconfirm_within = 5d\n", encoding="utf-8")
        result = run("check", str(broken))
        assert result.exit_code == 1
        assert result.stderr.startswith(f"{broken}: not valid TOML: ")

    def test_a_file_that_is_not_utf8_is_refused_with_the_reason(self, tmp_path) -> None:
        binary = tmp_path / "binary.toml"
        binary.write_bytes(b"\xff\xfe[customer]\n")
        result = run("check", str(binary))
        assert result.exit_code == 1
        assert result.stderr.startswith(f"{binary}: not UTF-8 text: ")


class TestDiff:
    def test_the_defaults_against_a_changed_file_in_words(self, valid) -> None:
        result = run("diff", "default", str(valid))
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        old, new = load_policy().version, load_policy(valid).version
        assert lines[0] == f"policy_version {old} → {new} (the shipped defaults → {valid})"
        assert "SLA rules (tried in order; the first that matches a ticket applies):" in lines
        assert "  rule 1 (priority urgent; was rule 2):" in lines
        assert "    first_response: 30m → 15m (shorter)" in lines
        assert "    resolution: 24h → 8h (shorter)" in lines
        assert "    target update_every removed (was 1h)" in lines
        assert any(line.startswith("  rule removed: was rule 3 (type complaint)") for line in lines)
        assert "  customer.confirm_within: 3d → 5d (longer)" in lines
        assert "  agents: new agent A007 (team support; capacity 20)" in lines

    def test_the_same_policy_shows_no_changes(self, valid) -> None:
        result = run("diff", str(valid), str(valid))
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == (
            f"no changes (same policy_version {load_policy(valid).version})"
        )

    def test_default_against_default_shows_no_changes(self) -> None:
        result = run("diff", "default", "default")
        assert result.stdout.strip() == f"no changes (same policy_version {load_policy().version})"

    def test_json_lists_the_changes(self, valid) -> None:
        result = run("diff", "--json", "default", str(valid))
        assert result.exit_code == 0, result.output
        reply = json.loads(result.stdout)
        assert reply["from"] == {"policy": "default", "policy_version": load_policy().version}
        assert reply["to"]["policy_version"] == load_policy(valid).version
        confirm = next(c for c in reply["changes"] if c["key"] == "customer.confirm_within")
        assert (confirm["old"], confirm["new"]) == ("3d", "5d")
        assert confirm["text"] == "customer.confirm_within: 3d → 5d (longer)"

    def test_a_refused_file_is_not_compared(self, two_bad_keys) -> None:
        result = run("diff", "default", str(two_bad_keys))
        assert result.exit_code == 1
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 2
