"""Validation of the Kubernetes manifests shown in the course.

Every ``yaml`` fence whose documents carry ``apiVersion`` and ``kind`` is checked against
the OpenAPI schema of a current Kubernetes release (strict: unknown fields are errors), so
that a trainee never copies a manifest the API server would reject.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import kubernetes_validate
import yaml
from django.conf import settings
from kubernetes_validate.utils import SchemaNotFoundError, latest_version

from courseware.content.fences import Fence

NO_VALIDATE = "no-validate"


@cache
def schema_version() -> str:
    return settings.KUBERNETES_SCHEMA_VERSION or latest_version()


def _node_at(node: yaml.Node, path: list[Any]) -> yaml.Node:
    """The deepest node along a jsonschema error path (for its line)."""
    for step in path:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == step), None)
            if found is None:
                break
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            if step >= len(node.value):
                break
            node = node.value[step]
        else:
            break
    return node


def _jsonpath(path: list[Any]) -> str:
    return "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)


def check_fence(fence: Fence) -> list[tuple[int, str]]:
    """Errors of one fence as (file line, message); empty when it is fine or not a manifest."""
    if fence.language != "yaml" or NO_VALIDATE in fence.flags:
        return []
    body_line = fence.line + 1
    try:
        nodes = list(yaml.compose_all(fence.body, Loader=yaml.SafeLoader))
        docs = list(yaml.safe_load_all(fence.body))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return [(body_line + (mark.line if mark else 0), f"YAML: {exc.problem or exc.context}")]

    errors: list[tuple[int, str]] = []
    version = schema_version()
    for node, doc in zip(nodes, docs, strict=True):
        if not isinstance(doc, dict) or not ({"apiVersion", "kind"} & doc.keys()):
            continue  # a fragment (a selector, a list of values), not a manifest
        line = body_line + node.start_mark.line
        if not ({"apiVersion", "kind"} <= doc.keys()):
            missing = "apiVersion" if "kind" in doc else "kind"
            errors.append((line, f"manifest has no {missing}"))
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except SchemaNotFoundError:
            errors.append(
                (
                    line,
                    f"Kubernetes {version} has no kind {doc['kind']!r} in apiVersion "
                    f"{doc['apiVersion']!r} (fence it as 'yaml {NO_VALIDATE}' if that is "
                    "the point)",
                )
            )
        except kubernetes_validate.ValidationError as exc:
            path = list(exc.absolute_path)
            if exc.validator == "additionalProperties" and isinstance(exc.instance, dict):
                # Point at the unexpected field itself, not at the object holding it.
                known = exc.schema.get("properties", {})
                path += sorted(key for key in exc.instance if key not in known)[:1]
            where = _jsonpath(path) if path else "the manifest"
            error_line = body_line + _node_at(node, path).start_mark.line
            errors.append((error_line, f"{doc['kind']} manifest invalid at {where}: {exc.message}"))
    return errors
