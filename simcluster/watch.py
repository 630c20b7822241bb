"""Watch streams: ``?watch=true`` on a list path, answered as newline-delimited JSON events.

Follows kube-apiserver: without ``resourceVersion`` (or with "0") the stream starts with an
ADDED event for every existing object; with a version it replays the kept events after it, or
sends one ERROR event with a 410 Expired Status when that version is older than the history.
Selectors apply to the object before and after a change, so an object that stops matching is
reported DELETED and one that starts matching ADDED. ``timeoutSeconds`` ends the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from simcluster.errors import ApiError
from simcluster.messages import LOGGED
from simcluster.store import Event
from simcluster.wire import watch_format

if TYPE_CHECKING:
    from simcluster.cluster import KubeStandIn
    from simcluster.selectors import ObjectFilter
    from simcluster.server import Target

__all__ = ["serve_watch"]

# How often an idle stream checks that its client is still connected.
_IDLE_CHECK_SECONDS = 1.0


def _translate(event: Event, chosen: ObjectFilter) -> tuple[str, dict] | None:
    matches_now = chosen.matches(event.object)
    if event.type == "MODIFIED" and event.previous is not None:
        matched_before = chosen.matches(event.previous)
        if matched_before and not matches_now:
            return "DELETED", event.object
        if matches_now and not matched_before:
            return "ADDED", event.object
    return (event.type, event.object) if matches_now else None


def _since(request: web.Request) -> int | None:
    version = request.query.get("resourceVersion", "")
    if version in ("", "0"):
        return None
    if not version.isdigit():
        raise ApiError.bad_request(f'invalid resource version "{version}"')
    return int(version)


Encode = Callable[[str, dict], bytes]


async def serve_watch(
    cluster: KubeStandIn, request: web.Request, target: Target, chosen: ObjectFilter
) -> web.StreamResponse:
    since = _since(request)
    timeout = float(request.query.get("timeoutSeconds") or 0)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Event] = asyncio.Queue()

    def listen(event: Event) -> None:
        if target.namespace in (None, event.namespace):
            # The loop may already be closing when a test writes during shutdown.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(queue.put_nowait, event)

    # JSON lines, Table rows or length-prefixed protobuf frames, as the client's Accept asks.
    content_type, encode = watch_format(request, target.resource)
    response = web.StreamResponse(headers={"Content-Type": content_type})
    response.enable_chunked_encoding()
    try:
        backlog = cluster.store.watch(target.resource, target.namespace, since, listen)
    except ApiError as error:
        # As the real server: 200, then the failure as the stream's only event.
        await response.prepare(request)
        cluster.record(request.method, request.path, 200)
        request[LOGGED] = True
        await response.write(encode("ERROR", error.body))
        await response.write_eof()
        return response
    try:
        await response.prepare(request)
        cluster.record(request.method, request.path, 200)
        request[LOGGED] = True
        deadline = loop.time() + timeout if timeout > 0 else None
        for event in backlog:
            await _send(response, event, chosen, encode)
        while True:
            wait = _IDLE_CHECK_SECONDS
            if deadline is not None:
                wait = min(wait, deadline - loop.time())
                if wait <= 0:
                    break
            try:
                event = await asyncio.wait_for(queue.get(), wait)
            except TimeoutError:
                if request.transport is None or request.transport.is_closing():
                    break
                continue
            await _send(response, event, chosen, encode)
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away; nothing to tell it
    finally:
        cluster.store.unwatch(target.resource, listen)
    return response


async def _send(
    response: web.StreamResponse, event: Event, chosen: ObjectFilter, encode: Encode
) -> None:
    shown = _translate(event, chosen)
    if shown is not None:
        await response.write(encode(*shown))
