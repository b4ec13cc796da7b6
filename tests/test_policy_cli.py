"""`jsm-bridge validate`: one summary line per valid policy, one line per problem, exit 0 or 1."""

import subprocess
import sys
from pathlib import Path

from jsm_bridge.cli import main

POLICIES = Path(__file__).parent / "policies"
ROOT = Path(__file__).parent.parent


def test_valid_policy_prints_a_summary_line_and_exits_0(capsys):
    assert main(["validate", str(POLICIES / "full.yaml")]) == 0
    assert capsys.readouterr().out == (
        f"{POLICIES / 'full.yaml'}: ok: full-example, 5 priorities, 3 tiers, 2 calendars, 15 rules\n"
    )


def test_summary_uses_singular_for_one(capsys):
    main(["validate", str(POLICIES / "valid" / "minimal.yaml")])
    assert capsys.readouterr().out.endswith("ok: minimal, 1 priority, 0 tiers, 0 calendars, 0 rules\n")


def test_broken_policy_prints_one_line_per_problem_and_exits_1(capsys):
    broken = POLICIES / "broken" / "unknown-tier.yaml"
    assert main(["validate", str(broken)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    assert lines[0] == f"{broken}:7:12: tiers.2.name: tier 'Support Team' is already defined (tiers.0)"


def test_missing_file_is_an_error_line(capsys):
    assert main(["validate", "nowhere/policy.yaml"]) == 1
    assert capsys.readouterr().out == "nowhere/policy.yaml:1:1: (file): no such file\n"


def test_valid_and_broken_together_print_both_and_exit_1(capsys):
    code = main(["validate", str(POLICIES / "full.yaml"), str(POLICIES / "broken" / "empty.yaml")])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert [": ok: " in line for line in out] == [True, False]


def test_folder_validates_every_policy_in_it(capsys):
    assert main(["validate", str(POLICIES / "valid")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_module_entry_point_validates_without_a_traceback():
    broken = POLICIES / "broken" / "yaml-syntax.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "jsm_bridge", "validate", str(broken)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == f"{broken}:3:1: (file): YAML syntax: expected ',' or '}}', but got '<scalar>'\n"
    assert "Traceback" not in result.stderr


def test_without_arguments_validates_the_policies_in_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("JSM_BRIDGE_POLICIES", f"{POLICIES / 'valid'}:{POLICIES / 'full.yaml'}")
    assert main(["validate"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_without_arguments_or_environment_says_what_to_do(capsys, monkeypatch):
    monkeypatch.delenv("JSM_BRIDGE_POLICIES", raising=False)
    assert main(["validate"]) == 2
    assert "set JSM_BRIDGE_POLICIES" in capsys.readouterr().err
