"""Reading request bodies and writing JSON answers, shared by every handler."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import yaml
from aiohttp import web

from simcluster.errors import ApiError

if TYPE_CHECKING:
    from simcluster.cluster import KubeStandIn
    from simcluster.server import Target

__all__ = [
    "LOGGED",
    "WARNINGS",
    "add_warnings",
    "dry_run",
    "error_response",
    "flag",
    "get_or_404",
    "read_body",
    "respond",
    "warn",
]


# Set on a request whose handler logged it itself (streams log when they start, not end).
LOGGED = web.RequestKey("standin.logged", bool)
# What the answer to a request warns about, sent as Warning headers (kubectl prints them).
WARNINGS = web.RequestKey("standin.warnings", list)


def warn(request: web.Request, text: str) -> None:
    request.setdefault(WARNINGS, []).append(text)


def add_warnings(request: web.Request, response: web.StreamResponse) -> None:
    """Put the request's warnings on its answer, as ``299 - "text"`` (RFC 7234)."""
    if response.prepared:
        return
    for text in request.get(WARNINGS, []):
        quoted = text.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.add("Warning", f'299 - "{quoted}"')


def respond(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body).encode(), status=status, content_type="application/json"
    )


def error_response(error: ApiError) -> web.Response:
    response = respond(error.body, error.code)
    response.headers.update(error.headers)
    return response


def flag(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


def dry_run(request: web.Request) -> bool:
    return "All" in request.query.getall("dryRun", [])


async def read_body(request: web.Request) -> Any:
    raw = await request.read()
    content_type = request.content_type
    if "protobuf" in content_type or "cbor" in content_type:
        raise ApiError(415, f"the stand-in speaks JSON and YAML only, not {content_type}")
    try:
        return yaml.safe_load(raw) if "yaml" in content_type else json.loads(raw or b"null")
    except (ValueError, yaml.YAMLError) as error:
        message = f"the body of the request could not be decoded: {error}"
        raise ApiError.bad_request(message) from None


def get_or_404(cluster: KubeStandIn, target: Target) -> dict:
    assert target.name is not None
    found = cluster.store.get(target.resource, target.namespace, target.name)
    if found is None:
        raise ApiError.not_found(target.resource, target.name)
    return found
