"""What a cluster's controllers and kubelet do, reduced to what lab code can observe.

- every namespace gets a ``default`` ServiceAccount and the ``kube-root-ca.crt`` ConfigMap
  (at once, where a cluster takes a moment; tests need not wait);
- deleting a namespace marks it Terminating, then deletes everything in it and itself;
- with ``auto_ready_after`` set, a new pod is scheduled on the one node and becomes Running and
  Ready after that many seconds, as if its image had been pulled and started.

Nothing else runs: no ReplicaSets from Deployments, no Pods from Jobs, no garbage collection.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from simcluster.resources import Resource, known, namespaced_resources
from simcluster.services import KUBERNETES_IP
from simcluster.store import Event, Store, timestamp

__all__ = ["NODE_NAME", "Controllers"]

NODE_NAME = "standin-node"
_NODE_IP = "172.18.0.2"
# The API server as a kubeadm cluster publishes it: the `kubernetes` Service in `default`,
# its virtual IP, and the node address and port behind it.
_API_SERVICE_IP = KUBERNETES_IP
_API_PORT = 6443
_VERSION = "v1.34.1"
_CA = "-----BEGIN CERTIFICATE-----\nU0lNVUxBVEVEIENMVVNURVI=\n-----END CERTIFICATE-----\n"

NAMESPACES = known("", "v1", "namespaces")
PODS = known("", "v1", "pods")
NODES = known("", "v1", "nodes")
CONFIGMAPS = known("", "v1", "configmaps")
SERVICE_ACCOUNTS = known("", "v1", "serviceaccounts")
SERVICES = known("", "v1", "services")
ENDPOINTS = known("", "v1", "endpoints")
ENDPOINT_SLICES = known("discovery.k8s.io", "v1", "endpointslices")

Later = Callable[..., None]


def _node() -> dict:
    info = {
        "architecture": "amd64", "bootID": "standin", "containerRuntimeVersion": "containerd://2.1.4",
        "kernelVersion": "6.1.0", "kubeProxyVersion": _VERSION, "kubeletVersion": _VERSION,
        "machineID": "standin", "operatingSystem": "linux",
        "osImage": "Lotse simulated cluster", "systemUUID": "standin",
    }  # fmt: skip
    capacity = {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "50Gi"}
    now = timestamp()
    ready = {"type": "Ready", "status": "True", "reason": "KubeletReady",
             "lastHeartbeatTime": now, "lastTransitionTime": now}  # fmt: skip
    labels = {
        "kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64", "node-role.kubernetes.io/control-plane": "",
    }  # fmt: skip
    return {
        "metadata": {"name": NODE_NAME, "labels": labels},
        "spec": {"podCIDR": "10.244.0.0/24"},
        "status": {
            "capacity": capacity,
            "allocatable": capacity,
            "conditions": [ready],
            "addresses": [{"type": "InternalIP", "address": _NODE_IP}],
            "nodeInfo": info,
        },
    }


def _api_server_objects() -> list[tuple[Resource, dict]]:
    labels = {"component": "apiserver", "provider": "kubernetes"}
    service = {
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": _API_SERVICE_IP,
            "clusterIPs": [_API_SERVICE_IP],
            "ports": [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": _API_PORT}],
            "sessionAffinity": "None",
        },
    }
    endpoints = {
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": labels},
        "subsets": [
            {
                "addresses": [{"ip": _NODE_IP}],
                "ports": [{"name": "https", "port": _API_PORT, "protocol": "TCP"}],
            }
        ],
    }
    endpoint_slice = {
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [_NODE_IP], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": _API_PORT, "protocol": "TCP"}],
    }
    return [(SERVICES, service), (ENDPOINTS, endpoints), (ENDPOINT_SLICES, endpoint_slice)]


class Controllers:
    """Reacts to store events; ``later(delay, fn, *args)`` runs fn on the server's loop."""

    def __init__(self, store: Store, later: Later, auto_ready_after: float | None) -> None:
        self.store = store
        self.later = later
        self.auto_ready_after = auto_ready_after
        self.namespace_deletion_delay = 0.0
        # What every namespace's kube-root-ca.crt holds: the cluster's CA certificate.
        self.root_ca = _CA
        self._addresses = itertools.count(2)
        store.hooks.append(self.on_event)

    def seed(self) -> None:
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.store.create(NAMESPACES, {"metadata": {"name": name}})
        self.store.create(NODES, _node(), keep_status=True)
        for resource, obj in _api_server_objects():
            self.store.create(resource, obj)

    def on_event(self, event: Event) -> None:
        if event.type != "ADDED":
            return
        if event.resource is NAMESPACES:
            self._furnish(event.object["metadata"]["name"])
        elif event.resource is PODS and self.auto_ready_after is not None:
            meta = event.object["metadata"]
            args = (meta["namespace"], meta["name"], meta["uid"])
            if self.auto_ready_after <= 0:
                self.run_pod(*args)
            else:
                self.later(self.auto_ready_after, self.run_pod, *args)

    def _furnish(self, namespace: str) -> None:
        account = {"metadata": {"name": "default", "namespace": namespace}}
        self.store.create(SERVICE_ACCOUNTS, account)
        ca = {
            "metadata": {"name": "kube-root-ca.crt", "namespace": namespace},
            "data": {"ca.crt": self.root_ca},
        }
        self.store.create(CONFIGMAPS, ca)

    def run_pod(self, namespace: str, name: str, uid: str) -> None:
        """Schedule the pod and report it Running and Ready, unless it is gone or moved on."""
        with self.store.lock:
            pod = self.store.get(PODS, namespace, name)
            if pod is None or pod["metadata"]["uid"] != uid:
                return
            if (pod.get("status") or {}).get("phase", "Pending") != "Pending":
                return
            number = next(self._addresses)
            ip = f"10.244.{number // 250}.{number % 250}"

            def start(pod: dict) -> None:
                pod["spec"]["nodeName"] = NODE_NAME
                pod["status"] = {**pod.get("status", {}), **_running(pod, ip)}

            self.store.mutate(PODS, namespace, name, start)

    def delete_namespace(self, name: str) -> dict:
        """Mark the namespace Terminating now and empty it after ``namespace_deletion_delay``."""

        def terminate(namespace: dict) -> None:
            namespace["metadata"].setdefault("deletionTimestamp", timestamp())
            namespace["metadata"].setdefault("deletionGracePeriodSeconds", 0)
            namespace["status"] = {"phase": "Terminating"}

        with self.store.lock:
            terminating = self.store.mutate(NAMESPACES, "", name, terminate)
            uid = terminating["metadata"]["uid"]
        self.later(self.namespace_deletion_delay, self._finish_namespace, name, uid)
        return terminating

    def _finish_namespace(self, name: str, uid: str) -> None:
        with self.store.lock:
            namespace = self.store.get(NAMESPACES, "", name)
            if namespace is None or namespace["metadata"]["uid"] != uid:
                return
            for resource in namespaced_resources():
                items, _ = self.store.list(resource, name)
                for obj in items:
                    self.store.delete(resource, name, obj["metadata"]["name"])
            self.store.delete(NAMESPACES, "", name)


def _running(pod: dict, ip: str) -> dict:
    now = timestamp(datetime.now(UTC))
    conditions = [
        {"type": kind, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
        for kind in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                     "PodScheduled")
    ]  # fmt: skip
    statuses = []
    for container in pod["spec"].get("containers") or []:
        image = container.get("image", "")
        statuses.append(
            {
                "name": container.get("name", ""),
                "image": image if "/" in image else f"docker.io/library/{image}",
                "imageID": f"docker.io/library/{image}@sha256:{secrets.token_hex(32)}",
                "containerID": f"containerd://{secrets.token_hex(32)}",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
                "lastState": {},
            }
        )
    return {
        "phase": "Running",
        "conditions": conditions,
        "hostIP": _NODE_IP,
        "hostIPs": [{"ip": _NODE_IP}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": now,
        "containerStatuses": statuses,
    }
