"""Every scenario under tests/scenarios/ runs; one with `expect:` must produce exactly that timeline.

Policy packs add their own folders of scenarios here; policy files kept beside scenarios (no `tickets`)
are not scenarios and are skipped. `jsm-bridge simulate SCENARIO --expect` prints a block to start from."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jsm_bridge.engine import HANDLERS
from jsm_bridge.simulate import expectation_diff, load_scenario, simulate

ROOT = Path(__file__).parent / "scenarios"


def _is_scenario(path: Path) -> bool:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return isinstance(data, dict) and "tickets" in data


SCENARIOS = sorted(p for p in ROOT.rglob("*.yaml") if _is_scenario(p))


def test_the_scenario_folder_is_not_empty():
    assert len(SCENARIOS) >= 10


@pytest.mark.parametrize("kind", list(HANDLERS))
def test_every_rule_kind_has_a_scenario_with_an_expected_timeline(kind: str):
    shown = [
        p
        for p in SCENARIOS
        if kind in p.relative_to(ROOT).parts and "expect" in p.read_text(encoding="utf-8")
    ]
    assert shown, f"add a scenario under tests/scenarios/{kind}/ showing the {kind} rules"


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: str(p.relative_to(ROOT).with_suffix("")))
def test_scenario_produces_its_expected_timeline(path: Path):
    scenario = load_scenario(path)
    result = simulate(scenario)
    if scenario.expect is None:
        return  # a scenario without expectations must still run to its end without an error
    diff = expectation_diff(scenario.expect, result.actions)
    assert diff is None, f"{path.relative_to(ROOT)} did not produce its expected timeline:\n{diff}"
