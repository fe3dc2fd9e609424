"""Regenerate the *-2026-01-structure.json files: the structural part of Atlassian's published documents.

Keeps paths, operations, parameters, request bodies, response codes and their body schemas, security,
and every component schema with its types, formats, enums, limits, patterns and required fields.
Drops description texts, summaries, titles, examples, tags, and the ``style``/``explode`` that
openapi-generator added to parameters. The output is deterministic (sorted keys), so a regenerated
file that differs from the committed one means upstream changed.

    python tests/data/upstream/extract.py            # rewrite both structure files
    python tests/data/upstream/extract.py --check    # exit 1 if a committed file is not current
    python tests/data/upstream/extract.py --shared DIR

The sources are ../shared/upstream-openapi/{deployments,builds}-2026-01-normalized.json beside the
project root; the contract test itself reads only the structure files, so it runs without ../shared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
DEFAULT_SHARED = ROOT.parent / "shared" / "upstream-openapi"
APIS = ("deployments", "builds")  # each one's source is {api}-2026-01-normalized.json


def source_of(api: str, shared: Path = DEFAULT_SHARED) -> Path:
    return shared / f"{api}-2026-01-normalized.json"


def target_of(api: str) -> Path:
    return HERE / f"{api}-2026-01-structure.json"


SCHEMA_KEYS = {
    "$ref", "type", "format", "enum", "const", "pattern", "default", "nullable", "deprecated",
    "minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "required",
    "properties", "items", "additionalProperties", "propertyNames", "anyOf", "oneOf", "allOf", "not",
    "readOnly", "writeOnly",
}  # fmt: skip
SUB_SCHEMA_KEYS = {"items", "additionalProperties", "propertyNames", "not"}
SCHEMA_LIST_KEYS = {"anyOf", "oneOf", "allOf"}
PARAMETER_KEYS = {"name", "in", "required", "deprecated"}
OPERATION_KEYS = {"operationId", "deprecated", "security", "x-atlassian-connect-scope"}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def schema_structure(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema  # additionalProperties: true/false
    kept: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in SCHEMA_KEYS:
            continue
        if key == "properties":
            kept[key] = {name: schema_structure(sub) for name, sub in value.items()}
        elif key in SUB_SCHEMA_KEYS:
            kept[key] = schema_structure(value)
        elif key in SCHEMA_LIST_KEYS:
            kept[key] = [schema_structure(sub) for sub in value]
        else:
            kept[key] = value
    return kept


def content_structure(content: dict[str, Any]) -> dict[str, Any]:
    return {media: {"schema": schema_structure(body.get("schema", {}))} for media, body in content.items()}


def operation_structure(operation: dict[str, Any]) -> dict[str, Any]:
    kept = {key: operation[key] for key in OPERATION_KEYS if key in operation}
    parameters = []
    for parameter in operation.get("parameters", []):
        entry = {key: parameter[key] for key in PARAMETER_KEYS if key in parameter}
        entry["schema"] = schema_structure(parameter.get("schema", {}))
        parameters.append(entry)
    if parameters:
        kept["parameters"] = parameters
    if "requestBody" in operation:
        body = operation["requestBody"]
        kept["requestBody"] = {"required": body.get("required", False), "content": content_structure(body["content"])}
    kept["responses"] = {
        code: ({"content": content_structure(response["content"])} if "content" in response else {})
        for code, response in operation["responses"].items()
    }
    return kept


def security_scheme_structure(scheme: dict[str, Any]) -> dict[str, Any]:
    kept = {key: scheme[key] for key in ("type", "in", "name", "scheme", "bearerFormat") if key in scheme}
    if "flows" in scheme:
        kept["flows"] = {
            flow: {
                **{key: value for key, value in spec.items() if key.endswith("Url")},
                "scopes": sorted(spec.get("scopes", {})),
            }
            for flow, spec in scheme["flows"].items()
        }
    return kept


def structure(document: dict[str, Any], source: Path) -> dict[str, Any]:
    provenance = dict(document.get("x-provenance", {}))
    provenance["extractedFrom"] = f"../shared/upstream-openapi/{source.name}"
    provenance["extractedFromSha256"] = hashlib.sha256(source.read_bytes()).hexdigest()
    provenance["extractedBy"] = "tests/data/upstream/extract.py (structure only: no descriptions, titles or examples)"
    components = document.get("components", {})
    return {
        "provenance": provenance,
        "openapi": document["openapi"],
        "paths": {
            path: {method: operation_structure(op) for method, op in item.items() if method in METHODS}
            for path, item in document["paths"].items()
        },
        "components": {
            "schemas": {name: schema_structure(s) for name, s in components.get("schemas", {}).items()},
            "securitySchemes": {
                name: security_scheme_structure(s) for name, s in components.get("securitySchemes", {}).items()
            },
        },
    }


def render(source: Path) -> str:
    document = json.loads(source.read_text(encoding="utf-8"))
    return json.dumps(structure(document, source), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the normalised upstream documents' folder")
    parser.add_argument("--check", action="store_true", help="only check that the committed files are current")
    args = parser.parse_args(argv)
    stale = 0
    for api in APIS:
        text, target = render(source_of(api, args.shared)), target_of(api)
        if not args.check:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}")
        elif (target.read_text(encoding="utf-8") if target.exists() else "") != text:
            print(f"{target.name} is not current: run {Path(__file__).name} to regenerate it", file=sys.stderr)
            stale += 1
        else:
            print(f"{target.name} is current")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
