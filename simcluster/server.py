"""The HTTP face of the stand-in: an aiohttp application that answers as kube-apiserver does.

This module routes: discovery documents, health endpoints, and resource paths (namespaced,
cluster-scoped, all-namespaces, the legacy ``/watch/`` prefix, subresources). The middleware
applies injected faults, turns `ApiError` into a Status response and logs every request.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from simcluster import handlers, openapi, subresources, wire
from simcluster.auth import USER
from simcluster.errors import ApiError
from simcluster.impersonation import impersonate
from simcluster.messages import LOGGED, error_response, respond
from simcluster.rbac import request_attributes
from simcluster.resources import (
    SERVER_VERSION,
    Resource,
    api_group,
    api_group_list,
    api_resource_list,
    api_versions,
    by_path,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from simcluster.cluster import KubeStandIn

__all__ = ["Target", "build_app"]

log = logging.getLogger(__name__)

_ROOT_PATHS = [
    "/api",
    "/api/v1",
    "/apis",
    "/healthz",
    "/livez",
    "/openapi/v2",
    "/openapi/v3",
    "/readyz",
    "/version",
]


@dataclass(frozen=True)
class Target:
    """What a resource path names."""

    resource: Resource
    namespace: str | None
    name: str | None
    subresource: str | None
    watch: bool


def _parse_target(group: str, version: str, rest: list[str]) -> Target:
    watch = rest[0] == "watch"
    if watch:
        rest = rest[1:]
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        inner = by_path(group, version, rest[2])
        if inner is not None and inner.namespaced:
            namespace, rest = rest[1], rest[2:]
    resource = by_path(group, version, rest[0]) if rest else None
    if resource is None or len(rest) > 3:
        raise ApiError.no_route()
    name = rest[1] if len(rest) > 1 else None
    if resource.namespaced and namespace is None and name is not None:
        raise ApiError.no_route()
    return Target(resource, namespace, name, rest[2] if len(rest) > 2 else None, watch)


def _discovery(cluster: KubeStandIn, parts: list[str]) -> dict | str | None:
    """The document at a discovery path, "ok" for a health path, or None for no such path."""
    if not parts:
        return {"paths": _ROOT_PATHS}
    if parts == ["version"]:
        return SERVER_VERSION
    if parts[0] in ("healthz", "livez", "readyz"):
        return "ok"
    if parts == ["api"]:
        return api_versions(cluster.url.partition("://")[2])
    if parts == ["api", "v1"]:
        return api_resource_list("", "v1")
    if parts == ["apis"]:
        return api_group_list()
    if parts[0] == "apis" and len(parts) == 2:
        return api_group(parts[1])
    if parts[0] == "apis" and len(parts) == 3:
        return api_resource_list(parts[1], parts[2])
    return None


def _openapi(request: web.Request, parts: list[str]) -> web.Response:
    if request.method != "GET":
        raise ApiError.method_not_allowed()
    if parts == ["openapi", "v2"]:
        accept = request.headers.get("Accept", "")
        if accept and not any(media in accept for media in ("json", "*/*")):
            # Only JSON is served; kubectl asks for protobuf here only when v3 is missing.
            raise ApiError(406, f"only application/json is served at /openapi/v2, not {accept}")
        return web.Response(body=openapi.v2_document(), content_type="application/json")
    if parts == ["openapi", "v3"]:
        return respond(openapi.v3_index())
    found = openapi.v3_document("/".join(parts[2:]))
    if found is None:
        raise ApiError.no_route()
    body, digest = found
    headers = {"Etag": f'"{digest}"'}
    if request.query.get("hash") == digest:
        headers["Cache-Control"] = "public, immutable"
    return web.Response(body=body, content_type="application/json", headers=headers)


async def dispatch(cluster: KubeStandIn, request: web.Request) -> web.StreamResponse:
    # Who asks, and whether they may: before anything else, as a real server's filters do.
    request[USER] = impersonate(
        cluster.authorizer, request, cluster.authenticator.authenticate(request)
    )
    cluster.authorizer.check(request_attributes(request, request[USER]))
    parts = [part for part in request.path.split("/") if part]
    if parts[:1] == ["openapi"] and len(parts) >= 2:
        return _openapi(request, parts)
    is_resource = (parts[:1] == ["api"] and len(parts) > 2) or (
        parts[:1] == ["apis"] and len(parts) > 3
    )
    if not is_resource:
        document = _discovery(cluster, parts)
        if document is None:
            raise ApiError.no_route()
        if request.method != "GET":
            raise ApiError.method_not_allowed()
        if isinstance(document, str):
            return web.Response(text=document)
        return respond(document)
    if parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    else:
        group, version, rest = parts[1], parts[2], parts[3:]
    target = _parse_target(group, version, rest)
    request[wire.RESOURCE] = target.resource
    if target.resource.key == ("", "endpoints"):
        # kube-apiserver 1.33 and later say so on every request for Endpoints.
        wire.warn(
            request, "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"
        )
    if target.subresource is not None:
        return await subresources.serve(cluster, request, target)
    return await handlers.serve(cluster, request, target)


def _drop(request: web.Request) -> web.Response:
    # Closing the transport first means the response below is never written: the client
    # sees the connection end without an answer, as when a load balancer drops it.
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=503)


def _middleware(cluster: KubeStandIn) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        delay, fault = cluster.faults.take(request.method, request.path)
        if delay:
            await asyncio.sleep(delay)
        if fault is not None and fault.action == "drop":
            cluster.record(request.method, request.path, 0)
            return _drop(request)
        try:
            if fault is not None:
                raise fault.error()
            response = await handler(request)
        except ApiError as error:
            response = error_response(error)
        except web.HTTPException:
            raise
        except ConnectionResetError:
            # The client went away mid-request (a killed worker, say): nothing to answer.
            log.info("client left during %s %s", request.method, request.path)
            raise
        except Exception as error:
            log.exception("Kubernetes API stand-in failed on %s %s", request.method, request.path)
            response = error_response(ApiError(500, f"Internal error occurred: {error}"))
        response = wire.finish(request, response)
        if not request.get(LOGGED):
            cluster.record(request.method, request.path, response.status)
        return response

    return middleware


def build_app(cluster: KubeStandIn) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await dispatch(cluster, request)

    app = web.Application(middlewares=[_middleware(cluster)], client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{path:.*}", handle)
    return app
