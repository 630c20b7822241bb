"""The Endpoints and EndpointSlice controllers: who stands behind a Service with a selector.

Every pod of the Service's namespace that its selector matches and that has an IP is an
endpoint, on each Service port's ``targetPort`` (a number, or the name of a container port of
that pod). In the Endpoints object (named as the Service, with its labels) ready pods are
``addresses`` and the others ``notReadyAddresses`` (all ready with
``publishNotReadyAddresses``), sorted by IP, grouped by ports as the API server repacks them;
terminating pods are left out. The EndpointSlice (``<service>-xxxxx``, labelled
``kubernetes.io/service-name``, owned by the Service) lists them with their ``ready``,
``serving`` and ``terminating`` conditions, terminating ones included. A Service without a
selector is left to whoever writes its Endpoints; a Service's managed Endpoints go with it.
"""

from __future__ import annotations

import contextlib
import ipaddress

from simcluster.controllers.clock import Clock
from simcluster.controllers.workloads import owner_reference, ready
from simcluster.errors import ApiError
from simcluster.resources import known
from simcluster.store import Event, Store, timestamp

__all__ = ["EndpointsController", "subsets_of"]

PODS = known("", "v1", "pods")
SERVICES = known("", "v1", "services")
ENDPOINTS = known("", "v1", "endpoints")
SLICES = known("discovery.k8s.io", "v1", "endpointslices")
MANAGED = "endpoints.kubernetes.io/managed-by"
SLICE_MANAGER = "endpointslice-controller.k8s.io"


def _target_port(pod: dict, port: dict) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for declared in container.get("ports") or []:
            if declared.get("name") == target:
                return int(declared.get("containerPort") or 0)
    return None


def _selected(pod: dict, selector: dict) -> bool:
    labels = pod["metadata"].get("labels") or {}
    return all(labels.get(key) == value for key, value in selector.items())


def _members(store: Store, service: dict) -> list[dict]:
    spec = service.get("spec") or {}
    selector = spec.get("selector") or {}
    namespace = service["metadata"]["namespace"]
    return [
        pod
        for pod in store.list(PODS, namespace)[0]
        if _selected(pod, selector)
        and (pod.get("status") or {}).get("podIP")
        and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]


