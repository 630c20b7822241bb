"""The verbs on resources: create, get, list, update, patch, delete, deletecollection.

Each handler takes the parsed `Target` and answers with the object, a list or a Status, as
kube-apiserver does; failures are raised as `ApiError` and rendered by the middleware.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from simcluster import deletion, reviews, versions
from simcluster.admission import Gate
from simcluster.auth import USER
from simcluster.errors import ApiError
from simcluster.messages import dry_run, flag, get_or_404, read_body, respond
from simcluster.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from simcluster.resources import Resource
from simcluster.selectors import ObjectFilter
from simcluster.watch import serve_watch
from simcluster.wire import check_fields

if TYPE_CHECKING:
    from simcluster.cluster import KubeStandIn
    from simcluster.server import Target

__all__ = ["apply_patch", "patch", "read_object", "remove", "serve"]

APPLY = "application/apply-patch+yaml"
_PATCHES = {
    "application/merge-patch+json": merge_patch,
    "application/strategic-merge-patch+json": strategic_merge_patch,
    "application/json-patch+json": json_patch,
    APPLY: strategic_merge_patch,  # server-side apply, approximated as a strategic merge
}
_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


async def read_object(request: web.Request, resource: Resource) -> dict:
    """The object a create or update sends: checked against its kind's fields as the request's
    ``fieldValidation`` asks, and in the version the store keeps."""
    body = await read_body(request, resource.kind)
    if not isinstance(body, dict):
        raise ApiError.bad_request(f"the body of the request is not a {resource.kind} object")
    api_version, kind = body.get("apiVersion"), body.get("kind")
    # A real server decodes first (so a wrong kind fails first) and then checks the version.
    if kind and kind != resource.kind:
        version = (api_version or "").rpartition("/")[2]
        raise ApiError.bad_request(
            f'{kind} in version "{version}" cannot be handled as a {resource.kind}: '
            f"converting ({kind}) to ({resource.kind}): unknown conversion"
        )
    if api_version and api_version != resource.api_version:
        raise ApiError.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({resource.api_version})"
        )
    if not isinstance(body.get("metadata", {}), dict):
        raise ApiError.bad_request("metadata must be an object")
    body = check_fields(request, resource, body, creating=True)
    return versions.stored(resource, body)


def _check_namespace(target: Target, body: dict) -> None:
    given = (body.get("metadata") or {}).get("namespace")
    if target.resource.namespaced and given and given != target.namespace:
        raise ApiError.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )


def apply_patch(content_type: str, document: dict, patch: Any) -> dict:
    function = _PATCHES.get(content_type)
    if function is None:
        accepted = ", ".join(_PATCHES)
        raise ApiError(
            415,
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{accepted}",
        )
    try:
        patched = function(document, patch)
    except PatchError as error:
        raise ApiError(422, str(error)) from None
    if not isinstance(patched, dict):
        raise ApiError(422, "the patch does not leave an object")
    return patched


async def serve(cluster: KubeStandIn, request: web.Request, target: Target) -> web.StreamResponse:
    method, resource = request.method, target.resource
    verb = _VERBS.get(method, "")
    if target.name is None:
        verb = {"get": "list", "delete": "deletecollection"}.get(verb, verb)
        if verb == "list" and (target.watch or flag(request.query.get("watch"))):
            verb = "watch"
    if verb not in resource.verbs or (target.watch and verb != "watch"):
        raise ApiError.method_not_allowed()
    if verb == "create" and resource.namespaced and target.namespace is None:
        raise ApiError.method_not_allowed()
    if verb == "watch":
        return await serve_watch(cluster, request, target, _filter(request, resource))
    if verb == "list":
        return _list(cluster, request, target)
    if verb == "create":
        return await _create(cluster, request, target)
    if verb == "deletecollection":
        return await _delete_collection(cluster, request, target)
    assert target.name is not None
    if verb == "get":
        return respond(get_or_404(cluster, target))
    if verb == "update":
        body = await read_object(request, resource)
        _check_namespace(target, body)
        store = cluster.store
        admit = Gate(cluster, request, None)
        return respond(
            store.replace(
                resource, target.namespace, target.name, body, dry_run=dry_run(request), admit=admit
            )
        )
    if verb == "patch":
        return await patch(cluster, request, target)
    return await _delete(cluster, request, target)


def _filter(request: web.Request, resource: Resource) -> ObjectFilter:
    query = request.query
    return ObjectFilter.parse(
        query.get("labelSelector", ""), query.get("fieldSelector", ""), resource
    )


def _list(cluster: KubeStandIn, request: web.Request, target: Target) -> web.Response:
    resource = target.resource
    chosen = _filter(request, resource)
    items, revision = cluster.store.list(resource, target.namespace)
    items = [obj for obj in items if chosen.matches(obj)]
    metadata: dict[str, Any] = {"resourceVersion": str(revision)}
    if token := request.query.get("continue"):
        try:
            after = json.loads(base64.urlsafe_b64decode(token))
        except ValueError:
            raise ApiError.bad_request("continue key is not valid") from None
        items = [obj for obj in items if _position(obj) > after]
    limit = int(request.query.get("limit") or 0)
    if 0 < limit < len(items):
        last = json.dumps(_position(items[limit - 1])).encode()
        metadata["continue"] = base64.urlsafe_b64encode(last).decode()
        metadata["remainingItemCount"] = len(items) - limit
        items = items[:limit]
    kind, api_version = resource.list_kind, resource.api_version
    return respond({"kind": kind, "apiVersion": api_version, "metadata": metadata, "items": items})


def _position(obj: dict) -> list[str]:
    return [obj["metadata"].get("namespace", ""), obj["metadata"]["name"]]


async def _create(cluster: KubeStandIn, request: web.Request, target: Target) -> web.Response:
    resource = target.resource
    body = await read_object(request, resource)
    if not resource.stored:
        return _review(cluster, request, resource, body)
    _check_namespace(target, body)
    body.setdefault("metadata", {})
    if resource.namespaced:
        body["metadata"]["namespace"] = target.namespace
    admit = Gate(cluster, request, None)
    return respond(cluster.store.create(resource, body, dry_run=dry_run(request), admit=admit), 201)


def _review(
    cluster: KubeStandIn, request: web.Request, resource: Resource, body: dict
) -> web.Response:
    return respond(reviews.answer(cluster.authorizer, request[USER], resource, body), 201)


async def patch(
    cluster: KubeStandIn, request: web.Request, target: Target, subresource: str | None = None
) -> web.Response:
    assert target.name is not None
    resource, content_type = target.resource, request.content_type
    body = await read_body(request)
    store = cluster.store
    with store.lock:
        current = store.get(resource, target.namespace, target.name)
        if current is None and content_type == APPLY and subresource is None:
            return _apply_create(cluster, request, target, body)
        if current is None:
            raise ApiError.not_found(resource, target.name)
        patched = apply_patch(content_type, versions.present(resource, current), body)
        patched = versions.stored(resource, check_fields(request, resource, patched))
        _check_namespace(target, patched)
        result = store.replace(
            resource,
            target.namespace,
            target.name,
            patched,
            subresource=subresource,
            dry_run=dry_run(request),
            admit=Gate(cluster, request, subresource),
        )
    return respond(result)


def _apply_create(
    cluster: KubeStandIn, request: web.Request, target: Target, body: Any
) -> web.Response:
    if not request.query.get("fieldManager"):
        raise ApiError(
            422,
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
            "is required for apply patch",
        )
    if not isinstance(body, dict):
        raise ApiError.bad_request("the body of an apply patch must be an object")
    body = versions.stored(target.resource, check_fields(request, target.resource, body))
    _check_namespace(target, body)
    metadata = body.setdefault("metadata", {})
    metadata.setdefault("name", target.name)
    if target.resource.namespaced:
        metadata["namespace"] = target.namespace
    admit = Gate(cluster, request, None)
    created = cluster.store.create(target.resource, body, dry_run=dry_run(request), admit=admit)
    return respond(created, 201)


async def _delete_options(request: web.Request) -> dict:
    options = await read_body(request, "DeleteOptions") if request.can_read_body else {}
    options = options or {}
    if not isinstance(options, dict):
        raise ApiError.bad_request("the body of a delete must be DeleteOptions")
    if "gracePeriodSeconds" in request.query:
        options["gracePeriodSeconds"] = int(request.query["gracePeriodSeconds"])
    if "propagationPolicy" in request.query:
        options["propagationPolicy"] = request.query["propagationPolicy"]
    if "orphanDependents" in request.query:
        options["orphanDependents"] = flag(request.query["orphanDependents"])
    if dry_run(request):
        options["dryRun"] = ["All"]
    return options


def remove(
    cluster: KubeStandIn,
    resource: Resource,
    namespace: str | None,
    name: str,
    options: dict,
    admit: Gate | None = None,
) -> dict:
    """Delete as the API server does (`simcluster.deletion`)."""
    return deletion.delete(
        cluster.store, cluster.controllers, resource, namespace, name, options, admit
    )


def _success(resource: Resource, obj: dict) -> dict:
    details = {
        "name": obj["metadata"]["name"],
        "group": resource.group,
        "kind": resource.plural,
        "uid": obj["metadata"].get("uid"),
    }
    if not resource.group:
        del details["group"]
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


async def _delete(cluster: KubeStandIn, request: web.Request, target: Target) -> web.Response:
    assert target.name is not None
    options = await _delete_options(request)
    admit = Gate(cluster, request, None)
    deleted = remove(cluster, target.resource, target.namespace, target.name, options, admit)
    still = cluster.store.get(target.resource, target.namespace, target.name)
    if still is not None and still["metadata"].get("uid") == deleted["metadata"].get("uid"):
        return respond(still)  # held by finalizers or a grace period: the object, as it is
    return respond(
        deleted if target.resource.returns_deleted else _success(target.resource, deleted)
    )


async def _delete_collection(
    cluster: KubeStandIn, request: web.Request, target: Target
) -> web.Response:
    resource = target.resource
    options = await _delete_options(request)
    chosen = _filter(request, resource)
    admit = Gate(cluster, request, None)
    with cluster.store.lock:
        items, _ = cluster.store.list(resource, target.namespace)
        deleted = [
            remove(cluster, resource, target.namespace, obj["metadata"]["name"], options, admit)
            for obj in items
            if chosen.matches(obj)
        ]
        revision = cluster.store.revision
    metadata = {"resourceVersion": str(revision)}
    body = {
        "kind": resource.list_kind,
        "apiVersion": resource.api_version,
        "metadata": metadata,
        "items": deleted,
    }
    return respond(body)
