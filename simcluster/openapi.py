"""The OpenAPI documents kubectl reads before ``apply``, ``create -f``, ``edit``, ``diff`` and
``explain``: v3 (``/openapi/v3`` lists one document per group-version, each addressed with a hash
of its content) and v2 (``/openapi/v2``, one document, as JSON).

The schemas are kubernetes-validate's definitions (`simcluster.schema`) turned back from JSON
Schema into OpenAPI (``type: [string, null]`` becomes ``type: string``, ``$ref`` points into
``components``/``definitions``); the ``paths`` are generated from the resources the simulated
cluster serves (`simcluster.resources`), with the operations, ``x-kubernetes-action``,
``x-kubernetes-group-version-kind`` and the query parameters (``fieldValidation``, ``dryRun``,
``fieldManager``) that kubectl looks for before it leaves validation to the server.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from typing import Any

from simcluster.resources import RESOURCES, SERVER_VERSION, Resource
from simcluster.schema import definitions

__all__ = ["v2_document", "v3_document", "v3_index"]

_META = "io.k8s.apimachinery.pkg.apis.meta.v1"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_JSON = "application/json"
_PATCH_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
_FIELD_VALIDATION = (
    "fieldValidation instructs the server on how to handle objects in the request "
    "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This "
    "will ignore any unknown fields that are silently dropped from the object, and will ignore "
    "all but the last duplicate field that the decoder encounters. - Warn: This will send a "
    "warning via the standard warning response header for each unknown field that is dropped "
    "from the object, and for each duplicate field that is encountered. - Strict: This will "
    "fail the request with a BadRequest error if any unknown fields would be dropped from the "
    "object, or if any duplicate fields are present."
)
_QUERY = {
    "dryRun": (
        "string",
        "When present, indicates that modifications should not be persisted. Valid values are: "
        "- All: all dry run stages will be processed",
    ),
    "fieldManager": (
        "string",
        "fieldManager is a name associated with the actor or entity that is making these "
        "changes.",
    ),
    "fieldValidation": ("string", _FIELD_VALIDATION),
    "force": ("boolean", "Force is going to \"force\" Apply requests."),
    "pretty": ("string", "If 'true', then the output is pretty printed."),
    "labelSelector": ("string", "A selector to restrict the list of returned objects by labels."),
    "fieldSelector": ("string", "A selector to restrict the list of returned objects by fields."),
    "limit": ("integer", "limit is a maximum number of responses to return for a list call."),
    "continue": ("string", "The continue option should be set when retrieving more results."),
    "resourceVersion": ("string", "resourceVersion sets a constraint on what resource versions "
                        "a request may be served from."),
    "timeoutSeconds": ("integer", "Timeout for the list/watch call."),
    "watch": ("boolean", "Watch for changes to the described resources."),
    "gracePeriodSeconds": ("integer", "The duration in seconds before the object should be "
                           "deleted."),
    "propagationPolicy": ("string", "Whether and how garbage collection will be performed."),
}  # fmt: skip
_WRITE = ("dryRun", "fieldManager", "fieldValidation")
_LIST = ("continue", "fieldSelector", "labelSelector", "limit", "resourceVersion",
         "timeoutSeconds", "watch")  # fmt: skip


# -- schemas ---------------------------------------------------------------------------------


def _convert(schema: Any, ref_prefix: str, top: bool = False) -> Any:
    """A JSON Schema node of kubernetes-validate as an OpenAPI schema node."""
    if isinstance(schema, list):
        return [_convert(item, ref_prefix) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, list):
            kinds = [kind for kind in value if kind != "null"]
            if kinds:
                out["type"] = kinds[0]
        elif key == "$ref":
            out["$ref"] = ref_prefix + value.rsplit("/", 1)[-1]
        elif key == "properties":
            properties = {}
            for name, prop in value.items():
                prop = _convert(prop, ref_prefix)
                if top and name in ("apiVersion", "kind"):
                    prop.pop("enum", None)  # the real documents do not pin them
                properties[name] = prop
            out["properties"] = properties
        elif key in ("items", "additionalProperties", "allOf", "oneOf", "anyOf"):
            out[key] = _convert(value, ref_prefix)
        else:
            out[key] = copy.deepcopy(value)
    if "$ref" in out and len(out) > 1:
        # OpenAPI ignores the siblings of a $ref; the real documents wrap it in allOf.
        out = {"allOf": [{"$ref": out.pop("$ref")}], **out}
    return out


def _schema(name: str, ref_prefix: str) -> dict:
    raw = definitions().schemas[name]
    if name == _INT_OR_STRING:
        return {
            "description": "IntOrString is a type that can hold an int32 or a string.",
            "type": "string",
            "format": "int-or-string",
        }
    if name == _QUANTITY:
        return {"description": raw.get("description", ""), "type": "string"}
    return _convert(raw, ref_prefix, top=True)


def _closure(roots: set[str]) -> set[str]:
    """The definitions ``roots`` refer to, directly or not."""
    schemas, seen, todo = definitions().schemas, set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        text = json.dumps(schemas[name])
        for part in text.split('"$ref": "#/$defs/')[1:]:
            todo.append(part.split('"', 1)[0])
    return seen


# -- paths -----------------------------------------------------------------------------------


def _param(name: str, where: str = "query") -> dict:
    kind, description = _QUERY.get(name, ("string", ""))
    param: dict[str, Any] = {"name": name, "in": where, "description": description}
    if where == "path":
        param["required"] = True
    param["schema"] = {"type": kind, "uniqueItems": True}
    return param


def _op_name(verb: str, resource: Resource, namespaced: bool, suffix: str = "") -> str:
    group = "".join(part.capitalize() for part in (resource.group or "core").split(".")[:1])
    version = resource.version.capitalize()
    scope = "Namespaced" if namespaced else ""
    return f"{verb}{group}{version}{scope}{resource.kind}{suffix}"


class _Paths:
    def __init__(self, ref_prefix: str, v3: bool) -> None:
        self.ref_prefix, self.v3 = ref_prefix, v3
        self.paths: dict[str, dict] = {}
        self.roots: set[str] = set()

    def _ref(self, name: str) -> dict:
        self.roots.add(name)
        return {"$ref": self.ref_prefix + name}

    def _body(self, schema: dict, media: tuple[str, ...] = (_JSON,)) -> dict:
        if self.v3:
            content = {m: {"schema": schema} for m in media}
            return {"requestBody": {"content": content, "required": True}}
        return {"parameters": [{"name": "body", "in": "body", "required": True, "schema": schema}]}

    def _answer(self, schema: dict, *codes: str) -> dict:
        answers = {}
        for code in codes:
            if self.v3:
                answers[code] = {"description": "OK", "content": {_JSON: {"schema": schema}}}
            else:
                answers[code] = {"description": "OK", "schema": schema}
        answers["401"] = {"description": "Unauthorized"}
        return {"responses": answers}

    def _operation(
        self,
        resource: Resource,
        action: str,
        op_id: str,
        description: str,
        query: tuple[str, ...],
        kind: str | None = None,
        **parts: dict,
    ) -> dict:
        gvk = {"group": resource.group, "version": resource.version, "kind": kind or resource.kind}
        operation: dict[str, Any] = {
            "tags": [f"{(resource.group or 'core').split('.')[0]}_{resource.version}"],
            "description": description,
            "operationId": op_id,
            "parameters": [_param(name) for name in query],
        }
        for part in parts.values():
            for key, value in part.items():
                if key == "parameters":
                    operation["parameters"] = value + operation["parameters"]
                else:
                    operation[key] = value
        operation["x-kubernetes-action"] = action
        operation["x-kubernetes-group-version-kind"] = gvk
        return operation

    def add(self, resource: Resource) -> None:
        name = definitions().name_of(resource.api_version, resource.kind)
        if name is None:
            return
        list_name = definitions().name_of(resource.api_version, resource.list_kind)
        status = f"{_META}.Status"
        obj, obj_list = self._ref(name), self._ref(list_name) if list_name else self._ref(status)
        kind, prefix = resource.kind, "/api/v1" if not resource.group else (
            f"/apis/{resource.group}/{resource.version}"
        )  # fmt: skip
        scopes = [(True, f"{prefix}/namespaces/{{namespace}}/{resource.plural}")]
        if not resource.namespaced:
            scopes = [(False, f"{prefix}/{resource.plural}")]
        for namespaced, base in scopes:
            ns_param = [_param("namespace", "path")] if namespaced else []
            item_params = [_param("name", "path"), *ns_param]
            collection: dict[str, Any] = {"parameters": [*ns_param, _param("pretty")]}
            item: dict[str, Any] = {"parameters": [*item_params, _param("pretty")]}
            verbs = resource.verbs
            if "list" in verbs:
                collection["get"] = self._operation(
                    resource, "list", _op_name("list", resource, namespaced),
                    f"list or watch objects of kind {kind}", _LIST,
                    answer=self._answer(obj_list, "200"),
                )  # fmt: skip
            if "create" in verbs:
                collection["post"] = self._operation(
                    resource, "post", _op_name("create", resource, namespaced),
                    f"create a {kind}", _WRITE,
                    body=self._body(obj), answer=self._answer(obj, "200", "201", "202"),
                )  # fmt: skip
            if "deletecollection" in verbs:
                collection["delete"] = self._operation(
                    resource, "deletecollection",
                    _op_name("deleteCollection", resource, namespaced),
                    f"delete collection of {kind}", ("dryRun", "gracePeriodSeconds", *_LIST),
                    answer=self._answer(self._ref(status), "200"),
                )  # fmt: skip
            self.paths[base] = collection
            if resource.stored:
                self._item(resource, item, obj, namespaced)
                self.paths[f"{base}/{{name}}"] = item
                self._subresources(resource, base, item_params, obj, namespaced)
        if resource.namespaced and "list" in resource.verbs:
            self.paths[f"{prefix}/{resource.plural}"] = {
                "get": self._operation(
                    resource, "list", _op_name("list", resource, False, "ForAllNamespaces"),
                    f"list or watch objects of kind {kind}", _LIST,
                    answer=self._answer(obj_list, "200"),
                ),
                "parameters": [_param("pretty")],
            }  # fmt: skip

    def _item(self, resource: Resource, item: dict, obj: dict, namespaced: bool) -> None:
        kind, patch = resource.kind, self._ref(f"{_META}.Patch")
        item["get"] = self._operation(
            resource, "get", _op_name("read", resource, namespaced),
            f"read the specified {kind}", (), answer=self._answer(obj, "200"),
        )  # fmt: skip
        item["put"] = self._operation(
            resource, "put", _op_name("replace", resource, namespaced),
            f"replace the specified {kind}", _WRITE,
            body=self._body(obj), answer=self._answer(obj, "200", "201"),
        )  # fmt: skip
        item["patch"] = self._operation(
            resource, "patch", _op_name("patch", resource, namespaced),
            f"partially update the specified {kind}", (*_WRITE, "force"),
            body=self._body(patch, _PATCH_TYPES), answer=self._answer(obj, "200", "201"),
        )  # fmt: skip
        item["delete"] = self._operation(
            resource, "delete", _op_name("delete", resource, namespaced),
            f"delete a {kind}", ("dryRun", "gracePeriodSeconds", "propagationPolicy"),
            body=self._body(self._ref(f"{_META}.DeleteOptions")),
            answer=self._answer(obj, "200", "202"),
        )  # fmt: skip

    def _subresources(
        self, resource: Resource, base: str, params: list, obj: dict, namespaced: bool
    ) -> None:
        kind = resource.kind
        if resource.status:
            path: dict[str, Any] = {"parameters": [*params, _param("pretty")]}
            for verb, action, query in (("get", "get", ()), ("put", "put", _WRITE),
                                        ("patch", "patch", (*_WRITE, "force"))):  # fmt: skip
                parts: dict[str, dict] = {"answer": self._answer(obj, "200")}
                if verb == "put":
                    parts["body"] = self._body(obj)
                if verb == "patch":
                    parts["body"] = self._body(self._ref(f"{_META}.Patch"), _PATCH_TYPES)
                path[verb] = self._operation(
                    resource, action,
                    _op_name({"get": "read", "put": "replace"}.get(verb, verb), resource,
                             namespaced, "Status"),
                    f"{verb} status of the specified {kind}", query, **parts,
                )  # fmt: skip
            self.paths[f"{base}/{{name}}/status"] = path
        if resource.scale:
            scale = self._ref("io.k8s.api.autoscaling.v1.Scale")
            path = {"parameters": [*params, _param("pretty")]}
            path["get"] = self._operation(
                resource, "get", _op_name("read", resource, namespaced, "Scale"),
                f"read scale of the specified {kind}", (), kind="Scale",
                answer=self._answer(scale, "200"),
            )  # fmt: skip
            path["put"] = self._operation(
                resource, "put", _op_name("replace", resource, namespaced, "Scale"),
                f"replace scale of the specified {kind}", _WRITE, kind="Scale",
                body=self._body(scale), answer=self._answer(scale, "200", "201"),
            )  # fmt: skip
            path["patch"] = self._operation(
                resource, "patch", _op_name("patch", resource, namespaced, "Scale"),
                f"partially update scale of the specified {kind}", (*_WRITE, "force"),
                kind="Scale", body=self._body(self._ref(f"{_META}.Patch"), _PATCH_TYPES),
                answer=self._answer(scale, "200", "201"),
            )  # fmt: skip
            path["patch"]["x-kubernetes-group-version-kind"] = {
                "group": "autoscaling", "version": "v1", "kind": "Scale"
            }  # fmt: skip
            self.paths[f"{base}/{{name}}/scale"] = path
        for sub, kind_, schema in (
            ("eviction", "Eviction", "io.k8s.api.policy.v1.Eviction"),
            ("token", "TokenRequest", "io.k8s.api.authentication.v1.TokenRequest"),
        ):
            wanted = {"eviction": ("", "pods"), "token": ("", "serviceaccounts")}[sub]
            if resource.key != wanted:
                continue
            ref = self._ref(schema)
            operation = self._operation(
                resource, "post", _op_name("create", resource, namespaced, kind_),
                f"create {kind_} of a {kind}", _WRITE, kind=kind_,
                body=self._body(ref), answer=self._answer(ref, "200", "201", "202"),
            )  # fmt: skip
            group = "policy" if sub == "eviction" else "authentication.k8s.io"
            operation["x-kubernetes-group-version-kind"] = {
                "group": group, "version": "v1", "kind": kind_
            }  # fmt: skip
            self.paths[f"{base}/{{name}}/{sub}"] = {"parameters": params, "post": operation}


def _group_versions() -> dict[str, list[Resource]]:
    found: dict[str, list[Resource]] = {}
    for resource in RESOURCES:
        key = f"apis/{resource.group}/{resource.version}" if resource.group else "api/v1"
        found.setdefault(key, []).append(resource)
    return found


def _info() -> dict:
    return {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]}


@functools.cache
def _v3_documents() -> dict[str, tuple[bytes, str]]:
    """Each group-version's document, serialised, with the hash that addresses it."""
    documents = {}
    for key, resources in _group_versions().items():
        paths = _Paths("#/components/schemas/", v3=True)
        for resource in resources:
            paths.add(resource)
        names = _closure(paths.roots | {f"{_META}.Status", f"{_META}.DeleteOptions"})
        schemas = {name: _schema(name, "#/components/schemas/") for name in sorted(names)}
        security = {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}}
        document = {
            "openapi": "3.0.0",
            "info": _info(),
            "paths": paths.paths,
            "components": {"schemas": schemas, "securitySchemes": security},
        }
        raw = json.dumps(document, separators=(",", ":")).encode()
        documents[key] = (raw, hashlib.sha512(raw).hexdigest().upper()[:128])
    return documents


def v3_index() -> dict:
    """``/openapi/v3``: where each group-version's document is."""
    paths = {
        key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
        for key, (_, digest) in _v3_documents().items()
    }
    return {"paths": paths}


def v3_document(key: str) -> tuple[bytes, str] | None:
    """The serialised document of ``key`` (``api/v1``, ``apis/apps/v1``) and its hash."""
    return _v3_documents().get(key)


@functools.cache
def v2_document() -> bytes:
    """``/openapi/v2``: every path and every definition in one Swagger 2.0 document."""
    paths = _Paths("#/definitions/", v3=False)
    for resource in RESOURCES:
        paths.add(resource)
    names = _closure(set(definitions().schemas))
    document = {
        "swagger": "2.0",
        "info": _info(),
        "paths": paths.paths,
        "definitions": {name: _schema(name, "#/definitions/") for name in sorted(names)},
        "securityDefinitions": {
            "BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}
        },
        "security": [{"BearerToken": []}],
    }
    return json.dumps(document, separators=(",", ":")).encode()
