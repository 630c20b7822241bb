"""The schemas of the Kubernetes API kinds, as the kubernetes-validate package ships them.

kubernetes-validate carries, per Kubernetes release, the API's OpenAPI definitions rewritten as
JSON Schema (``_definitions.json``: descriptions, ``required``, ``x-kubernetes-*`` patch and list
metadata, ``x-kubernetes-group-version-kind``). The newest release it ships is used. From them
come the OpenAPI documents (`simcluster.openapi`), the JSON names of protobuf fields
(`simcluster.protobuf`) and the server's detection of unknown fields (`unknown_fields`).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate

__all__ = ["Definitions", "definitions", "prune_unknown"]

_REF = "#/$defs/"
# Kinds whose JSON is free-form: anything is accepted under them.
_OPAQUE = {
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
}
_RELEASE = re.compile(r"v(\d+)\.(\d+)\.(\d+)-local")


class Definitions:
    """All definitions of one release, by name (``io.k8s.api.core.v1.Pod``) and by kind."""

    def __init__(self, schemas: dict[str, dict], release: str) -> None:
        self.schemas = schemas
        self.release = release
        self._by_kind: dict[tuple[str, str], str] = {}
        for name, schema in schemas.items():
            for gvk in schema.get("x-kubernetes-group-version-kind") or []:
                group, version = gvk.get("group", ""), gvk["version"]
                api_version = f"{group}/{version}" if group else version
                # meta kinds (DeleteOptions, Status, ...) are listed under every group;
                # keep the first, which names their home.
                self._by_kind.setdefault((api_version, gvk["kind"]), name)

    def name_of(self, api_version: str, kind: str) -> str | None:
        return self._by_kind.get((api_version, kind))

    def resolve(self, schema: dict) -> tuple[str | None, dict]:
        """Follow a ``$ref``: the definition's name (None when inline) and its schema."""
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF):
            name = ref[len(_REF) :]
            return name, self.schemas.get(name, {})
        return None, schema


def _releases(root: Path) -> list[tuple[tuple[int, ...], Path]]:
    found = []
    for folder in root.iterdir():
        match = _RELEASE.fullmatch(folder.name)
        if match and (folder / "_definitions.json").is_file():
            found.append((tuple(int(part) for part in match.groups()), folder))
    return sorted(found)


@functools.cache
def definitions() -> Definitions:
    """The definitions of the newest release kubernetes-validate ships (read once)."""
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    releases = _releases(root)
    if not releases:
        raise RuntimeError(f"kubernetes-validate ships no _definitions.json under {root}")
    numbers, folder = releases[-1]
    document = json.loads((folder / "_definitions.json").read_text())
    return Definitions(document["$defs"], "v" + ".".join(map(str, numbers)))


def prune_unknown(obj: dict, api_version: str, kind: str) -> tuple[dict, list[str]]:
    """``obj`` without the fields its kind does not define, and the paths of those fields as
    the server names them (``spec.containers[0].imagePullPolice``).

    An object of a kind without a definition is returned as it is."""
    known = definitions()
    name = known.name_of(api_version, kind)
    if name is None:
        return obj, []
    found: list[str] = []
    pruned = _prune(known, {"$ref": _REF + name}, obj, "", found)
    return pruned, found


def _prune(known: Definitions, schema: dict, value: Any, path: str, found: list) -> Any:
    name, schema = known.resolve(schema)
    if name in _OPAQUE or value is None:
        return value
    if isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        if properties is None and not isinstance(extra, dict):
            return value  # a free-form object, or an int-or-string given as an object
        out = {}
        for key, item in value.items():
            if properties is not None and key in properties:
                where = f"{path}.{key}" if path else key
                out[key] = _prune(known, properties[key], item, where, found)
            elif properties is None and isinstance(extra, dict):
                out[key] = _prune(known, extra, item, f"{path}[{key}]", found)
            elif path == "" and key in ("apiVersion", "kind"):
                out[key] = item
            else:
                found.append(f"{path}.{key}" if path else key)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [
            _prune(known, schema["items"], item, f"{path}[{index}]", found)
            for index, item in enumerate(value)
        ]
    return value
