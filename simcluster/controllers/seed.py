"""What a new simulated cluster holds before anyone writes: its one node, the API server's
``kubernetes`` Service with its Endpoints and EndpointSlice in ``default`` (as a kubeadm cluster
publishes them), and the default StorageClass."""

from __future__ import annotations

from simcluster.resources import Resource, known
from simcluster.services import KUBERNETES_IP
from simcluster.store import timestamp

__all__ = ["CA", "NODE_IP", "NODE_NAME", "api_server_objects", "node"]

NODE_NAME = "standin-node"
NODE_IP = "172.18.0.2"
# The API server as a kubeadm cluster publishes it: the `kubernetes` Service in `default`,
# its virtual IP, and the node address and port behind it.
_API_SERVICE_IP = KUBERNETES_IP
_API_PORT = 6443
_VERSION = "v1.34.1"
CA = "-----BEGIN CERTIFICATE-----\nU0lNVUxBVEVEIENMVVNURVI=\n-----END CERTIFICATE-----\n"

SERVICES = known("", "v1", "services")
ENDPOINTS = known("", "v1", "endpoints")
ENDPOINT_SLICES = known("discovery.k8s.io", "v1", "endpointslices")


NODE_CAPACITY = {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "50Gi"}


def node(capacity: dict[str, str] | None = None) -> dict:
    """The cluster's one node; ``capacity`` overrides some of ``NODE_CAPACITY`` (a node as
    big as a class's several would be)."""
    info = {
        "architecture": "amd64", "bootID": "standin", "containerRuntimeVersion": "containerd://2.1.4",
        "kernelVersion": "6.1.0", "kubeProxyVersion": _VERSION, "kubeletVersion": _VERSION,
        "machineID": "standin", "operatingSystem": "linux",
        "osImage": "Lotse simulated cluster", "systemUUID": "standin",
    }  # fmt: skip
    capacity = NODE_CAPACITY | (capacity or {})
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
            "addresses": [{"type": "InternalIP", "address": NODE_IP}],
            "nodeInfo": info,
        },
    }


def api_server_objects() -> list[tuple[Resource, dict]]:
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
                "addresses": [{"ip": NODE_IP}],
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
        "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": _API_PORT, "protocol": "TCP"}],
    }
    return [(SERVICES, service), (ENDPOINTS, endpoints), (ENDPOINT_SLICES, endpoint_slice)]
