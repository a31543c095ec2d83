"""Print the configuration reference (every environment variable) as Markdown.

docs/configuration.md embeds this output; tests/test_docs.py fails when they drift apart.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from pydantic_settings import BaseSettings

from dsw_kit.settings import AuthSettings, PlatformSettings

SERVICES = ["catalog", "recipes", "training", "scoring", "serving", "console"]


def rows(settings_class: type[BaseSettings], skip: set[str]) -> list[tuple[str, str, str]]:
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    found = []
    for name, field in settings_class.model_fields.items():
        if name in skip:
            continue
        default = field.get_default(call_default_factory=False)
        shown = str(default) if isinstance(default, (str, int, float, bool, Path)) else "-"
        shown = shown or '""'
        found.append((f"{prefix}{name}".upper(), shown, field.description or ""))
    return found


def reference() -> str:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for variable, default, meaning in rows(PlatformSettings, {"auth"}) + rows(AuthSettings, set()):
        lines.append(f"| `{variable}` | `{default}` | {meaning} |")
    for service in SERVICES:
        module = importlib.import_module(f"dsw_{service}.settings")
        settings_class = getattr(module, f"{service.capitalize()}Settings")
        lines.append("")
        lines.append(f"**{service}**")
        lines.append("")
        lines.append("| variable | default | meaning |")
        lines.append("|---|---|---|")
        for variable, default, meaning in rows(settings_class, {"platform", "service"}):
            lines.append(f"| `{variable}` | `{default}` | {meaning} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference())
