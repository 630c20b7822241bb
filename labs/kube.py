"""The one module of Lotse that talks to a Kubernetes API, through the official client.

``Kube`` wraps a client for one cluster with what provisioning and checks need: create or
patch an object, read, list, delete, ask for a token, wait for a pod, and watch a kind
(``watch`` opens one stream of change events, a ``WatchStream``). Every call goes through
``_call``, which retries what retrying can fix (429, 5xx, timeouts, dropped connections)
with exponential backoff and full jitter, honours ``Retry-After``, and turns everything
else into a ``ClusterError`` carrying the API server's own message.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client import rest
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError

from labs import kubeconfigs
from labs.models import Cluster
from labs.secrets import SecretUnreadable

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
TIMEOUT = (5, 30)  # seconds to connect, and to wait for an answer
# Object kinds whose spec cannot be changed in place: an existing one is left as it is.
CREATE_ONLY = {"Pod"}
_NO_DISCOVERY_FILE = os.path.join(os.devnull, "discovery.json")


class ClusterError(Exception):
    """A cluster call that failed: ``retryable`` says whether trying later may help."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base: float = 0.2  # seconds before the first retry, doubled each time
    cap: float = 10.0  # longest single wait
    sleep: Callable[[float], None] = time.sleep

    def wait(self, attempt: int, retry_after: float | None) -> None:
        if retry_after is not None:
            delay = min(retry_after, self.cap)
        else:
            # Full jitter: many labs retrying together do not hit the server in step.
            delay = random.uniform(0, min(self.cap, self.base * 2**attempt))
        self.sleep(delay)


def _api_message(exc: ApiException | DynamicApiError) -> str:
    body = getattr(exc, "body", None)
    try:
        status = json.loads(body) if body else {}
    except (TypeError, ValueError):
        status = {}
    return status.get("message") or getattr(exc, "reason", "") or str(exc)


