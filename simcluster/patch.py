"""The three PATCH formats of the API server: JSON merge patch, strategic merge patch and JSON
patch (RFC 6902).

Strategic merge knows the merge keys of the built-in kinds that lab code patches (containers,
env, ports, volumes, conditions, ...); an unknown list of objects that all carry ``name`` merges
by name too, and any other list is replaced, as with a JSON merge patch.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["PatchError", "json_patch", "merge_patch", "strategic_merge_patch"]

_MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "imagePullSecrets": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "ports": ("containerPort", "port"),
    "conditions": ("type",),
    "ownerReferences": ("uid",),
    "hostAliases": ("ip",),
    "topologySpreadConstraints": ("topologyKey",),
}
# Lists of scalars whose patch strategy is "merge": a patch adds to them.
_MERGED_SCALARS = {"finalizers"}


class PatchError(ValueError):
    """A patch that cannot be applied to the object (a missing path, a failed test, ...)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Kubernetes' strategic merge, with the ``$patch: replace|delete`` directives."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [item for item in result.get(field) or [] if item not in value]
        elif key.startswith("$"):
            continue  # $setElementOrder and $retainKeys only refine order and pruning
        elif value is None or (isinstance(value, dict) and value.get("$patch") == "delete"):
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(key, result[key], value)
        elif isinstance(value, list):
            result[key] = [item for item in copy.deepcopy(value) if not _is_directive(item)]
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _is_directive(item: Any) -> bool:
    return isinstance(item, dict) and "$patch" in item


def _merge_key(field: str, old: list, new: list) -> str | None:
    items = [item for item in old + new if not (_is_directive(item) and len(item) == 1)]
    if not all(isinstance(item, dict) for item in items):
        return None
    candidates = _MERGE_KEYS.get(field, ("name",))
    for key in candidates:
        if all(key in item for item in items):
            return key
    return None


def _merge_list(field: str, old: list, new: list) -> list:
    if any(item == {"$patch": "replace"} for item in new):
        return [copy.deepcopy(item) for item in new if not _is_directive(item)]
    if field in _MERGED_SCALARS and not any(isinstance(item, dict) for item in old + new):
        return old + [item for item in new if item not in old]
    key = _merge_key(field, old, new)
    if key is None:
        return [copy.deepcopy(item) for item in new if not _is_directive(item)]
    merged: list[Any] = list(old)
    for item in new:
        position = next(
            (i for i, o in enumerate(merged) if o and o.get(key) == item.get(key)), None
        )
        if item.get("$patch") == "delete":
            if position is not None:
                merged[position] = None
        elif position is None:
            merged.append(strategic_merge_patch({}, item))
        else:
            merged[position] = strategic_merge_patch(merged[position], item)
    return [item for item in merged if item is not None]


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]


def _walk(document: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(document, dict) and part in document:
            document = document[part]
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            raise PatchError(f"path /{'/'.join(parts)} does not exist")
    return document


def _index(container: list, part: str, *, adding: bool) -> int:
    if adding and part == "-":
        return len(container)
    if not part.isdigit() or int(part) > len(container) - (0 if adding else 1):
        raise PatchError(f"index {part} is out of range")
    return int(part)


def _add(document: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _walk(document, parts[:-1])
    if isinstance(parent, dict):
        parent[parts[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, parts[-1], adding=True), value)
    else:
        raise PatchError(f"cannot add below a scalar at /{'/'.join(parts)}")
    return document


def _remove(document: Any, parts: list[str]) -> Any:
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _walk(document, parts[:-1])
    removed = _walk(parent, parts[-1:])
    if isinstance(parent, dict):
        del parent[parts[-1]]
    else:
        del parent[_index(parent, parts[-1], adding=False)]
    return removed


def json_patch(document: Any, operations: Any) -> Any:
    """RFC 6902: add, remove, replace, move, copy and test, applied in order to a copy."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch is a list of operations")
    document = copy.deepcopy(document)
    for operation in operations:
        if not isinstance(operation, dict):
            raise PatchError(f"not an operation: {operation!r}")
        op = operation.get("op")
        parts = _pointer(operation.get("path"))
        if op in ("add", "replace", "test") and "value" not in operation:
            raise PatchError(f"{op} needs a value")
        if op == "add":
            document = _add(document, parts, copy.deepcopy(operation["value"]))
        elif op == "remove":
            _remove(document, parts)
        elif op == "replace":
            _walk(document, parts)
            if parts:
                _remove(document, parts)
            document = _add(document, parts, copy.deepcopy(operation["value"]))
        elif op in ("move", "copy"):
            source = _pointer(operation.get("from"))
            value = _remove(document, source) if op == "move" else _walk(document, source)
            document = _add(document, parts, copy.deepcopy(value))
        elif op == "test":
            if _walk(document, parts) != operation["value"]:
                raise PatchError(f"test failed at {operation.get('path')}")
        else:
            raise PatchError(f"unknown operation {op!r}")
    return document