def _address(pod: dict, service: dict) -> dict:
    meta, spec = pod["metadata"], pod.get("spec") or {}
    address: dict = {"ip": pod["status"]["podIP"]}
    if spec.get("hostname") and spec.get("subdomain") == service["metadata"]["name"]:
        address["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        address["nodeName"] = spec["nodeName"]
    address["targetRef"] = {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"],
                            "uid": meta["uid"]}  # fmt: skip
    return address


def subsets_of(service: dict, pods: list[dict]) -> list[dict]:
    """The Endpoints subsets of ``service`` for these pods, grouped by ports, sorted by IP."""
    spec = service.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses"))
    groups: dict[tuple, dict[str, list[dict]]] = {}
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        ports = []
        for port in spec.get("ports") or []:
            number = _target_port(pod, port)
            if number is None:
                continue
            entry = {"port": number, "protocol": port.get("protocol", "TCP")}
            if port.get("name"):
                entry = {"name": port["name"], **entry}
            ports.append(entry)
        if not ports and spec.get("ports"):
            continue
        key = tuple(sorted((p.get("name", ""), p["port"], p["protocol"]) for p in ports))
        group = groups.setdefault(key, {"addresses": [], "notReadyAddresses": [], "ports": ports})
        kind = "addresses" if publish or ready(pod) else "notReadyAddresses"
        group[kind].append(_address(pod, service))
    subsets = []
    for group in groups.values():
        subset: dict = {}
        for kind in ("addresses", "notReadyAddresses"):
            if group[kind]:
                subset[kind] = sorted(group[kind],
                                      key=lambda a: ipaddress.ip_address(a["ip"]))  # fmt: skip
        if group["ports"]:
            subset["ports"] = group["ports"]
        subsets.append(subset)
    subsets.sort(key=lambda s: [a["ip"] for a in s.get("addresses") or s.get("notReadyAddresses")])
    return subsets


class EndpointsController:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def on_event(self, event: Event) -> None:
        meta = event.object["metadata"]
        namespace = meta.get("namespace", "")
        if event.resource is SERVICES:
            self._queue(namespace, meta["name"])
        elif event.resource is PODS:
            for service in self.store.list(SERVICES, namespace)[0]:
                if (service.get("spec") or {}).get("selector"):
                    self._queue(namespace, service["metadata"]["name"])

    def _queue(self, namespace: str, name: str) -> None:
        self.clock.soon(self.sync, namespace, name, key=("endpoints", namespace, name))

    def sync(self, namespace: str, name: str) -> None:
        service = self.store.get(SERVICES, namespace, name)
        if service is None:
            found = self.store.get(ENDPOINTS, namespace, name)
            if found is not None and MANAGED in (found["metadata"].get("labels") or {}):
                with contextlib.suppress(ApiError):
                    self.store.delete(ENDPOINTS, namespace, name)
            return
        spec = service.get("spec") or {}
        if not spec.get("selector") or spec.get("type") == "ExternalName":
            return
        pods = _members(self.store, service)
        self._endpoints(service, pods)
        self._slice(service, pods)

    def _endpoints(self, service: dict, pods: list[dict]) -> None:
        meta = service["metadata"]
        labels = {**(meta.get("labels") or {}), MANAGED: "endpoint-controller"}
        if (service.get("spec") or {}).get("clusterIP") == "None":
            labels["service.kubernetes.io/headless"] = ""
        subsets = subsets_of(service, pods)
        current = self.store.get(ENDPOINTS, meta["namespace"], meta["name"])
        body: dict = {"metadata": {"name": meta["name"], "namespace": meta["namespace"],
                                   "labels": labels}}  # fmt: skip
        if subsets:
            body["subsets"] = subsets
        if current is None:
            body["metadata"]["annotations"] = {
                "endpoints.kubernetes.io/last-change-trigger-time": timestamp()
            }
            self.store.create(ENDPOINTS, body)
            return
        if current.get("subsets") == body.get("subsets") and (
            current["metadata"].get("labels") == labels
        ):
            return

        def update(obj: dict) -> None:
            obj["metadata"]["labels"] = labels
            obj["metadata"].setdefault("annotations", {})[
                "endpoints.kubernetes.io/last-change-trigger-time"
            ] = timestamp()
            if subsets:
                obj["subsets"] = subsets
            else:
                obj.pop("subsets", None)

        self.store.mutate(ENDPOINTS, meta["namespace"], meta["name"], update)

    def _slice(self, service: dict, pods: list[dict]) -> None:
        meta, spec = service["metadata"], service.get("spec") or {}
        namespace = meta["namespace"]
        endpoints = []
        ports: list[dict] = []
        for pod in sorted(pods, key=lambda p: ipaddress.ip_address(p["status"]["podIP"])):
            pod_ports = []
            for port in spec.get("ports") or []:
                number = _target_port(pod, port)
                if number is not None:
                    pod_ports.append({"name": port.get("name", ""), "port": number,
                                      "protocol": port.get("protocol", "TCP")})  # fmt: skip
            if not pod_ports and spec.get("ports"):
                continue
            ports = ports or pod_ports
            terminating = bool(pod["metadata"].get("deletionTimestamp"))
            is_ready = ready(pod) or bool(spec.get("publishNotReadyAddresses"))
            address = _address(pod, service)
            endpoint = {
                "addresses": [address["ip"]],
                "conditions": {"ready": is_ready and not terminating, "serving": is_ready,
                               "terminating": terminating},
                "targetRef": address["targetRef"],
            }  # fmt: skip
            if "hostname" in address:
                endpoint["hostname"] = address["hostname"]
            if "nodeName" in address:
                endpoint["nodeName"] = address["nodeName"]
            endpoints.append(endpoint)
        labels = {**(meta.get("labels") or {}), "kubernetes.io/service-name": meta["name"],
                  "endpointslice.kubernetes.io/managed-by": SLICE_MANAGER}  # fmt: skip
        existing = [
            s
            for s in self.store.list(SLICES, namespace)[0]
            if (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == meta["name"]
            and (s["metadata"].get("labels") or {}).get("endpointslice.kubernetes.io/managed-by")
            == SLICE_MANAGER
        ]
        body = {"addressType": "IPv4", "endpoints": endpoints or None, "ports": ports or None}
        if not existing:
            self.store.create(SLICES, {
                "metadata": {"generateName": f"{meta['name']}-", "namespace": namespace,
                             "labels": labels, "ownerReferences": [owner_reference(service)]},
                **{k: v for k, v in body.items() if v is not None},
            })  # fmt: skip
            return
        current = existing[0]
        if all(current.get(k) == v for k, v in body.items()) and (
            current["metadata"].get("labels") == labels
        ):
            return

        def update(obj: dict) -> None:
            obj["metadata"]["labels"] = labels
            for key, value in body.items():
                if value is None:
                    obj.pop(key, None)
                else:
                    obj[key] = value

        self.store.mutate(SLICES, namespace, current["metadata"]["name"], update)