def _retry_after(exc: ApiException | DynamicApiError) -> float | None:
    headers = getattr(exc, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _kubeconfig_of(cluster: Cluster) -> dict[str, Any]:
    """The cluster's stored kubeconfig, decrypted and checked again before any client sees
    it: a row stored before ``labs.kubeconfigs`` existed may carry an ``exec`` plugin."""
    try:
        text = cluster.kubeconfig
    except SecretUnreadable as exc:
        raise ClusterError(f"cluster {cluster.name!r}: {exc}") from None
    if not text.strip():
        raise ClusterError(f"cluster {cluster.name!r} has no kubeconfig")
    try:
        return kubeconfigs.load(text)
    except kubeconfigs.KubeconfigInvalid as exc:
        raise ClusterError(
            f"cluster {cluster.name!r}: the stored kubeconfig is refused: {exc}"
        ) from None


class Kube:
    def __init__(self, api_client: k8s.ApiClient, *, retry: RetryPolicy | None = None):
        self.api_client = api_client
        self.retry = retry or RetryPolicy()
        self._dynamic: DynamicClient | None = None
        self._discovery = threading.Lock()  # one discovery, however many threads ask
        self._resources: dict[tuple[str, str], Any] = {}

    # -- connecting ---------------------------------------------------------------------

    @classmethod
    def for_cluster(cls, cluster: Cluster, **kwargs: Any) -> Kube:
        """A client of ``cluster``; see `from_api_client` for the options."""
        try:
            if cluster.access == Cluster.Access.IN_CLUSTER:
                configuration = k8s.Configuration()
                k8s_config.load_incluster_config(client_configuration=configuration)
                api_client = k8s.ApiClient(configuration)
            else:
                api_client = k8s_config.new_client_from_config_dict(
                    _kubeconfig_of(cluster), context=cluster.context or None
                )
        except ConfigException as exc:
            raise ClusterError(f"cluster {cluster.name!r}: {exc}") from None
        return cls.from_api_client(api_client, **kwargs)

    @classmethod
    def from_api_client(
        cls, api_client: k8s.ApiClient, *, connections: int | None = None, **kwargs: Any
    ) -> Kube:
        """A client over the official one: ``connections`` keeps that many connections open
        at most (a watcher holds one per open watch, besides those of its lists)."""
        # Retries are ours (with backoff and Retry-After); urllib3 must not add its own.
        api_client.configuration.retries = False
        api_client.configuration.client_go_retries = False
        if connections is not None:
            api_client.configuration.connection_pool_maxsize = connections
        api_client.rest_client = rest.RESTClientObject(api_client.configuration)
        return cls(api_client, **kwargs)

    # -- the retry loop -----------------------------------------------------------------

    def _call(self, fn: Callable[[], T], what: str) -> T:
        for attempt in range(self.retry.attempts):
            last = attempt == self.retry.attempts - 1
            try:
                return fn()
            except (ApiException, DynamicApiError) as exc:
                status = getattr(exc, "status", None)
                message = f"{what}: {_api_message(exc)} (HTTP {status})"
                if status not in RETRYABLE_STATUS:
                    raise ClusterError(message, status=status) from None
                if last:
                    raise ClusterError(message, status=status, retryable=True) from None
                log.warning("%s; retrying", message)
                self.retry.wait(attempt, _retry_after(exc))
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                message = f"{what}: cannot reach the API server ({type(exc).__name__}: {exc})"
                if last:
                    raise ClusterError(message, retryable=True) from None
                log.warning("%s; retrying", message)
                self.retry.wait(attempt, None)
        raise AssertionError("unreachable")  # pragma: no cover

    def _resource(self, api_version: str, kind: str) -> Any:
        # Looked up once per kind and client, under the lock: threads provisioning labs at
        # the same time would otherwise each run the discovery of the same API group.
        key = (api_version, kind)
        with self._discovery:
            if key not in self._resources:
                dynamic = self._dynamic or self._call(
                    # The client would keep discovery in a file named after the server's
                    # address and trust it across processes; a cluster upgraded since (or
                    # another server on that address) would be misread. A path that cannot
                    # exist makes it discover afresh (and quietly skip writing the file).
                    lambda: DynamicClient(self.api_client, cache_file=_NO_DISCOVERY_FILE),
                    "API discovery",
                )
                self._dynamic = dynamic
                try:
                    # The discoverer may fetch an API group here: same retries as any call.
                    self._resources[key] = self._call(
                        lambda: dynamic.resources.get(api_version=api_version, kind=kind),
                        f"API discovery of {kind}",
                    )
                except ResourceNotFoundError:
                    raise ClusterError(
                        f"the cluster does not serve {kind} in {api_version}"
                    ) from None
            return self._resources[key]

    # -- operations ---------------------------------------------------------------------

    def server_address(self) -> tuple[str, str | None]:
        """The API server's URL and its CA certificate (base64), as this client knows them."""
        configuration = self.api_client.configuration
        ca_data = None
        if configuration.ssl_ca_cert:
            with open(configuration.ssl_ca_cert, "rb") as handle:
                ca_data = base64.b64encode(handle.read()).decode()
        return configuration.host, ca_data

    def exec_target(
        self, namespace: str, pod: str, container: str, command: list[str]
    ) -> ExecTarget:
        """Where and how to open an interactive exec (stdin, stdout, tty) into a container,
        with this client's credentials; ``open_exec`` opens it on an event loop."""
        configuration = self.api_client.configuration
        if configuration.refresh_api_key_hook is not None:
            configuration.refresh_api_key_hook(configuration)  # exec plugins, expiring tokens
        headers = {}
        for auth in configuration.auth_settings().values():
            if auth.get("in") == "header" and auth.get("value"):
                headers[auth["key"]] = auth["value"]
        flags = [(name, "true") for name in ("stdin", "stdout", "stderr", "tty")]
        query = [("container", container), *flags, *(("command", part) for part in command)]
        url = (
            f"{configuration.host.rstrip('/')}/api/v1/namespaces/{namespace}/pods/{pod}/exec?"
            + urlencode(query)
        )
        tls: ssl.SSLContext | bool = False
        if url.startswith("https:"):
            tls = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
            if not configuration.verify_ssl:
                tls.check_hostname = False
                tls.verify_mode = ssl.CERT_NONE
            if configuration.cert_file:
                tls.load_cert_chain(configuration.cert_file, configuration.key_file)
        return ExecTarget(url=url, headers=headers, tls=tls, what=f"exec into {namespace}/{pod}")

    def server_version(self) -> str:
        info = self._call(lambda: k8s.VersionApi(self.api_client).get_code(), "server version")
        return info.git_version

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        resource = self._resource(api_version, kind)
        try:
            return self._call(
                lambda: resource.get(
                    name=name, namespace=namespace, _request_timeout=TIMEOUT
                ).to_dict(),
                f"read {kind} {name}",
            )
        except ClusterError as exc:
            if exc.status == 404:
                return None
            raise

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        resource = self._resource(api_version, kind)
        result = self._call(
            lambda: resource.get(
                namespace=namespace, label_selector=label_selector, _request_timeout=TIMEOUT
            ),
            f"list {kind}",
        )
        return [item.to_dict() for item in result.items]

    def list_objects(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        """The objects of ``kind`` (in ``namespace``, or in all), as the API's JSON, and the
        list's resourceVersion: the point from which a watch sees every later change."""
        resource = self._resource(api_version, kind)
        response = self._call(
            lambda: resource.get(namespace=namespace, serialize=False, _request_timeout=TIMEOUT),
            f"list {kind}",
        )
        try:
            data = json.loads(response.data)
        except ValueError:
            raise ClusterError(f"list {kind}: the API server's answer is not JSON") from None
        items = data.get("items") or []
        for item in items:
            # A list's items carry no kind of their own; the objects a watch sends do.
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", api_version)
        return items, (data.get("metadata") or {}).get("resourceVersion", "")

    def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        resource_version: str,
        timeout_seconds: int,
    ) -> WatchStream:
        """Open a watch of ``kind`` (in ``namespace``, or in all) from ``resource_version``:
        the server ends it after ``timeout_seconds``. Bookmarks are asked for, so that a
        quiet watch still learns how far the cluster has moved."""
        resource = self._resource(api_version, kind)
        response = self._call(
            lambda: resource.get(
                namespace=namespace,
                watch=True,
                resource_version=resource_version,
                timeout_seconds=timeout_seconds,
                allow_watch_bookmarks=True,
                serialize=False,
                # A silent connection longer than this is a dead one, whatever the server says.
                _request_timeout=(TIMEOUT[0], timeout_seconds + 30),
            ),
            f"watch {kind}",
        )
        return WatchStream(response, f"watch {kind}")

    def apply(
        self, obj: dict[str, Any], *, adopt: Callable[[dict[str, Any]], None] | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Create ``obj``, or bring an existing one to it (merge patch): safe to repeat.
        Returns the object and whether it was created.

        With ``adopt``, an existing object is read and handed to ``adopt`` first, which
        raises ``ClusterError`` to leave it alone; the patch then carries the resourceVersion
        that was judged, so an object replaced in between is not patched either."""
        kind, name = obj["kind"], obj["metadata"]["name"]
        namespace = obj["metadata"].get("namespace")
        resource = self._resource(obj["apiVersion"], kind)
        try:
            created = self._call(
                lambda: resource.create(
                    body=obj, namespace=namespace, _request_timeout=TIMEOUT
                ).to_dict(),
                f"create {kind} {name}",
            )
            return created, True
        except ClusterError as exc:
            if exc.status != 409:
                raise
        body = obj
        if adopt is not None:
            existing = self.get(obj["apiVersion"], kind, name, namespace)
            if existing is None:
                raise ClusterError(
                    f"create {kind} {name}: it existed a moment ago and is gone now; try again",
                    retryable=True,
                )
            adopt(existing)
            version = existing["metadata"]["resourceVersion"]
            body = {**obj, "metadata": {**obj["metadata"], "resourceVersion": version}}
        if kind in CREATE_ONLY:
            existing = self.get(obj["apiVersion"], kind, name, namespace)
            if existing is not None:
                return existing, False
        try:
            patched = self._call(
                lambda: resource.patch(
                    body=body,
                    name=name,
                    namespace=namespace,
                    content_type="application/merge-patch+json",
                    _request_timeout=TIMEOUT,
                ).to_dict(),
                f"update {kind} {name}",
            )
        except ClusterError as exc:
            if adopt is None or exc.status != 409:
                raise
            raise ClusterError(
                f"update {kind} {name}: it changed while being adopted; try again",
                status=409,
                retryable=True,
            ) from None
        return patched, False

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        uid: str | None = None,
    ) -> bool:
        """Delete an object; False when it was already gone. With ``uid`` the API server
        deletes only that very object (DeleteOptions preconditions): another object of the
        same name is left alone and the answer is a ``ClusterError`` with status 409."""
        resource = self._resource(api_version, kind)
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if uid:
            options["preconditions"] = {"uid": uid}
        try:
            self._call(
                lambda: resource.delete(
                    name=name,
                    namespace=namespace,
                    body=options,
                    propagation_policy="Background",
                    _request_timeout=TIMEOUT,
                ),
                f"delete {kind} {name}",
            )
        except ClusterError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def create_token(
        self,
        namespace: str,
        service_account: str,
        seconds: int,
        *,
        bound_to: dict[str, str] | None = None,
    ) -> str:
        """A token of the ServiceAccount valid for ``seconds``; with ``bound_to`` (an object
        reference: kind, apiVersion, name, uid) it is valid only while that object exists."""
        spec: dict[str, Any] = {"expirationSeconds": seconds}
        if bound_to is not None:
            spec["boundObjectRef"] = bound_to
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": spec,
        }
        core = k8s.CoreV1Api(self.api_client)
        response = self._call(
            lambda: core.create_namespaced_service_account_token(
                service_account, namespace, request
            ),
            f"token for {namespace}/{service_account}",
        )
        return response.status.token

    def wait_until(
        self,
        predicate: Callable[[], bool],
        *,
        timeout: float,
        what: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Poll ``predicate`` until it holds; a ``ClusterError`` (retryable) after ``timeout``.
        Polls soon at first (a pod is often ready within a second), then every 2 s."""
        deadline = clock() + timeout
        interval = 0.1
        while not predicate():
            if clock() >= deadline:
                raise ClusterError(f"{what}: not done after {timeout:g} s", retryable=True)
            self.retry.sleep(interval)
            interval = min(interval * 2, 2.0)


class WatchStream:
    """One open watch: iterating yields (event type, object) pairs as the server sends them
    (ADDED, MODIFIED, DELETED, BOOKMARK) until it ends the stream. An ERROR event, a dropped
    connection or an answer that is not JSON raises ``ClusterError``; an expired
    resourceVersion is one with status 410. ``close`` ends it from another thread."""

    def __init__(self, response: Any, what: str) -> None:
        self._response = response
        self._what = what
        self._closed = False

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        buffer = b""
        complete = False
        try:
            for chunk in self._response.stream(amt=None, decode_content=True):
                buffer += chunk
                while (end := buffer.find(b"\n")) >= 0:
                    line, buffer = buffer[:end], buffer[end + 1 :]
                    if line.strip():
                        yield self._event(line)
            complete = not self._closed
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            if self._closed:
                return
            raise ClusterError(
                f"{self._what}: the connection dropped ({type(exc).__name__}: {exc})",
                retryable=True,
            ) from None
        finally:
            # A stream the server ended leaves a connection fit for the next request; one
            # left half-read (or shut down) must not go back to the pool.
            if complete:
                self._response.release_conn()
            else:
                self._response.close()

    def _event(self, line: bytes) -> tuple[str, dict[str, Any]]:
        try:
            event = json.loads(line)
            kind, obj = event["type"], event["object"]
        except (ValueError, KeyError, TypeError):
            raise ClusterError(f"{self._what}: an event that is not JSON: {line[:200]!r}") from None
        if kind == "ERROR":
            code = obj.get("code") if isinstance(obj, dict) else None
            message = obj.get("message") if isinstance(obj, dict) else obj
            raise ClusterError(f"{self._what}: {message} (HTTP {code})", status=code)
        return kind, obj

    def close(self) -> None:
        """End the stream: a thread blocked reading it returns from its loop."""
        self._closed = True
        # Shutting the socket down wakes a reader blocked in recv; closing alone would not.
        connection = getattr(self._response, "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):  # closed already
                sock.shutdown(socket.SHUT_RDWR)


def pod_ready(pod: dict[str, Any] | None) -> bool:
    if not pod:
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


# -- pods/exec: Kubernetes' channel protocol over a websocket --------------------------------

EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


@dataclass(frozen=True)
class ExecTarget:
    url: str
    headers: dict[str, str]
    tls: ssl.SSLContext | bool
    what: str


class ExecStream:
    """An open exec: stdin, resize and (v5) the close of stdin out; stdout and stderr in,
    and at the end the Status the API server sends on the error channel. Runs on the event
    loop (aiohttp): no thread per stream."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self._session = session
        self._ws = ws
        self.protocol = ws.protocol or ""
        self.status: dict[str, Any] | None = None

    async def read(self) -> bytes:
        """The next stdout or stderr bytes; b"" once the stream has ended."""
        while True:
            message = await self._ws.receive()
            if message.type == aiohttp.WSMsgType.BINARY:
                frame = message.data
            elif message.type == aiohttp.WSMsgType.TEXT:
                frame = message.data.encode()
            else:  # closed, closing or an error: the stream is over
                return b""
            if not frame:
                continue
            channel, payload = frame[0], frame[1:]
            if channel in (STDOUT, STDERR) and payload:
                return payload
            if channel == ERROR:
                try:
                    self.status = json.loads(payload)
                except ValueError:
                    self.status = {"status": "Failure", "message": payload.decode(errors="replace")}

    async def write(self, data: bytes) -> None:
        if not self._ws.closed:
            await self._ws.send_bytes(bytes([STDIN]) + data)

    async def resize(self, cols: int, rows: int) -> None:
        if not self._ws.closed:
            size = json.dumps({"Width": cols, "Height": rows}).encode()
            await self._ws.send_bytes(bytes([RESIZE]) + size)

    async def close(self) -> None:
        try:
            if not self._ws.closed and self.protocol.startswith("v5."):
                await self._ws.send_bytes(bytes([CLOSE, STDIN]))
            await self._ws.close()
        except (aiohttp.ClientError, OSError):
            pass
        finally:
            await self._session.close()


async def open_exec(target: ExecTarget, *, timeout: float = 15) -> ExecStream:
    """Open the exec websocket, offering v5 of the channel protocol and v4 as a fallback.
    Raises ``ClusterError`` with the API server's message when it refuses."""
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=timeout))
    try:
        ws = await session.ws_connect(
            target.url,
            protocols=EXEC_PROTOCOLS,
            headers=target.headers,
            ssl=target.tls,
            heartbeat=30,
            max_msg_size=0,
            autoping=True,
        )
    except aiohttp.WSServerHandshakeError as exc:
        await session.close()
        raise ClusterError(
            f"{target.what}: {exc.message} (HTTP {exc.status})", status=exc.status
        ) from None
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        await session.close()
        raise ClusterError(
            f"{target.what}: cannot reach the API server ({type(exc).__name__}: {exc})",
            retryable=True,
        ) from None
    return ExecStream(session, ws)


def exit_of(status: dict[str, Any] | None) -> tuple[int | None, str]:
    """The exit code and a sentence from the Status an exec ends with."""
    if status is None:
        return None, "the connection to the container ended"
    if status.get("status") == "Success":
        return 0, "the shell exited with status 0"
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                code = int(cause.get("message", ""))
            except ValueError:
                break
            return code, f"the shell exited with status {code}"
    return None, status.get("message") or "the shell ended with an error"
