"""Reading request bodies and writing JSON answers, shared by every handler."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from simcluster.errors import ApiError
from simcluster.wire import DOCUMENT, WARNINGS, decode, warn

if TYPE_CHECKING:
    from simcluster.cluster import KubeStandIn
    from simcluster.server import Target

__all__ = [
    "LOGGED",
    "WARNINGS",
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


def respond(body: Any, status: int = 200) -> web.Response:
    """A JSON answer; `simcluster.wire.finish` may turn it into a Table or protobuf."""
    response = web.Response(
        body=json.dumps(body).encode(), status=status, content_type="application/json"
    )
    response[DOCUMENT] = body
    return response


def error_response(error: ApiError) -> web.Response:
    response = respond(error.body, error.code)
    response.headers.update(error.headers)
    return response


def flag(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


def dry_run(request: web.Request) -> bool:
    return "All" in request.query.getall("dryRun", [])


async def read_body(request: web.Request, expected: str = "") -> Any:
    """The body as JSON data, from JSON, YAML or protobuf; ``expected`` names the kind."""
    return decode(await request.read(), request.content_type, expected)


def get_or_404(cluster: KubeStandIn, target: Target) -> dict:
    assert target.name is not None
    found = cluster.store.get(target.resource, target.namespace, target.name)
    if found is None:
        raise ApiError.not_found(target.resource, target.name)
    return found
