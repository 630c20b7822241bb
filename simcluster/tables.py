"""meta.k8s.io Tables: the columns kube-apiserver prints for each kind, as ``kubectl get`` shows.

The column sets, their order and priorities (1: only with ``-o wide``) follow the API server's
printers; the cells are worked out in `simcluster.cells`. A description written ``=Type.field``
is the API's own documentation of that field (`simcluster.schema`), as the server's column
descriptions are. Kinds without a printer of their own get NAME and CREATED AT, as the server's
default does. TableOptions' ``includeObject`` (Object, Metadata, None) says what each row
carries besides its cells.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simcluster import cells as c
from simcluster.cells import Cell, human_duration, pod_status
from simcluster.schema import definitions

if TYPE_CHECKING:
    from simcluster.resources import Resource

__all__ = ["Column", "columns_of", "human_duration", "pod_status", "table"]

_DEFAULT = ("", "")  # the key of the server's default column set


@dataclass(frozen=True)
class Column:
    name: str
    cell: Cell
    description: str = ""
    priority: int = 0
    type: str = "string"
    format: str = ""

    def definition(self) -> dict:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": _describe(self.description),
            "priority": self.priority,
        }


def _describe(text: str) -> str:
    """``=core.v1.PodStatus.podIP``: that field's documentation; anything else as it is."""
    if not text.startswith("="):
        return text
    path, _, field = text[1:].rpartition(".")
    prefix = "io.k8s.apimachinery.pkg.apis." if path.startswith("meta.") else "io.k8s.api."
    schema = definitions().schemas.get(prefix + path, {})
    return (schema.get("properties", {}).get(field) or {}).get("description", "")


def _int(title: str, cell: Cell, description: str, priority: int = 0) -> Column:
    return Column(title, cell, description, priority, type="integer")


def _field(part: str, field: str, default: Any = "") -> Cell:
    def cell(obj: dict) -> Any:
        return ((obj.get(part) or {}) if part else obj).get(field, default)

    return cell


NAME = Column("Name", c.name, "=meta.v1.ObjectMeta.name", format="name")
AGE = Column("Age", c.age, "=meta.v1.ObjectMeta.creationTimestamp")
CONTAINERS = Column("Containers", c.containers, "Names of each container in the template.", 1)
IMAGES = Column("Images", c.images, "Images referenced by each container in the template.", 1)


def _selector(doc: str) -> Column:
    return Column("Selector", lambda o: c.selector(c.spec_of(o).get("selector")), doc, 1)


