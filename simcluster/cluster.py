"""`KubeStandIn`: a simulated Kubernetes API server for tests, benchmarks and development.

It serves the real Kubernetes HTTP API (JSON) on 127.0.0.1 from an aiohttp loop in a daemon
thread, so the official `kubernetes` client, its `DynamicClient`, `Watch` and `stream` (exec)
talk to it unchanged. Tests read and write its objects directly, inject faults, and read the
log of served requests. Nothing runs in it: its controllers and its node's kubelet act by rules
(`simcluster.controllers`), and what a container does is worked out from its image and command
(`simcluster.containers`).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import logging
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable

import kubernetes
from aiohttp import web

from simcluster import deletion
from simcluster.admission import Policies
from simcluster.auth import Authenticator
from simcluster.containers.sessions import Sessions
from simcluster.controllers import Controllers
from simcluster.errors import ApiError
from simcluster.exec import ExecSession
from simcluster.faults import Fault, Faults
from simcluster.patch import merge_patch
from simcluster.policy import Aggregation, seed_policy
from simcluster.rbac import Authorizer
from simcluster.resources import Resource, by_kind
from simcluster.server import build_app
from simcluster.store import Store
from simcluster.tls import ClusterCA

__all__ = ["KubeStandIn"]

log = logging.getLogger(__name__)

ExecHandler = Callable[[dict, list[str], ExecSession], Awaitable[int]]
AttachHandler = Callable[[dict, str, ExecSession], Awaitable[int]]


def _resource(api_version: str, kind: str) -> Resource:
    resource = by_kind(api_version, kind)
    if resource is None or not resource.stored:
        raise ValueError(f"the stand-in does not serve {kind} in {api_version}")
    return resource


class KubeStandIn:
    """A Kubernetes API stand-in; ``with KubeStandIn().start() as k: ...``.

    ``pace``: how fast the node works: a pod of a catalogue image is Running and Ready
    ``pace`` seconds after it is created, and every other step of the node (pulls, starts,
    stops, finite commands, back-offs) takes its documented time multiplied by ``pace``; 0 makes
    every step immediate but still ordered (with events). None is a cluster without a kubelet:
    pods stay Pending until a test sets their status (the controllers still run).
    ``history``: how many events watches can catch up on; older versions get 410 Expired.
    ``auto_ready_after`` is the former name of ``pace`` (the same seconds).

    Requests are authenticated (`simcluster.auth`), authorised by RBAC (`simcluster.rbac`)
    and admitted (`simcluster.admission`) as on a real server: ``admin_token`` (random, in
    ``kubeconfig()``) is ``kubernetes-admin`` in ``system:masters``; TokenRequest tokens act as
    their ServiceAccount; ``add_token`` registers a static token for a user of a test's choice.

    Hooks a test may replace: ``exec_handler(pod, command, session) -> exit code`` (a
    coroutine, see `simcluster.exec`; the simulated shell by default),
    ``log_handler(pod, container) -> text`` for ``pods/log`` (None: the simulated logs).
    ``tokens`` maps every token issued by a TokenRequest to (namespace, service
    account), for tests to look at (authentication checks the token's signature and claims,
    not this record); ``requests`` lists (method, path, status) of every request served.
    """

    def __init__(
        self,
        *,
        pace: float | None = None,
        history: int = 1000,
        auto_ready_after: float | None = None,
        node_capacity: dict[str, str] | None = None,
    ) -> None:
        if auto_ready_after is not None:
            # The former name of ``pace``: the seconds from a pod's creation to Ready.
            pace = auto_ready_after if pace is None else pace
        self.store = Store(history=history)
        self.faults = Faults()
        self.controllers = Controllers(self.store, pace, node_capacity)
        self.authenticator = Authenticator(self.store)
        self.authorizer = Authorizer(self.store)
        self.policies = Policies(self.store)
        self.aggregation = Aggregation(self.store)
        self.sessions = Sessions(self.controllers.node, self.controllers.kubelet.end_session)
        self.exec_handler: ExecHandler = self.sessions.exec
        self.attach_handler: AttachHandler = self._attach
        self.log_handler: Callable[[dict, str], str] | None = None
        self.tokens: dict[str, tuple[str, str]] = {}
        self.requests: list[tuple[str, str, int]] = []
        # A long-running simulated cluster turns this off so the log does not grow forever.
        self.log_requests = True
        self.url = ""
        self.ca = ClusterCA()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.controllers.root_ca = self.ca.pem.decode()
        self.controllers.seed()
        seed_policy(self.store)

    # -- settings -------------------------------------------------------------------------

    @property
    def pace(self) -> float | None:
        """See the class: the node's speed, or None for a cluster without a kubelet."""
        return self.controllers.pace

    @pace.setter
    def pace(self, seconds: float | None) -> None:
        self.controllers.pace = seconds

    @property
    def auto_ready_after(self) -> float | None:
        """The former name of `pace`, kept for callers written before it."""
        return self.pace

    @auto_ready_after.setter
    def auto_ready_after(self, seconds: float | None) -> None:
        self.pace = seconds

    @property
    def namespace_deletion_delay(self) -> float:
        """Seconds (wall-clock) a deleted namespace stays Terminating before its contents go
        (default 0)."""
        return self.controllers.namespace_deletion_delay

    @namespace_deletion_delay.setter
    def namespace_deletion_delay(self, seconds: float) -> None:
        self.controllers.namespace_deletion_delay = seconds

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, port: int = 0, host: str = "127.0.0.1") -> KubeStandIn:
        """Serve HTTPS on ``host:port`` (a free port by default) from a daemon thread, with a
        certificate signed by this server's own CA (``ca``)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        context = self.ca.serving_context(host)
        self.url = f"https://{host}:{sock.getsockname()[1]}"
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._serve,
            args=(sock, context, ready),
            name="kube-standin",
            daemon=True,
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the Kubernetes API stand-in did not start")
        return self

    def _serve(self, sock: socket.socket, context: ssl.SSLContext, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(build_app(self), access_log=None, shutdown_timeout=0.2)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.SockSite(runner, sock, ssl_context=context).start())
        self._loop = loop
        self.controllers.clock.attach(loop)
        ready.set()
        try:
            loop.run_forever()
        finally:
            self.controllers.clock.detach()
            self._loop = None
            loop.run_until_complete(runner.cleanup())
            # Open watches and exec sessions outlive the runner's grace period: end them here
            # rather than let the loop close on pending tasks.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(10)
        self._thread = None

    def __enter__(self) -> KubeStandIn:
        return self if self._thread else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _attach(self, pod: dict, container: str, session: ExecSession) -> int:
        """Join the container's own process (see `simcluster.containers.sessions`)."""
        kubelet = self.controllers.kubelet
        running = kubelet.running(pod, container)
        if running is None:
            raise ApiError.bad_request(
                f'unable to upgrade connection: container not found ("{container}")'
            )
        outcome, _ = running

        def lines() -> list:
            current = self.store.get(_resource("v1", "Pod"), pod["metadata"]["namespace"],
                                     pod["metadata"]["name"]) or pod  # fmt: skip
            try:
                return kubelet.log_lines(current, container, False)
            except ApiError:
                return []

        return await self.sessions.attach(pod, container, session, outcome, lines)

    # -- clients --------------------------------------------------------------------------

    @property
    def admin_token(self) -> str:
        """The bearer token of ``kubernetes-admin`` (group ``system:masters``), random per
        server, as the admin kubeconfig of a kubeadm cluster holds that user's certificate."""
        return self.authenticator.admin_token

    def add_token(self, token: str, username: str, groups: tuple[str, ...] = ()) -> None:
        """Accept ``token`` as ``username`` in ``groups`` (and ``system:authenticated``), as a
        real server's ``--token-auth-file`` does."""
        self.authenticator.add_token(token, username, groups)

    def kubeconfig(self, namespace: str | None = None, token: str | None = None) -> dict:
        """A kubeconfig for this stand-in: its URL and CA, a bearer token (the admin's unless
        ``token`` is given), one context."""
        context: dict[str, str] = {"cluster": "lotse-standin", "user": "lotse-standin"}
        if namespace:
            context["namespace"] = namespace
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "lotse-standin",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(self.ca.pem).decode(),
                    },
                }
            ],
            "users": [{"name": "lotse-standin", "user": {"token": token or self.admin_token}}],
            "contexts": [{"name": "lotse-standin-simulated", "context": context}],
            "current-context": "lotse-standin-simulated",
            "preferences": {},
        }

    def api_client(self, namespace: str | None = None) -> kubernetes.client.ApiClient:
        return kubernetes.config.new_client_from_config_dict(self.kubeconfig(namespace))

    # -- objects, for tests ---------------------------------------------------------------

    def put(self, obj: dict) -> dict:
        """Create or replace ``obj`` as the server would, keeping a ``status`` it carries.

        A namespaced object without a namespace goes to "default". Raises `ApiError`."""
        resource = _resource(obj.get("apiVersion", ""), obj.get("kind", ""))
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        namespace = meta.setdefault("namespace", "default") if resource.namespaced else None
        with self.store.lock:
            if meta.get("name") and self.store.get(resource, namespace, meta["name"]):
                stored = self.store.replace(resource, namespace, meta["name"], obj)
                if "status" in obj and resource.status:
                    status = obj["status"]
                    stored = self.store.mutate(
                        resource, namespace, meta["name"], lambda o: o.update(status=status)
                    )
            else:
                stored = self.store.create(resource, obj, keep_status=True)
        return copy.deepcopy(stored)

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict | None:
        found = self.store.get(_resource(api_version, kind), namespace, name)
        return copy.deepcopy(found) if found is not None else None

    def list(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict]:
        items, _ = self.store.list(_resource(api_version, kind), namespace)
        return copy.deepcopy(items)

    def set_status(
        self, api_version: str, kind: str, name: str, namespace: str | None, status: dict
    ) -> dict:
        """Merge ``status`` into the object's status (JSON merge: null deletes a field)."""
        resource = _resource(api_version, kind)

        def merge(obj: dict) -> None:
            obj["status"] = merge_patch(obj.get("status") or {}, status)

        return copy.deepcopy(self.store.mutate(resource, namespace, name, merge))

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        """Delete as the server would: a namespace goes Terminating, then away; a pod
        gracefully; dependents follow in the background."""
        resource = _resource(api_version, kind)
        deletion.delete(self.store, self.controllers, resource, namespace, name, {})

    # -- faults and the request log -------------------------------------------------------

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        *,
        times: int = 1,
        retry_after: int | None = None,
        message: str = "",
    ) -> None:
        """Answer the next ``times`` matching requests with a Status of code ``status``.

        ``method`` is a regex matched against the whole method; ``path`` is searched in the
        request path. ``retry_after`` adds the Retry-After header (and retryAfterSeconds)."""
        fault = Fault("fail", method, path, times, status, retry_after, message)
        self.faults.add(fault)

    def delay(self, seconds: float, path: str = ".*", method: str = ".*") -> None:
        """Add ``seconds`` of latency to every matching request, until `clear_faults`."""
        self.faults.add(Fault("delay", method, path, times=None, seconds=seconds))

    def drop(self, method: str, path: str, *, times: int = 1) -> None:
        """Close the connection of the next ``times`` matching requests without an answer."""
        self.faults.add(Fault("drop", method, path, times))

    def clear_faults(self) -> None:
        self.faults.clear()

    def record(self, method: str, path: str, status: int) -> None:
        if self.log_requests:
            self.requests.append((method, path, status))

    def reset_requests(self) -> None:
        self.requests.clear()
