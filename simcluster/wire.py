"""Content negotiation: the media type a request body comes in and the one an answer goes out in.

Bodies arrive as JSON, YAML or Kubernetes protobuf (`simcluster.protobuf`). Answers are built
as JSON documents by the handlers; `finish` then turns one into what the client's ``Accept``
asks for first among what is possible: a meta.k8s.io Table (``as=Table``, `simcluster.tables`),
protobuf (when the kind has a message in kubectl's descriptors), or JSON. It also converts an
answer to the version the request named (autoscaling/v1 beside the stored v2) and adds the
``Warning`` headers collected while serving.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml
from aiohttp import web

from simcluster import tables, versions
from simcluster.errors import ApiError
from simcluster.protobuf import PROTOBUF, DecodeFailure, load_messages
from simcluster.resources import by_kind
from simcluster.schema import prune_unknown

if TYPE_CHECKING:
    from simcluster.resources import Resource

__all__ = [
    "DOCUMENT",
    "RESOURCE",
    "WARNINGS",
    "check_fields",
    "decode",
    "finish",
    "warn",
    "watch_format",
]

# The JSON document an answer was built from, so that `finish` need not parse it again.
DOCUMENT = web.ResponseKey("simcluster.document", object)
# The resource a request addressed (for the version its answers are converted to).
RESOURCE = web.RequestKey("simcluster.resource", object)
WARNINGS = web.RequestKey("simcluster.warnings", list)
_TABLE_GROUP = "meta.k8s.io"


@dataclass(frozen=True)
class Choice:
    """How to answer: ``table`` is the Table's version ("v1", "v1beta1") or ""."""

    protobuf: bool = False
    table: str = ""


def _media_ranges(accept: str) -> list[tuple[str, dict[str, str]]]:
    ranges = []
    for part in accept.split(","):
        pieces = [piece.strip() for piece in part.split(";")]
        params = {}
        for piece in pieces[1:]:
            key, _, value = piece.partition("=")
            params[key.strip()] = value.strip()
        if pieces[0]:
            ranges.append((pieces[0].lower(), params))
    return ranges


def choose(request: web.Request, *, listable: bool, has_message: bool) -> Choice:
    """The first of the client's media ranges the stand-in can answer with."""
    for media, params in _media_ranges(request.headers.get("Accept", "")):
        shape = params.get("as", "")
        if shape == "Table":
            if media == "application/json" and params.get("g") == _TABLE_GROUP and listable:
                return Choice(table=params.get("v", "v1"))
            continue
        if shape:
            continue  # PartialObjectMetadata and friends are not served: try the next range
        if media == PROTOBUF:
            if has_message:
                return Choice(protobuf=True)
            continue
        return Choice()
    return Choice()


def decode(raw: bytes, content_type: str, expected: str = "") -> Any:
    """A request body as JSON data; ``expected`` names the kind for error messages."""
    if content_type == PROTOBUF:
        messages = load_messages()
        what = f" {expected}" if expected else ""
        if messages is None:
            raise ApiError(
                415,
                f"the body of the request is {PROTOBUF}, which this simulated cluster reads with "
                "the message definitions of an installed kubectl, and none was found (set "
                f"KUBECTL or PATH); send{what} as application/json instead",
            )
        try:
            return messages.decode(raw, expected)
        except DecodeFailure as error:
            raise ApiError(
                415, f"the body of the request could not be decoded as {PROTOBUF}{what}: {error}"
            ) from None
    if "protobuf" in content_type or "cbor" in content_type:
        raise ApiError(
            415,
            f"the body of the request was in an unknown format - accepted media types include: "
            f"application/json, application/yaml, {PROTOBUF}",
        )
    try:
        if "yaml" in content_type:
            return yaml.safe_load(raw)
        return json.loads(raw.strip() or b"null")
    except (ValueError, yaml.YAMLError) as error:
        message = f"the body of the request could not be decoded: {error}"
        raise ApiError.bad_request(message) from None


_FIELD_VALIDATION = ("Ignore", "Warn", "Strict")


