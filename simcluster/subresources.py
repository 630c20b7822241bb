"""Subresources: ``status``, ``scale``, ``pods/log``, ``pods/exec``, ``pods/eviction``,
``serviceaccounts/token``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp import web

from simcluster.admission import Gate
from simcluster.auth import AUDIENCE
from simcluster.errors import ApiError
from simcluster.exec import container_of, serve_exec
from simcluster.handlers import apply_patch, patch, read_object, remove
from simcluster.messages import dry_run, get_or_404, read_body, respond
from simcluster.resources import known
from simcluster.store import timestamp

if TYPE_CHECKING:
    from simcluster.cluster import KubeStandIn
    from simcluster.server import Target

__all__ = ["serve"]

_BINDABLE = {
    "Pod": known("", "v1", "pods"),
    "Secret": known("", "v1", "secrets"),
    "Node": known("", "v1", "nodes"),
}


async def serve(cluster: KubeStandIn, request: web.Request, target: Target) -> web.StreamResponse:
    resource, sub, method = target.resource, target.subresource, request.method
    if target.watch:
        raise ApiError.no_route()
    if sub == "status" and resource.status:
        if method == "GET":
            return respond(get_or_404(cluster, target))
        if method == "PATCH":
            return await patch(cluster, request, target, subresource="status")
        if method == "PUT":
            return await _replace_status(cluster, request, target)
    elif sub == "scale" and resource.scale:
        if method in ("GET", "PUT", "PATCH"):
            return await _scale(cluster, request, target)
    elif resource.key == ("", "pods") and sub == "log":
        if method == "GET":
            return _log(cluster, request, target)
    elif resource.key == ("", "pods") and sub == "eviction":
        if method == "POST":
            return await _evict(cluster, request, target)
    elif resource.key == ("", "pods") and sub == "exec":
        if method in ("GET", "POST"):
            return await serve_exec(cluster, request, target)
    elif resource.key == ("", "serviceaccounts") and sub == "token":
        if method == "POST":
            return await _token(cluster, request, target)
    else:
        raise ApiError.no_route()
    raise ApiError.method_not_allowed()


async def _replace_status(
    cluster: KubeStandIn, request: web.Request, target: Target
) -> web.Response:
    assert target.name is not None
    body = await read_object(request, target.resource)
    replaced = cluster.store.replace(
        target.resource,
        target.namespace,
        target.name,
        body,
        subresource="status",
        dry_run=dry_run(request),
        admit=Gate(cluster, request, "status"),
    )
    return respond(replaced)


def _scale_of(obj: dict) -> dict:
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    labels = (spec.get("selector") or {}).get("matchLabels") or {}
    kept = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {key: meta[key] for key in kept if key in meta},
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {
            "replicas": status.get("replicas", 0),
            "selector": ",".join(f"{key}={value}" for key, value in sorted(labels.items())),
        },
    }


async def _scale(cluster: KubeStandIn, request: web.Request, target: Target) -> web.Response:
    assert target.name is not None
    if request.method == "GET":
        return respond(_scale_of(get_or_404(cluster, target)))
    body = await read_body(request)
    store = cluster.store
    with store.lock:
        current = get_or_404(cluster, target)
        scale = _scale_of(current)
        if request.method == "PATCH":
            scale = apply_patch(request.content_type, scale, body)
        elif isinstance(body, dict):
            scale = body
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            cause = ("spec.replicas", "FieldValueInvalid", f"Invalid value: {replicas!r}")
            raise ApiError.invalid(target.resource, target.name, [cause])
        version = (scale.get("metadata") or {}).get("resourceVersion")
        if version and version != current["metadata"]["resourceVersion"]:
            raise ApiError.conflict(target.resource, target.name)
        scaled = {**current, "spec": {**(current.get("spec") or {}), "replicas": replicas}}
        result = store.replace(
            target.resource, target.namespace, target.name, scaled, dry_run=dry_run(request)
        )
    return respond(_scale_of(result))


def _log(cluster: KubeStandIn, request: web.Request, target: Target) -> web.Response:
    pod = get_or_404(cluster, target)
    container = container_of(pod, request.query.get("container"))
    text = cluster.log_handler(pod, container)
    tail = request.query.get("tailLines")
    if tail and tail.isdigit():
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-int(tail) :]) if int(tail) else ""
    return web.Response(text=text, content_type="text/plain")


async def _evict(cluster: KubeStandIn, request: web.Request, target: Target) -> web.Response:
    """A policy/v1 Eviction: the pod is deleted with the eviction's DeleteOptions.

    PodDisruptionBudgets are not consulted: every eviction is allowed."""
    assert target.name is not None
    get_or_404(cluster, target)
    eviction = await read_body(request, "Eviction") or {}
    if not isinstance(eviction, dict) or eviction.get("kind", "Eviction") != "Eviction":
        raise ApiError.bad_request("the body of an eviction must be a policy/v1 Eviction")
    named = (eviction.get("metadata") or {}).get("name")
    if named and named != target.name:
        raise ApiError.bad_request(
            f"name in URL does not match name in Eviction object: {target.name} != {named}"
        )
    options = dict(eviction.get("deleteOptions") or {})
    if dry_run(request):
        options["dryRun"] = ["All"]
    admit = Gate(cluster, request, None)
    remove(cluster, target.resource, target.namespace, target.name, options, admit)
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    return respond({**status, "code": 201}, 201)


async def _token(cluster: KubeStandIn, request: web.Request, target: Target) -> web.Response:
    assert target.name is not None
    assert target.namespace is not None
    account = get_or_404(cluster, target)
    body = await read_body(request)
    spec = (body or {}).get("spec") or {}
    seconds = spec.get("expirationSeconds") or 3600
    if not isinstance(seconds, int) or seconds < 600:
        message = f"Invalid value: {seconds!r}: may not specify a duration less than 10 minutes"
        raise ApiError(422, f"spec.expirationSeconds: {message}")
    audiences = spec.get("audiences") or [AUDIENCE]
    ref = spec.get("boundObjectRef")
    bound = _bind(cluster, target, ref) if ref else None
    token, expiry = cluster.authenticator.issue(account, audiences, seconds, bound)
    cluster.tokens[token] = (target.namespace, target.name)
    response_spec = {"audiences": audiences, "expirationSeconds": seconds}
    if bound is not None:
        response_spec["boundObjectRef"] = {**ref, "uid": bound[1]["metadata"]["uid"]}
    meta = account["metadata"]
    expires = datetime.fromtimestamp(expiry, UTC)
    return respond(
        {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {
                "name": meta["name"],
                "namespace": meta["namespace"],
                "creationTimestamp": timestamp(datetime.fromtimestamp(expiry - seconds, UTC)),
            },
            "spec": response_spec,
            "status": {"token": token, "expirationTimestamp": timestamp(expires)},
        },
        201,
    )


def _bind(cluster: KubeStandIn, target: Target, ref: dict) -> tuple[str, dict]:
    """The Pod, Secret or Node a TokenRequest's boundObjectRef names, checked as the API
    server checks it: it exists, a Pod runs as this service account, and it has the uid
    given (when one is)."""
    kind, name = ref.get("kind", ""), ref.get("name", "")
    api_version = ref.get("apiVersion", "")
    group, _, version = api_version.rpartition("/")
    resource = _BINDABLE.get(kind) if not group else None
    if resource is None:
        raise ApiError.bad_request(
            f"cannot bind token to object of type {group}/{version}, Kind={kind}"
        )
    found = cluster.store.get(resource, target.namespace if resource.namespaced else None, name)
    if found is None:
        raise ApiError.not_found(resource, name)
    if kind == "Pod" and (found.get("spec") or {}).get("serviceAccountName") != target.name:
        raise ApiError.bad_request(
            f'cannot bind token for serviceaccount "{target.name}" to pod running with '
            "different serviceaccount name."
        )
    uid = found["metadata"]["uid"]
    if ref.get("uid") and ref["uid"] != uid:
        why = (
            f"the UID in the bound object reference ({ref['uid']}) does not match the UID in "
            "record. The object might have been deleted and then recreated"
        )
        raise ApiError(
            409,
            f'Operation cannot be fulfilled on {kind} "{name}": {why}',
            details={"name": name, "kind": kind},
        )
    return kind, found
