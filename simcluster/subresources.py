"""Subresources: ``status``, ``scale``, ``pods/log`` (also followed), ``pods/exec``,
``pods/attach``, ``pods/portforward`` (refused: nothing listens in a simulated container),
``pods/eviction``, ``serviceaccounts/token``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from aiohttp import web

from simcluster.admission import Gate
from simcluster.auth import AUDIENCE
from simcluster.containers import logs
from simcluster.errors import ApiError
from simcluster.exec import container_of, serve_attach, serve_exec
from simcluster.handlers import apply_patch, patch, read_object, remove
from simcluster.messages import LOGGED, dry_run, flag, get_or_404, read_body, respond
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
            return await _log(cluster, request, target)
    elif resource.key == ("", "pods") and sub == "eviction":
        if method == "POST":
            return await _evict(cluster, request, target)
    elif resource.key == ("", "pods") and sub == "exec":
        if method in ("GET", "POST"):
            return await serve_exec(cluster, request, target)
    elif resource.key == ("", "pods") and sub == "attach":
        if method in ("GET", "POST"):
            return await serve_attach(cluster, request, target)
    elif resource.key == ("", "pods") and sub == "portforward":
        if method in ("GET", "POST"):
            return _port_forward(cluster, target)
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


def _port_forward(cluster: KubeStandIn, target: Target) -> web.Response:
    pod = get_or_404(cluster, target)
    name = pod["metadata"]["name"]
    ip = (pod.get("status") or {}).get("podIP") or "<pod IP>"
    raise ApiError.bad_request(
        f"the simulated cluster cannot forward ports: no container runs in it, so nothing "
        f"listens on a port of pod {name}. Reach the pod from another pod instead, e.g. "
        f"kubectl run client --rm -it --restart=Never --image=busybox:1.37 -- wget -qO- "
        f"http://{ip}:80"
    )


def _log_options(request: web.Request) -> dict:
    query = request.query
    options: dict = {"timestamps": flag(query.get("timestamps"))}
    tail = query.get("tailLines")
    if tail is not None and tail.lstrip("-").isdigit() and int(tail) >= 0:
        options["tail"] = int(tail)
    if query.get("limitBytes", "").isdigit():
        options["limit_bytes"] = int(query["limitBytes"])
    if query.get("sinceSeconds", "").isdigit():
        options["since"] = datetime.now(UTC) - timedelta(seconds=int(query["sinceSeconds"]))
    elif query.get("sinceTime"):
        try:
            options["since"] = datetime.fromisoformat(query["sinceTime"].replace("Z", "+00:00"))
        except ValueError:
            raise ApiError.bad_request(f'invalid sinceTime: "{query["sinceTime"]}"') from None
    return options


async def _log(cluster: KubeStandIn, request: web.Request, target: Target) -> web.StreamResponse:
    pod = get_or_404(cluster, target)
    container = container_of(pod, request.query.get("container"))
    options = _log_options(request)
    if cluster.log_handler is not None:
        text = cluster.log_handler(pod, container)
        lines = text.splitlines(keepends=True)
        if "tail" in options:
            text = "".join(lines[-options["tail"] :]) if options["tail"] else ""
        return web.Response(text=text, content_type="text/plain")
    kubelet = cluster.controllers.kubelet
    previous = flag(request.query.get("previous"))
    lines = kubelet.log_lines(pod, container, previous)
    text = logs.render(lines, **options)
    if not flag(request.query.get("follow")) or previous:
        return web.Response(text=text, content_type="text/plain")
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    cluster.record(request.method, request.path, 200)
    request[LOGGED] = True
    uid = pod["metadata"]["uid"]
    seen = len(lines)
    try:
        await response.write(text.encode())
        while True:
            await asyncio.sleep(0.2)
            current = cluster.store.get(target.resource, target.namespace, target.name)
            if current is None or current["metadata"]["uid"] != uid:
                break
            try:
                lines = kubelet.log_lines(current, container, False)
            except ApiError:
                break
            fresh = lines[seen:]
            seen = len(lines)
            if fresh:
                await response.write(logs.render(fresh, timestamps=options["timestamps"]).encode())
            running = kubelet.running(current, container)
            if running is None or running[1]:
                break
            if request.transport is None or request.transport.is_closing():
                break
        await response.write_eof()
    except ConnectionError:
        pass
    return response


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
