"""The schema as documentation: every section and key is explained, in the code and in the reference."""

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from jsm_bridge.policy.loader import _members
from jsm_bridge.policy.schema import PolicySpec, Updates

REFERENCE = (Path(__file__).parent.parent / "docs" / "policy-language.md").read_text(encoding="utf-8")


def models(root: type[BaseModel] = PolicySpec) -> list[type[BaseModel]]:
    """Every schema model reachable from the policy file."""
    found: list[type[BaseModel]] = []
    pending = [root]
    while pending:
        model = pending.pop()
        if model in found:
            continue
        found.append(model)
        for info in model.model_fields.values():
            pending.extend(_nested_models(info.annotation))
    return found


def _nested_models(annotation) -> list[type[BaseModel]]:
    out = []
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            out.append(member)
        for arg in getattr(member, "__args__", ()):
            out.extend(_nested_models(arg))
    return out


KEYS = sorted({(m.__name__, info.alias or name) for m in models() for name, info in m.model_fields.items()})


@pytest.mark.parametrize("model", models(), ids=lambda m: m.__name__)
def test_every_schema_model_has_a_docstring(model):
    assert model.__doc__ and "Usage docs" not in model.__doc__


@pytest.mark.parametrize(("model", "key"), KEYS, ids=[f"{m}.{k}" for m, k in KEYS])
def test_every_key_is_documented_in_the_reference(model, key):
    as_code = rf"`{re.escape(key)}`"
    as_heading = rf"^### (.*, )?{re.escape(key)}(,.*)?$"
    assert re.search(as_code, REFERENCE) or re.search(as_heading, REFERENCE, re.MULTILINE)


def test_updates_every_takes_a_single_limit_for_all_priorities():
    updates = Updates.model_validate({"every": "1d@office"})
    assert list(updates.every) == ["default"]
