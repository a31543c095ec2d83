"""Generate the standard XDM components shipped with dsw_xdm from the public standard's files.

    .venv/bin/python libs/xdm/scripts/generate_standard.py [--components ../shared/xdm/components]

Reads every `*.schema.json` under the standard's `components/` folder (adobe/xdm, CC BY 4.0) and
writes `src/dsw_xdm/standard/components.json` (compact JSON, checked in as package data) with the
licence notice and, per component, its kind (from the folder it lives in) and its definition in the
**stored form** the library works in. The transformation, and nothing else:

- property names (and `required` entries) go to the stored form: `xdm:` dropped, `@id` -> `_id`,
  `schema:name` -> `_schema` object holding `name`, `https://ns.adobe.com/experience/mcid` ->
  `_experience` object holding `mcid` (several names sharing a parent are merged);
- JSON-LD `@context` bookkeeping is not data in the stored form: the `allOf` references to
  `extensible#/definitions/@context` are dropped and that definition is emptied;
- `const: v` becomes `enum: [v]`, and an `enum` without a `type` gets its values' type; a
  `oneOf` of a string and an object becomes the object (the stored form cannot hold both);
  `patternProperties` are dropped (the standard's known names are listed as properties);
- documentation-only bulk is dropped: `meta:license` (kept once for the file), `$schema`,
  `meta:titleId`, `meta:descriptionId`, `meta:createdDate`, `examples`, `meta:tags`.

Every generated component is resolved by the library before the file is written, so a component
the library cannot read fails generation instead of failing at run time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent / "src" / "dsw_xdm"
OUTPUT = PACKAGE / "standard" / "components.json"
DEFAULT_COMPONENTS = HERE.parents[2].parent / "shared" / "xdm" / "components"

sys.path.insert(0, str(PACKAGE.parent))

from dsw_xdm._forms import stored_name  # noqa: E402

KIND_BY_FOLDER = {
    "behaviors": "behavior",
    "classes": "class",
    "fieldgroups": "fieldgroup",
    "datatypes": "datatype",
    "common": "datatype",
}
DROPPED_KEYS = frozenset(
    {
        "meta:license",
        "$schema",
        "meta:titleId",
        "meta:descriptionId",
        "meta:createdDate",
        "examples",
        "meta:tags",
        "patternProperties",
    }
)
CONTEXT_REF = "https://ns.adobe.com/xdm/common/extensible#/definitions/@context"
EXTENSIBLE = "https://ns.adobe.com/xdm/common/extensible"


def _node(node: Any) -> Any:
    """A schema node with stored-form names and the transformations of the module docstring."""
    if isinstance(node, list):
        return [_node(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "oneOf" in node:
        alternatives = node["oneOf"]
        objects = [a for a in alternatives if isinstance(a, dict) and a.get("type") == "object"]
        if len(objects) != 1:
            raise ValueError(f"unsupported oneOf {json.dumps(alternatives)[:200]}")
        rest = {k: v for k, v in node.items() if k != "oneOf"}
        return _node({**rest, **objects[0]})
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in DROPPED_KEYS:
            continue
        if key == "properties":
            out["properties"] = _properties(value)
        elif key == "required":
            out["required"] = value
        elif key == "allOf":
            out["allOf"] = [_node(part) for part in value if part.get("$ref") != CONTEXT_REF]
        elif key == "const":
            out["enum"] = [value]
        elif key in ("meta:enum", "enum", "default", "meta:intendedToExtend", "meta:extends"):
            out[key] = value  # data, not field names
        else:
            out[key] = _node(value)
    if "enum" in out and "type" not in out and "$ref" not in out:
        # An enum without a type (a few standard fields): the type its values share.
        kinds = {type(value) for value in out["enum"]}
        out["type"] = {str: "string", bool: "boolean", int: "integer"}.get(kinds.pop(), "number")
    return _finish_required(out)


def _properties(properties: dict[str, Any]) -> dict[str, Any]:
    """Stored-form properties; nested names `_schema.name` become objects."""
    out: dict[str, Any] = {}
    for key, value in properties.items():
        path = stored_name(key)
        target = out
        for parent in path[:-1]:
            holder = target.setdefault(parent, {"type": "object", "properties": {}})
            if holder.get("type") != "object" or "properties" not in holder:
                raise ValueError(f"{key!r}: {parent!r} is both a field and a namespace")
            target = holder["properties"]
        if path[-1] in target:
            raise ValueError(f"{key!r} maps to {'.'.join(path)!r}, defined twice")
        target[path[-1]] = _node(value)
    return out


def _finish_required(node: dict[str, Any]) -> dict[str, Any]:
    """Rename `required` entries; a required `schema:name` requires `_schema` and its `name`."""
    required = node.get("required")
    if not isinstance(required, list):
        return node
    names: list[str] = []
    for key in required:
        path = stored_name(key)
        names.append(path[0])
        holder = node.get("properties", {})
        for depth, parent in enumerate(path[:-1]):
            inner = holder.get(parent)
            if inner is None:
                break
            inner.setdefault("required", [])
            if path[depth + 1] not in inner["required"]:
                inner["required"].append(path[depth + 1])
            holder = inner.get("properties", {})
    node["required"] = list(dict.fromkeys(names))
    return node


def generate(components: Path) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    licence: list[str] | None = None
    for path in sorted(components.rglob("*.schema.json")):
        relative = path.relative_to(components)
        kind = KIND_BY_FOLDER[relative.parts[0]]
        document = json.loads(path.read_text(encoding="utf-8"))
        licence = licence or document.get("meta:license")
        if document["$id"] == EXTENSIBLE:
            document["definitions"]["@context"] = {}
        definition = _node(document)
        entries.append({"kind": kind, "file": str(relative), "definition": definition})
    return {
        "license": licence,
        "notice": (
            "Generated by libs/xdm/scripts/generate_standard.py from the components of the "
            "Experience Data Model standard (github.com/adobe/xdm), licensed under Creative "
            "Commons Attribution 4.0 International (CC BY 4.0): "
            "https://creativecommons.org/licenses/by/4.0/. Changed: property names in the "
            "stored form, JSON-LD @context, const, oneOf and patternProperties rewritten, "
            "documentation-only keys dropped (see the script)."
        ),
        "source": _source(components),
        "components": entries,
    }


def _source(components: Path) -> str:
    readme = components.parent / "README.md"
    if readme.is_file():
        for word in readme.read_text(encoding="utf-8").split():
            if len(word) == 40 and all(c in "0123456789abcdef" for c in word):
                return f"adobe/xdm@{word}"
    try:
        commit = subprocess.run(
            ["git", "-C", str(components), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "adobe/xdm"
    return f"adobe/xdm@{commit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=Path, default=DEFAULT_COMPONENTS)
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args()
    generated = generate(args.components)
    text = json.dumps(generated, separators=(",", ":"), ensure_ascii=False, sort_keys=False)
    from dsw_xdm._registry import Registry  # the library must resolve what it will ship

    Registry.from_standard_document(generated).check()
    if args.check:
        if OUTPUT.read_text(encoding="utf-8") != text + "\n":
            sys.exit(f"{OUTPUT} is out of date: run {Path(__file__).name}")
        return
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(text + "\n", encoding="utf-8")
    print(f"{len(generated['components'])} components -> {OUTPUT} ({len(text):,} bytes)")


if __name__ == "__main__":
    main()