def _workloads() -> dict[tuple[str, str], list[Column]]:
    ready = "Number of the pod with ready state"
    daemon = [("Desired", "desiredNumberScheduled"), ("Current", "currentNumberScheduled"),
              ("Ready", "numberReady"), ("Up-to-date", "updatedNumberScheduled"),
              ("Available", "numberAvailable")]  # fmt: skip
    node_selector = "=core.v1.PodSpec.nodeSelector"
    return {
        ("", "pods"): [
            NAME,
            Column("Ready", lambda p: "{1}/{2}".format(*c.pod_summary(p)),
                   "The aggregate readiness state of this pod for accepting traffic."),
            Column("Status", pod_status, "The aggregate status of the containers in this pod."),
            Column("Restarts", lambda p: c.pod_summary(p)[3],
                   "The number of times the containers in this pod have been restarted and "
                   "when the last container in this pod has restarted."),
            AGE,
            Column("IP", c.pod_ip, "=core.v1.PodStatus.podIP", 1),
            Column("Node", lambda p: c.spec_of(p).get("nodeName") or "<none>",
                   "=core.v1.PodSpec.nodeName", 1),
            Column("Nominated Node", lambda p: c.status_of(p).get("nominatedNodeName") or "<none>",
                   "=core.v1.PodStatus.nominatedNodeName", 1),
            Column("Readiness Gates", c.readiness_gates, "=core.v1.PodSpec.readinessGates", 1),
        ],
        ("apps", "deployments"): [
            NAME,
            Column("Ready", lambda d: "{}/{}".format(c.status_of(d).get("readyReplicas", 0),
                                                     c.spec_of(d).get("replicas", 0)), ready),
            Column("Up-to-date", _field("status", "updatedReplicas", 0),
                   "=apps.v1.DeploymentStatus.updatedReplicas"),
            Column("Available", _field("status", "availableReplicas", 0),
                   "=apps.v1.DeploymentStatus.availableReplicas"),
            AGE, CONTAINERS, IMAGES, _selector("=apps.v1.DeploymentSpec.selector"),
        ],
        ("apps", "replicasets"): [
            NAME,
            _int("Desired", _field("spec", "replicas", 0), "=apps.v1.ReplicaSetSpec.replicas"),
            _int("Current", _field("status", "replicas", 0), "=apps.v1.ReplicaSetStatus.replicas"),
            _int("Ready", _field("status", "readyReplicas", 0),
                 "=apps.v1.ReplicaSetStatus.readyReplicas"),
            AGE, CONTAINERS, IMAGES, _selector("=apps.v1.ReplicaSetSpec.selector"),
        ],
        ("apps", "statefulsets"): [
            NAME,
            Column("Ready", lambda s: "{}/{}".format(c.status_of(s).get("readyReplicas", 0),
                                                     c.spec_of(s).get("replicas", 0)), ready),
            AGE, CONTAINERS, IMAGES,
        ],
        ("apps", "daemonsets"): [
            NAME,
            *(_int(title, _field("status", field, 0), f"=apps.v1.DaemonSetStatus.{field}")
              for title, field in daemon),
            Column("Node Selector", lambda d: c.labels(
                ((c.spec_of(d).get("template") or {}).get("spec") or {}).get("nodeSelector")
            ), node_selector),
            AGE, CONTAINERS, IMAGES, _selector("=apps.v1.DaemonSetSpec.selector"),
        ],
        ("batch", "jobs"): [
            NAME,
            Column("Status", c.job_status, "Status of the job."),
            Column("Completions", c.job_completions, "The completion status of the job."),
            Column("Duration", c.job_duration, "Time required to complete the job."),
            AGE, CONTAINERS, IMAGES, _selector("=batch.v1.JobSpec.selector"),
        ],
        ("batch", "cronjobs"): [
            NAME,
            Column("Schedule", _field("spec", "schedule"), "=batch.v1.CronJobSpec.schedule"),
            Column("Timezone", lambda j: c.spec_of(j).get("timeZone") or "<none>",
                   "=batch.v1.CronJobSpec.timeZone"),
            Column("Suspend", lambda j: str(bool(c.spec_of(j).get("suspend"))),
                   "=batch.v1.CronJobSpec.suspend"),
            _int("Active", lambda j: len(c.status_of(j).get("active") or []),
                 "=batch.v1.CronJobStatus.active"),
            Column("Last Schedule", c.last_schedule, "=batch.v1.CronJobStatus.lastScheduleTime"),
            AGE,
            Column("Containers", lambda j: ",".join(x.get("name", "") for x in
                                                    c.cron_containers(j)),
                   "Names of each container in the template.", 1),
            Column("Images", lambda j: ",".join(x.get("image", "") for x in c.cron_containers(j)),
                   "Images referenced by each container in the template.", 1),
            Column("Selector", c.cron_selector, "=batch.v1.JobSpec.selector", 1),
        ],
        ("autoscaling", "horizontalpodautoscalers"): [
            NAME,
            Column("Reference", c.scale_target, "Reference to the scaled object"),
            Column("Targets", c.hpa_targets, "The current and target metric values"),
            Column("MinPods", _field("spec", "minReplicas", "<unset>"),
                   "The minimum number of replicas"),
            _int("MaxPods", _field("spec", "maxReplicas", 0), "The maximum number of replicas"),
            _int("Replicas", _field("status", "currentReplicas", 0),
                 "The current number of replicas"),
            AGE,
        ],
        ("policy", "poddisruptionbudgets"): [
            NAME,
            Column("Min Available", c.pdb_value("minAvailable"),
                   "The minimum number of pods that must be available"),
            Column("Max Unavailable", c.pdb_value("maxUnavailable"),
                   "The maximum number of pods that may be unavailable"),
            _int("Allowed Disruptions", _field("status", "disruptionsAllowed", 0),
                 "Calculated number of pods that may be disrupted at this time"),
            AGE,
        ],
    }  # fmt: skip


