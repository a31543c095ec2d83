"""Architecture rules CI enforces.

1. Services never import each other (they talk over REST and Kafka).
2. Libraries never import services.
3. Only boundary modules commit: the kit's unit of work and consumers, not domain code.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {path.name for path in (ROOT / "services").iterdir() if (path / "src").is_dir()}
SERVICE_PACKAGES = {f"dsw_{name}" for name in SERVICES}
# Modules allowed to call commit(): the unit-of-work boundaries.
COMMIT_ALLOWED = {"libs/kit/src/dsw_kit/db.py", "libs/kit/src/dsw_kit/migrations.py"}


def imported_packages(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def commits(tree: ast.AST) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "commit"
        and not (
            isinstance(node.func.value, ast.Name)
            and node.func.value.id in {"consumer", "connection"}
        )
    ]


def check_file(path: Path) -> list[str]:
    relative = path.relative_to(ROOT).as_posix()
    tree = ast.parse(path.read_text(), filename=relative)
    problems = []
    parts = relative.split("/")
    own = f"dsw_{parts[1]}" if parts[0] == "services" else None
    for package in sorted(imported_packages(tree) & SERVICE_PACKAGES):
        if package != own:
            problems.append(f"{relative}: imports {package} (services talk over REST and events)")
    if "/src/" in relative and relative not in COMMIT_ALLOWED:
        problems.extend(
            f"{relative}:{line}: commit() outside a boundary module" for line in commits(tree)
        )
    return problems


def main() -> int:
    sources = [*ROOT.glob("services/*/src/**/*.py"), *ROOT.glob("libs/*/src/**/*.py")]
    problems = [problem for path in sorted(sources) for problem in check_file(path)]
    for problem in problems:
        print(problem)
    print(f"architecture: {len(sources)} files checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