def check_fields(
    request: web.Request, resource: Resource, obj: dict, *, creating: bool = False
) -> dict:
    """``obj`` without the fields its kind does not have, as the server's decoder drops them;
    with ``fieldValidation=Strict`` they are a 400, with Warn (the default) a warning each."""
    mode = request.query.get("fieldValidation") or "Warn"
    if mode not in _FIELD_VALIDATION:
        raise ApiError.bad_request(
            f'fieldValidation must be one of "Ignore", "Warn", or "Strict", not "{mode}"'
        )
    api_version = obj.get("apiVersion") or resource.api_version
    pruned, unknown = prune_unknown(obj, api_version, resource.kind)
    if not unknown or mode == "Ignore":
        return pruned
    found = [f'unknown field "{path}"' for path in unknown]
    if mode == "Strict":
        reason = "strict decoding error: " + ", ".join(found)
        if creating:
            version = api_version.rpartition("/")[2]
            reason = (
                f'{resource.kind} in version "{version}" cannot be handled as a '
                f"{resource.kind}: {reason}"
            )
        raise ApiError.bad_request(reason)
    for text in found:
        warn(request, text)
    return pruned


def warn(request: web.Request, text: str) -> None:
    """Add a ``Warning: 299`` header to the answer, as admission and validation do."""
    request.setdefault(WARNINGS, []).append(text)


def _warning_header(text: str) -> str:
    return '299 - "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _resource_of(document: dict) -> Resource | None:
    kind = document.get("kind", "")
    return by_kind(document.get("apiVersion", ""), kind.removesuffix("List"))


def finish(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """The answer in the version, media type and shape the request asked for."""
    for text in request.get(WARNINGS, []):
        response.headers.add("Warning", _warning_header(text))
    document = response.get(DOCUMENT) if isinstance(response, web.Response) else None
    if not isinstance(document, dict):
        return response
    addressed = request.get(RESOURCE)
    if addressed is not None:
        document = versions.present(addressed, document)
    resource = _resource_of(document)
    listable = resource is not None and resource.stored and "metadata" in document
    messages = load_messages() if PROTOBUF in request.headers.get("Accept", "") else None
    has_message = (
        messages is not None
        and messages.descriptor(document.get("apiVersion", ""), document.get("kind", ""))
        is not None
    )
    choice = choose(request, listable=listable, has_message=has_message)
    body: bytes | None = None
    content_type = "application/json"
    if choice.table and resource is not None:
        options = request.query.get("includeObject", "")
        document = tables.table(resource, document, choice.table, options)
    elif choice.protobuf and messages is not None:
        body, content_type = messages.encode(document), PROTOBUF
    if body is None and document is response.get(DOCUMENT):
        return response
    if body is None:
        body = json.dumps(document).encode()
    answer = web.Response(body=body, status=response.status, content_type=content_type)
    for name, value in response.headers.items():
        if name not in ("Content-Type", "Content-Length"):
            answer.headers.add(name, value)
    return answer


def watch_format(
    request: web.Request, resource: Resource
) -> tuple[str, Callable[[str, dict], bytes]]:
    """The content type of a watch stream and how one event is written in it."""
    messages = load_messages() if PROTOBUF in request.headers.get("Accept", "") else None
    has_message = messages is not None and (
        messages.descriptor(resource.api_version, resource.kind) is not None
    )
    choice = choose(request, listable=resource.stored, has_message=has_message)
    addressed = request.get(RESOURCE) or resource

    def shown(obj: dict) -> dict:
        return versions.present(addressed, obj) if obj.get("kind") != "Status" else obj

    if choice.table:
        options = request.query.get("includeObject", "")

        def table_line(event: str, obj: dict) -> bytes:
            if obj.get("kind") != "Status":
                obj = tables.table(resource, shown(obj), choice.table, options)
            return json.dumps({"type": event, "object": obj}).encode() + b"\n"

        return "application/json", table_line
    if choice.protobuf and messages is not None:

        def frame(event: str, obj: dict) -> bytes:
            encoded = messages.encode_watch_event(event, shown(obj))
            if encoded is None:
                raise ApiError(406, f"{obj.get('kind')} has no protobuf message")
            return encoded

        return f"{PROTOBUF};stream=watch", frame

    def line(event: str, obj: dict) -> bytes:
        return json.dumps({"type": event, "object": shown(obj)}).encode() + b"\n"

    return "application/json", line
