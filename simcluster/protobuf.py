"""Kubernetes' protobuf wire format, with the message definitions of the installed kubectl.

kubectl is a Go program built with Kubernetes' generated protobuf code, which registers every
``generated.proto`` it was compiled with as a gzip-compressed ``FileDescriptorProto`` in the
binary's data. `load_messages` reads those descriptors out of the kubectl found on ``KUBECTL``
or ``PATH`` into a `google.protobuf` descriptor pool, so the messages understood here are exactly
the ones that binary sends; nothing of Kubernetes' sources is copied. Without a kubectl there is
no pool, and protobuf requests get a 415 that says so.

A body is ``k8s\\0`` followed by a ``runtime.Unknown`` whose ``typeMeta`` names the kind and
whose ``raw`` is the typed message. Converting between a message and the JSON form Kubernetes
uses differs from protobuf's canonical JSON in a few types: resource.Quantity and IntOrString,
Time and MicroTime (RFC 3339 strings), Duration, RawExtension and FieldsV1 (embedded JSON),
one-field wrappers of string lists (``Verbs``, ``ExtraValue``); fields a Go struct holds by
value (gogoproto ``nullable=false``) are written by Go even when zero, so a zero there means
"not set", while a pointer field that is present is kept even when zero (``replicas: 0``).
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import re
import shutil
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, unknown_fields
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from simcluster.schema import definitions

__all__ = [
    "ENVELOPE",
    "PROTOBUF",
    "DecodeFailure",
    "Messages",
    "find_kubectl",
    "load_messages",
    "read_descriptors",
]

log = logging.getLogger(__name__)

PROTOBUF = "application/vnd.kubernetes.protobuf"
ENVELOPE = b"k8s\x00"
_GZIP_MAGIC = b"\x1f\x8b\x08\x00\x00\x00\x00\x00"
# gogoproto's extension number for ``nullable`` on FieldOptions; its file is only a dependency
# of the descriptors, its definitions are not needed to read the option's value.
_GOGO_FILE = "github.com/gogo/protobuf/gogoproto/gogo.proto"
_NULLABLE = 65001
_META = "k8s.io.apimachinery.pkg.apis.meta.v1"
_QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
_RAW_EXTENSION = "k8s.io.apimachinery.pkg.runtime.RawExtension"
_UNKNOWN = "k8s.io.apimachinery.pkg.runtime.Unknown"
_TIME, _MICRO_TIME = f"{_META}.Time", f"{_META}.MicroTime"
_DURATION, _FIELDS = f"{_META}.Duration", f"{_META}.FieldsV1"
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?)(h|ms|us|µs|ns|m|s)")
_NANOS = {"h": 3600 * 10**9, "m": 60 * 10**9, "s": 10**9, "ms": 10**6, "us": 10**3, "µs": 10**3}
_ZEROS = (0, 0.0, False, "", b"")


class DecodeFailure(ValueError):
    """A protobuf body that cannot be read; the message says why."""


def find_kubectl() -> Path | None:
    """The kubectl binary named by ``KUBECTL``, else the first on ``PATH`` (symlinks resolved)."""
    named = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if not named:
        return None
    path = Path(named).resolve()
    return path if path.is_file() else None


def read_descriptors(binary: Path) -> list[descriptor_pb2.FileDescriptorProto]:
    """Every Kubernetes ``generated.proto`` descriptor embedded in a Go binary."""
    data = binary.read_bytes()
    found: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    position = data.find(_GZIP_MAGIC)
    while position != -1:
        stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            # Descriptors are small; a bounded window keeps a false match from inflating much.
            raw = stream.decompress(data[position : position + (1 << 20)], 1 << 22)
            file = descriptor_pb2.FileDescriptorProto.FromString(raw)
        except (zlib.error, DecodeError):
            file = None
        if file is not None and file.name.startswith("k8s.io/") and file.name.endswith(".proto"):
            found.setdefault(file.name, file)
        position = data.find(_GZIP_MAGIC, position + 1)
    return list(found.values())


def _non_nullable(files: list[descriptor_pb2.FileDescriptorProto]) -> frozenset[str]:
    """Full names of the fields marked ``(gogoproto.nullable) = false``: held by value in Go."""
    names = set()

    def visit(prefix: str, message: descriptor_pb2.DescriptorProto) -> None:
        full = f"{prefix}.{message.name}"
        for field in message.field:
            for unknown in unknown_fields.UnknownFieldSet(field.options):
                if unknown.field_number == _NULLABLE and unknown.data == 0:
                    names.add(f"{full}.{field.name}")
        for nested in message.nested_type:
            visit(full, nested)

    for file in files:
        for message in file.message_type:
            visit(file.package, message)
    return frozenset(names)


def _package(api_version: str) -> str:
    group, _, version = api_version.rpartition("/")
    if group == "meta.k8s.io":
        return _META
    return f"k8s.io.api.{group.split('.')[0] if group else 'core'}.{version}"


def _time(text: str, micro: bool) -> tuple[int, int]:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DecodeFailure(f"{text!r} is not an RFC 3339 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = int(when.timestamp())
    return seconds, when.microsecond * 1000 if micro else 0


def _format_time(seconds: int, nanos: int, micro: bool) -> str:
    when = datetime.fromtimestamp(seconds, UTC)
    if micro:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanos // 1000:06d}Z"
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _format_duration(nanos: int) -> str:
    """Go's ``time.Duration.String``: "1h0m0s", "1m30s", "2.5s", "500ms"."""
    sign, nanos = ("-", -nanos) if nanos < 0 else ("", nanos)
    if nanos == 0:
        return "0s"
    if nanos < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if nanos >= size:
                return f"{sign}{nanos / size:.9f}".rstrip("0").rstrip(".") + unit
    hours, rest = divmod(nanos, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = f"{rest / 10**9:.9f}".rstrip("0").rstrip(".")
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def _parse_duration(text: str) -> int:
    body = text.lstrip("+-")
    if not body or not re.fullmatch(f"(?:{_DURATION_PART.pattern})+", body):
        raise DecodeFailure(f"{text!r} is not a duration")
    total = sum(
        int(float(m.group(1)) * _NANOS.get(m.group(2), 1)) for m in _DURATION_PART.finditer(body)
    )
    return -total if text.startswith("-") else total


class Messages:
    """The descriptor pool of one kubectl, and the conversions to and from Kubernetes' JSON."""

    def __init__(self, files: list[descriptor_pb2.FileDescriptorProto], source: str) -> None:
        self.source = source
        self.pool = descriptor_pool.DescriptorPool()
        self.pool.Add(descriptor_pb2.FileDescriptorProto(name=_GOGO_FILE, package="gogoproto"))
        added = {_GOGO_FILE}
        pending = {file.name: file for file in files}
        while pending:
            ready = [f for f in pending.values() if all(d in added for d in f.dependency)]
            if not ready:
                missing = sorted({d for f in pending.values() for d in f.dependency} - added)
                log.warning("kubectl's descriptors lack %s; some kinds stay JSON-only", missing)
                break
            for file in ready:
                self.pool.Add(file)
                added.add(file.name)
                del pending[file.name]
        self.files = sorted(added - {_GOGO_FILE})
        self._by_value = _non_nullable(files)
        self._layouts: dict[str, _Layout] = {}

    def _layout(self, descriptor: Descriptor) -> _Layout:
        """Which JSON key each field is, and which fields Go embeds (``json:",inline"``).

        Proto field names follow Go's field names, which mostly equal the JSON names; the
        definitions of the kind tell the few that differ (``uID`` is ``uid``) and the embedded
        structs (a Volume's ``volumeSource``, a Probe's ``handler``), whose fields JSON shows
        in the parent."""
        layout = self._layouts.get(descriptor.full_name)
        if layout is not None:
            return layout
        name = "io.k8s." + descriptor.full_name.removeprefix("k8s.io.")
        properties = definitions().schemas.get(name, {}).get("properties")
        keys: dict[str, FieldDescriptor] = {}
        inline: list[FieldDescriptor] = []
        for field in descriptor.fields:
            if properties is None or field.name in properties:
                keys[field.name] = field
            elif field.type == FieldDescriptor.TYPE_MESSAGE and not field.is_repeated:
                inline.append(field)
            else:
                same = [key for key in properties if key.lower() == field.name.lower()]
                keys[same[0] if same else field.name] = field
        layout = self._layouts[descriptor.full_name] = _Layout(keys, inline)
        return layout

    # -- finding messages -----------------------------------------------------------------

    def descriptor(self, api_version: str, kind: str) -> Descriptor | None:
        """The message of ``kind`` in ``api_version``; meta.k8s.io kinds (Status, ...) too."""
        for package in (_package(api_version), _META):
            try:
                return self.pool.FindMessageTypeByName(f"{package}.{kind}")
            except KeyError:
                continue
        return None

    def _new(self, descriptor: Descriptor) -> Message:
        return message_factory.GetMessageClass(descriptor)()

    # -- JSON -> message ------------------------------------------------------------------

    def to_message(self, obj: dict, descriptor: Descriptor) -> Message:
        message = self._new(descriptor)
        self._fill(message, obj, "")
        return message

    def _fill(self, message: Message, obj: Any, path: str) -> None:
        descriptor = message.DESCRIPTOR
        if not isinstance(obj, dict):
            raise DecodeFailure(f"{path or descriptor.name}: expected an object")
        layout = self._layout(descriptor)
        rest: dict[str, Any] = {}
        for key, value in obj.items():
            field = layout.keys.get(key)
            if field is None:
                rest[key] = value
                continue
            if value is None:
                continue
            self._set(message, field, value, f"{path}.{key}" if path else key)
        if rest:
            # What the parent does not define may belong to a struct it embeds; anything else
            # (TypeMeta, which lives in the envelope; unknown fields) has no number to go to.
            for field in layout.inline:
                child = getattr(message, field.name)
                child.SetInParent()
                self._fill(child, rest, path)

    def _set(self, message: Message, field: FieldDescriptor, value: Any, where: str) -> None:
        target = getattr(message, field.name)
        if _is_map(field):
            if not isinstance(value, dict):
                raise DecodeFailure(f"{where}: expected an object")
            value_field = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    self._set_special_or_fill(target[key], item, f"{where}[{key}]")
                elif item is not None:
                    target[key] = _scalar(value_field, item, where)
        elif field.is_repeated:
            if not isinstance(value, list):
                raise DecodeFailure(f"{where}: expected a list")
            for index, item in enumerate(value):
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    self._set_special_or_fill(target.add(), item, f"{where}[{index}]")
                else:
                    target.append(_scalar(field, item, where))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            target.SetInParent()
            self._set_special_or_fill(target, value, where)
        else:
            setattr(message, field.name, _scalar(field, value, where))

    def _set_special_or_fill(self, message: Message, value: Any, path: str) -> None:
        name = message.DESCRIPTOR.full_name
        if name == _QUANTITY:
            message.string = str(value)
        elif name == _INT_OR_STRING:
            if isinstance(value, int) and not isinstance(value, bool):
                message.type, message.intVal = 0, value
            else:
                message.type, message.strVal = 1, str(value)
        elif name in (_TIME, _MICRO_TIME):
            message.seconds, message.nanos = _time(str(value), name == _MICRO_TIME)
        elif name == _DURATION:
            message.duration = _parse_duration(str(value))
        elif name in (_RAW_EXTENSION, _FIELDS):
            message.raw = json.dumps(value, separators=(",", ":")).encode()
        elif _is_list_wrapper(message.DESCRIPTOR):
            message.items.extend(str(item) for item in value or [])
        else:
            self._fill(message, value, path)

    # -- message -> JSON ------------------------------------------------------------------

    def to_json(self, message: Message) -> Any:
        name = message.DESCRIPTOR.full_name
        if name == _QUANTITY:
            return message.string
        if name == _INT_OR_STRING:
            return message.strVal if message.type == 1 else message.intVal
        if name in (_TIME, _MICRO_TIME):
            if not message.seconds and not message.nanos:
                return None
            return _format_time(message.seconds, message.nanos, name == _MICRO_TIME)
        if name == _DURATION:
            return _format_duration(message.duration)
        if name in (_RAW_EXTENSION, _FIELDS):
            return self._embedded(message.raw)
        if _is_list_wrapper(message.DESCRIPTOR):
            return list(message.items)
        out: dict[str, Any] = {}
        layout = self._layout(message.DESCRIPTOR)
        for key, field in layout.keys.items():
            if _is_map(field):
                entries = getattr(message, field.name)
                if len(entries):
                    value_field = field.message_type.fields_by_name["value"]
                    out[key] = {k: self._value(value_field, entries[k]) for k in sorted(entries)}
            elif field.is_repeated:
                items = getattr(message, field.name)
                if len(items):
                    out[key] = [self._value(field, item) for item in items]
            elif message.HasField(field.name):
                value = self._value(field, getattr(message, field.name))
                by_value = field.full_name in self._by_value
                if value is None or (
                    by_value and field.type != FieldDescriptor.TYPE_MESSAGE and value in _ZEROS
                ):
                    continue
                out[key] = value
        for field in layout.inline:
            if message.HasField(field.name):
                out.update(self.to_json(getattr(message, field.name)))
        return out

    def _value(self, field: FieldDescriptor, value: Any) -> Any:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            return self.to_json(value)
        if field.type == FieldDescriptor.TYPE_BYTES:
            return base64.b64encode(value).decode()
        return value

    def _embedded(self, raw: bytes) -> Any:
        if not raw:
            return None
        if raw.startswith(ENVELOPE):
            return self.decode(raw)
        try:
            return json.loads(raw)
        except ValueError:
            raise DecodeFailure("an embedded object is neither JSON nor protobuf") from None

    # -- the envelope ---------------------------------------------------------------------

    def decode(self, raw: bytes, expected: str = "") -> dict:
        """An enveloped message as Kubernetes JSON, ``apiVersion`` and ``kind`` first."""
        if not raw.startswith(ENVELOPE):
            raise DecodeFailure("the body does not start with the k8s protobuf envelope")
        unknown = self._new(self.pool.FindMessageTypeByName(_UNKNOWN))
        try:
            unknown.ParseFromString(raw[len(ENVELOPE) :])
        except DecodeError as error:
            raise DecodeFailure(f"the envelope does not parse: {error}") from None
        api_version, kind = unknown.typeMeta.apiVersion, unknown.typeMeta.kind or expected
        descriptor = self.descriptor(api_version, kind)
        if descriptor is None:
            raise DecodeFailure(f"no message for {kind or 'an unnamed kind'} in {api_version}")
        message = self._new(descriptor)
        try:
            message.ParseFromString(unknown.raw)
        except DecodeError as error:
            raise DecodeFailure(f"{kind} does not parse: {error}") from None
        head = {"kind": kind, "apiVersion": api_version} if unknown.typeMeta.kind else {}
        return {**head, **self.to_json(message)}

    def encode(self, obj: dict) -> bytes | None:
        """``obj`` enveloped, or None when its kind has no message here."""
        api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        descriptor = self.descriptor(api_version, kind)
        if descriptor is None:
            return None
        return self._envelope(api_version, kind, self.to_message(obj, descriptor))

    def _envelope(self, api_version: str, kind: str, message: Message) -> bytes:
        unknown = self._new(self.pool.FindMessageTypeByName(_UNKNOWN))
        unknown.typeMeta.apiVersion, unknown.typeMeta.kind = api_version, kind
        unknown.raw = message.SerializeToString()
        unknown.contentEncoding = unknown.contentType = ""
        return ENVELOPE + unknown.SerializeToString()

    def encode_watch_event(self, event_type: str, obj: dict) -> bytes | None:
        """One watch frame: a 4-byte big-endian length, then the WatchEvent itself, bare (the
        stream's serializer is apimachinery's raw one), whose object is enveloped; None when
        the object's kind has no message here."""
        inner = self.encode(obj)
        if inner is None:
            return None
        event = self._new(self.pool.FindMessageTypeByName(f"{_META}.WatchEvent"))
        event.type = event_type
        event.object.raw = inner
        body = event.SerializeToString()
        return struct.pack(">I", len(body)) + body

    def decode_watch_event(self, frame: bytes) -> dict:
        """A watch frame's WatchEvent (without its length prefix) as Kubernetes JSON."""
        event = self._new(self.pool.FindMessageTypeByName(f"{_META}.WatchEvent"))
        try:
            event.ParseFromString(frame)
        except DecodeError as error:
            raise DecodeFailure(f"WatchEvent does not parse: {error}") from None
        return self.to_json(event)


@dataclass(frozen=True)
class _Layout:
    keys: dict[str, FieldDescriptor]
    inline: list[FieldDescriptor]


def _is_map(field: FieldDescriptor) -> bool:
    return (
        field.type == FieldDescriptor.TYPE_MESSAGE
        and field.is_repeated
        and field.message_type.GetOptions().map_entry
    )


def _is_list_wrapper(descriptor: Descriptor) -> bool:
    # Go's ``type ExtraValue []string`` and ``Verbs``: a message of one repeated ``items``.
    fields = descriptor.fields
    return len(fields) == 1 and fields[0].name == "items" and not descriptor.name.endswith("List")


def _scalar(field: FieldDescriptor, value: Any, path: str) -> Any:
    kind = field.type
    try:
        if kind == FieldDescriptor.TYPE_STRING:
            if not isinstance(value, str):
                raise TypeError
            return value
        if kind == FieldDescriptor.TYPE_BOOL:
            if not isinstance(value, bool):
                raise TypeError
            return value
        if kind == FieldDescriptor.TYPE_BYTES:
            return base64.b64decode(value, validate=True)
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError
        return int(value)
    except (TypeError, ValueError):
        raise DecodeFailure(f"{path}: {value!r} is not a valid {field.name}") from None


@functools.cache
def load_messages() -> Messages | None:
    """The messages of the installed kubectl, read once; None when there is none."""
    binary = find_kubectl()
    if binary is None:
        return None
    files = read_descriptors(binary)
    if not files:
        log.warning("no protobuf descriptors found in %s", binary)
        return None
    return Messages(files, str(binary))
