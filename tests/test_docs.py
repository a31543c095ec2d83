"""Documentation that is generated from code stays in step with it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_reference_lists_every_setting() -> None:
    spec = importlib.util.spec_from_file_location(
        "settings_reference", ROOT / "scripts" / "settings_reference.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = (ROOT / "docs" / "configuration.md").read_text()
    block = text.split("<!-- settings-reference:start -->\n", 1)[1].split(
        "<!-- settings-reference:end -->", 1
    )[0]
    assert block.strip() == module.reference().strip(), (
        "docs/configuration.md is out of date: regenerate it with scripts/settings_reference.py"
    )