def _network_and_storage() -> dict[tuple[str, str], list[Column]]:
    pvc, pv = "core.v1.PersistentVolumeClaim", "core.v1.PersistentVolume"
    return {
        ("", "services"): [
            NAME,
            Column("Type", c.service_type, "=core.v1.ServiceSpec.type"),
            Column("Cluster-IP", c.cluster_ip, "=core.v1.ServiceSpec.clusterIP"),
            Column("External-IP", c.external_ip, "=core.v1.ServiceSpec.externalIPs"),
            Column("Port(s)", c.ports, "=core.v1.ServiceSpec.ports"),
            AGE,
            Column("Selector", lambda s: c.labels(c.spec_of(s).get("selector")),
                   "=core.v1.ServiceSpec.selector", 1),
        ],
        ("", "endpoints"): [
            NAME, Column("Endpoints", c.endpoints, "=core.v1.Endpoints.subsets"), AGE,
        ],
        ("discovery.k8s.io", "endpointslices"): [
            NAME,
            Column("AddressType", _field("", "addressType"),
                   "=discovery.v1.EndpointSlice.addressType"),
            Column("Ports", c.slice_ports, "=discovery.v1.EndpointSlice.ports"),
            Column("Endpoints", c.slice_endpoints, "=discovery.v1.EndpointSlice.endpoints"),
            AGE,
        ],
        ("networking.k8s.io", "ingresses"): [
            NAME,
            Column("Class", lambda i: c.spec_of(i).get("ingressClassName") or "<none>",
                   "The name of the IngressClass resource that should be used"),
            Column("Hosts", c.ingress_hosts, "Hosts that incoming requests are matched against"),
            Column("Address", lambda i: ",".join(c.load_balancer(c.status_of(i))),
                   "Address is a list containing ingress points for the load-balancer"),
            Column("Ports", lambda i: "80, 443" if c.spec_of(i).get("tls") else "80",
                   "Ports of TLS configurations that open"),
            AGE,
        ],
        ("networking.k8s.io", "networkpolicies"): [
            NAME,
            Column("Pod-Selector", lambda n: c.selector(c.spec_of(n).get("podSelector")),
                   "=networking.v1.NetworkPolicySpec.podSelector"),
            AGE,
        ],
        ("", "persistentvolumeclaims"): [
            NAME,
            Column("Status", c.pvc_status, f"={pvc}Status.phase"),
            Column("Volume", _field("spec", "volumeName"), f"={pvc}Spec.volumeName"),
            Column("Capacity", lambda p: (c.status_of(p).get("capacity") or {}).get("storage", ""),
                   f"={pvc}Status.capacity"),
            Column("Access Modes", lambda p: c.access_modes(c.status_of(p).get("accessModes")),
                   f"={pvc}Status.accessModes"),
            Column("StorageClass", _field("spec", "storageClassName"), "StorageClass of the pvc"),
            Column("VolumeAttributesClass", c.attributes_class,
                   "VolumeAttributesClass of the pvc"),
            AGE,
            Column("VolumeMode", c.volume_mode, f"={pvc}Spec.volumeMode", 1),
        ],
        ("", "persistentvolumes"): [
            NAME,
            Column("Capacity", lambda p: (c.spec_of(p).get("capacity") or {}).get("storage", ""),
                   f"={pv}Spec.capacity"),
            Column("Access Modes", lambda p: c.access_modes(c.spec_of(p).get("accessModes")),
                   f"={pv}Spec.accessModes"),
            Column("Reclaim Policy", _field("spec", "persistentVolumeReclaimPolicy"),
                   f"={pv}Spec.persistentVolumeReclaimPolicy"),
            Column("Status", _field("status", "phase"), f"={pv}Status.phase"),
            Column("Claim", c.pv_claim, f"={pv}Spec.claimRef"),
            Column("StorageClass", _field("spec", "storageClassName"), "StorageClass of the pv"),
            Column("VolumeAttributesClass", c.attributes_class, "VolumeAttributesClass of the pv"),
            Column("Reason", _field("status", "reason"), f"={pv}Status.reason"),
            AGE,
            Column("VolumeMode", c.volume_mode, f"={pv}Spec.volumeMode", 1),
        ],
        ("storage.k8s.io", "storageclasses"): [
            Column("Name", c.storage_class_name, "=meta.v1.ObjectMeta.name", format="name"),
            Column("Provisioner", _field("", "provisioner"),
                   "Indicates the type of the provisioner."),
            Column("ReclaimPolicy", _field("", "reclaimPolicy", "Delete"),
                   "Indicates the type of the reclaim policy."),
            Column("VolumeBindingMode", _field("", "volumeBindingMode", "Immediate"),
                   "Indicates when volume binding and dynamic provisioning should occur."),
            Column("AllowVolumeExpansion", lambda s: bool(s.get("allowVolumeExpansion")),
                   "Indicates whether the storage class allow volume expand.", type="boolean"),
            AGE,
        ],
    }  # fmt: skip


def _cluster_and_config() -> dict[tuple[str, str], list[Column]]:
    info = "Reported by the node: "
    return {
        ("", "nodes"): [
            NAME,
            Column("Status", c.node_status, "The status of the node"),
            Column("Roles", c.node_roles, "The roles of the node"),
            AGE,
            Column("Version", c.node_info("kubeletVersion"),
                   "Kubelet Version reported by the node."),
            Column("Internal-IP", c.node_address("InternalIP"), "=core.v1.NodeStatus.addresses", 1),
            Column("External-IP", c.node_address("ExternalIP"), "=core.v1.NodeStatus.addresses", 1),
            Column("OS-Image", c.node_info("osImage"), info + "OS Image.", 1),
            Column("Kernel-Version", c.node_info("kernelVersion"), info + "Kernel Version.", 1),
            Column("Container-Runtime", c.node_info("containerRuntimeVersion"),
                   info + "ContainerRuntime Version.", 1),
        ],
        ("", "namespaces"): [
            NAME, Column("Status", _field("status", "phase"), "The status of the namespace"), AGE,
        ],
        ("", "events"): [
            Column("Last Seen", lambda e: c.event_times(e)[0], "=core.v1.Event.lastTimestamp"),
            Column("Type", _field("", "type"), "=core.v1.Event.type"),
            Column("Reason", _field("", "reason"), "=core.v1.Event.reason"),
            Column("Object", c.event_object, "=core.v1.Event.involvedObject"),
            Column("Subobject", lambda e: (e.get("involvedObject") or e.get("regarding")
                                           or {}).get("fieldPath", ""),
                   "=core.v1.ObjectReference.fieldPath", 1),
            Column("Source", c.event_source, "=core.v1.Event.source", 1),
            Column("Message", c.event_message, "=core.v1.Event.message"),
            Column("First Seen", lambda e: c.event_times(e)[1], "=core.v1.Event.firstTimestamp", 1),
            Column("Count", lambda e: c.event_times(e)[2], "=core.v1.Event.count", 1),
            Column("Name", c.name, "=meta.v1.ObjectMeta.name", 1, format="name"),
        ],
        ("", "configmaps"): [
            NAME,
            _int("Data", lambda m: len(m.get("data") or {}) + len(m.get("binaryData") or {}),
                 "=core.v1.ConfigMap.data"),
            AGE,
        ],
        ("", "secrets"): [
            NAME,
            Column("Type", _field("", "type"), "=core.v1.Secret.type"),
            _int("Data", lambda s: len(s.get("data") or {}), "=core.v1.Secret.data"),
            AGE,
        ],
        ("", "serviceaccounts"): [
            NAME,
            _int("Secrets", lambda s: len(s.get("secrets") or []),
                 "=core.v1.ServiceAccount.secrets"),
            AGE,
        ],
        ("", "resourcequotas"): [
            NAME,
            AGE,
            Column("Request", c.quota("requests"),
                   "Request represents a minimum amount of cpu/memory that a container may "
                   "consume."),
            Column("Limit", c.quota("limits"),
                   "Limits control the maximum amount of cpu/memory that a container may use "
                   "independent of contention on the node."),
        ],
        ("rbac.authorization.k8s.io", "rolebindings"): _bindings(),
        ("rbac.authorization.k8s.io", "clusterrolebindings"): _bindings(),
        _DEFAULT: [NAME, Column("Created At", c.created_at, "=meta.v1.ObjectMeta.creationTimestamp",
                                type="date")],
    }  # fmt: skip


def _bindings() -> list[Column]:
    return [
        NAME,
        Column("Role", c.role_ref, "RoleRef can reference a Role in the current namespace or a "
               "ClusterRole in the global namespace."),
        AGE,
        Column("Users", c.subjects("User"), "Users in the binding", 1),
        Column("Groups", c.subjects("Group"), "Groups in the binding", 1),
        Column("ServiceAccounts", c.subjects("ServiceAccount"),
               "ServiceAccounts in the binding", 1),
    ]  # fmt: skip


@functools.cache
def _all_columns() -> dict[tuple[str, str], list[Column]]:
    return {**_workloads(), **_network_and_storage(), **_cluster_and_config()}


def columns_of(resource: Resource) -> list[Column]:
    found = _all_columns()
    return found.get(resource.key) or found[_DEFAULT]


def _row(columns: list[Column], obj: dict, include: str, pod: bool) -> dict:
    row: dict[str, Any] = {"cells": [column.cell(obj) for column in columns]}
    if pod and (conditions := c.pod_summary(obj)[4]):
        row["conditions"] = conditions
    if include == "Object":
        row["object"] = obj
    elif include != "None":
        row["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"],
        }
    return row


def table(resource: Resource, document: dict, version: str = "v1", include: str = "") -> dict:
    """``document`` (an object or a list of ``resource``) as a meta.k8s.io Table.

    ``include`` is TableOptions' includeObject: Object, Metadata (the default) or None."""
    columns = columns_of(resource)
    if "items" in document:
        items, metadata = document["items"], dict(document.get("metadata") or {})
    else:
        items = [document]
        metadata = {"resourceVersion": (document.get("metadata") or {}).get("resourceVersion", "")}
    pod = resource.key == ("", "pods")
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": metadata,
        "columnDefinitions": [column.definition() for column in columns],
        "rows": [_row(columns, obj, include, pod) for obj in items],
    }
