"""The API resources the stand-in serves, and the discovery documents built from them.

One table drives routing, validation and discovery, so `kubernetes.dynamic.DynamicClient` and
`kubectl` find exactly the resources that the stand-in answers for.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

__all__ = [
    "RESOURCES",
    "SERVER_VERSION",
    "Resource",
    "api_group",
    "api_group_list",
    "api_resource_list",
    "api_versions",
    "by_kind",
    "by_path",
    "known",
    "namespaced_resources",
]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
_ALL = ("all",)

SERVER_VERSION = {
    "major": "1",
    "minor": "34",
    "emulationMajor": "1",
    "emulationMinor": "34",
    "gitVersion": "v1.34.1",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-09-09T00:00:00Z",
    "goVersion": "go1.24.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}


@dataclass(frozen=True)
class Resource:
    """One REST resource: where it lives, what it is called, and what the server does with it.

    ``names`` says how ``metadata.name`` is validated: ``subdomain`` (most kinds), ``label``
    (namespaces), ``label1035`` (services) or ``path`` (RBAC, where ``system:foo`` is valid).
    ``stored`` is false for review kinds, which are answered but never kept.
    ``returns_deleted`` marks the kinds whose DELETE answers the object rather than a Status.
    ``stored_version`` names the version objects are kept in when it is not this one, and
    ``stored_group`` the group when that is another one (the resource is then another view of
    the same objects, see `simcluster.versions`).
    """

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    status: bool = False
    scale: bool = False
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    names: str = "subdomain"
    stored: bool = True
    returns_deleted: bool = False
    stored_version: str = ""
    stored_group: str | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def stored_api_version(self) -> str:
        """The apiVersion of the objects as the store keeps them."""
        version = self.stored_version or self.version
        group = self.group if self.stored_group is None else self.stored_group
        return f"{group}/{version}" if group else version

    @property
    def is_view(self) -> bool:
        """Another version (or group) of objects stored under another resource."""
        return bool(self.stored_version) or self.stored_group is not None

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def key(self) -> tuple[str, str]:
        return (self.group if self.stored_group is None else self.stored_group, self.plural)

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def qualified(self) -> str:
        """The name Kubernetes uses in messages: ``pods``, ``deployments.apps``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


_RBAC = "rbac.authorization.k8s.io"
_core = partial(Resource, "", "v1")

# fmt: off

RESOURCES: tuple[Resource, ...] = (
    _core("namespaces", "Namespace", namespaced=False, short_names=("ns",), status=True,
          names="label", returns_deleted=True),
    _core("nodes", "Node", namespaced=False, short_names=("no",), status=True),
    _core("persistentvolumes", "PersistentVolume", namespaced=False, short_names=("pv",),
          status=True),
    _core("pods", "Pod", short_names=("po",), status=True, categories=_ALL,
          returns_deleted=True),
    _core("services", "Service", short_names=("svc",), status=True, categories=_ALL,
          names="label1035", returns_deleted=True),
    _core("endpoints", "Endpoints", short_names=("ep",)),
    _core("configmaps", "ConfigMap", short_names=("cm",)),
    _core("secrets", "Secret"),
    _core("serviceaccounts", "ServiceAccount", short_names=("sa",)),
    _core("persistentvolumeclaims", "PersistentVolumeClaim", short_names=("pvc",), status=True),
    _core("resourcequotas", "ResourceQuota", short_names=("quota",), status=True),
    _core("limitranges", "LimitRange", short_names=("limits",)),
    _core("events", "Event", short_names=("ev",)),
    Resource("events.k8s.io", "v1", "events", "Event", short_names=("ev",), stored_version="v1",
             stored_group=""),
    Resource("apps", "v1", "deployments", "Deployment", short_names=("deploy",), status=True,
             scale=True, categories=_ALL),
    Resource("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",), status=True,
             scale=True, categories=_ALL),
    Resource("apps", "v1", "statefulsets", "StatefulSet", short_names=("sts",), status=True,
             scale=True, categories=_ALL),
    Resource("apps", "v1", "daemonsets", "DaemonSet", short_names=("ds",), status=True,
             categories=_ALL),
    Resource("batch", "v1", "jobs", "Job", status=True, categories=_ALL),
    Resource("batch", "v1", "cronjobs", "CronJob", short_names=("cj",), status=True,
             categories=_ALL),
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress", short_names=("ing",),
             status=True),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy",
             short_names=("netpol",)),
    Resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
             short_names=("hpa",), status=True, categories=_ALL),
    Resource("autoscaling", "v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
             short_names=("hpa",), status=True, categories=_ALL, stored_version="v2"),
    Resource(_RBAC, "v1", "roles", "Role", names="path"),
    Resource(_RBAC, "v1", "rolebindings", "RoleBinding", names="path"),
    Resource(_RBAC, "v1", "clusterroles", "ClusterRole", namespaced=False, names="path"),
    Resource(_RBAC, "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False,
             names="path"),
    Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget",
             short_names=("pdb",), status=True),
    Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    Resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", namespaced=False,
             short_names=("sc",)),
    Resource("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview",
             namespaced=False, verbs=("create",), stored=False),
    Resource("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview",
             namespaced=False, verbs=("create",), stored=False),
    Resource("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview",
             namespaced=False, verbs=("create",), stored=False),
    Resource("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview",
             namespaced=False, verbs=("create",), stored=False),
    Resource("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies",
             "ValidatingAdmissionPolicy", namespaced=False, status=True,
             categories=("api-extensions",)),
    Resource("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings",
             "ValidatingAdmissionPolicyBinding", namespaced=False,
             categories=("api-extensions",)),
)
# fmt: on

_BY_PATH: dict[tuple[str, str], dict[str, Resource]] = {}
_BY_KIND: dict[tuple[str, str], Resource] = {}
for _resource in RESOURCES:
    _BY_PATH.setdefault((_resource.group, _resource.version), {})[_resource.plural] = _resource
    _BY_KIND[(_resource.api_version, _resource.kind)] = _resource


def by_path(group: str, version: str, plural: str) -> Resource | None:
    return _BY_PATH.get((group, version), {}).get(plural)


def known(group: str, version: str, plural: str) -> Resource:
    """A resource this module defines, for code that names one by hand."""
    return _BY_PATH[(group, version)][plural]


def by_kind(api_version: str, kind: str) -> Resource | None:
    return _BY_KIND.get((api_version, kind))


def namespaced_resources() -> list[Resource]:
    """One resource per stored kind (other versions are views of the same objects)."""
    return [
        resource
        for resource in RESOURCES
        if resource.namespaced and resource.stored and not resource.is_view
    ]


def _groups() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for group, version in _BY_PATH:
        if group:
            groups.setdefault(group, [])
            if version not in groups[group]:
                groups[group].append(version)
    return groups


def _group_doc(name: str, versions: list[str]) -> dict:
    entries = [{"groupVersion": f"{name}/{version}", "version": version} for version in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_versions(address: str) -> dict:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def api_group_list() -> dict:
    groups = [_group_doc(name, versions) for name, versions in _groups().items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(name: str) -> dict | None:
    versions = _groups().get(name)
    if versions is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(name, versions)}


def _entry(resource: Resource) -> dict:
    entry: dict = {
        "name": resource.plural,
        "singularName": resource.singular,
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": list(resource.verbs),
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    return entry


def _subresources(resource: Resource) -> list[dict]:
    def sub(name: str, kind: str, verbs: list[str], **extra: str) -> dict:
        return {
            "name": f"{resource.plural}/{name}",
            "singularName": "",
            "namespaced": resource.namespaced,
            "kind": kind,
            "verbs": verbs,
            **extra,
        }

    found = []
    if resource.status:
        found.append(sub("status", resource.kind, ["get", "patch", "update"]))
    if resource.scale:
        found.append(
            sub("scale", "Scale", ["get", "patch", "update"], group="autoscaling", version="v1")
        )
    if resource.key == ("", "pods"):
        found.append(sub("attach", "PodAttachOptions", ["create", "get"]))
        found.append(sub("eviction", "Eviction", ["create"], group="policy", version="v1"))
        found.append(sub("exec", "PodExecOptions", ["create", "get"]))
        found.append(sub("log", "Pod", ["get"]))
        found.append(sub("portforward", "PodPortForwardOptions", ["create", "get"]))
    if resource.key == ("", "serviceaccounts"):
        found.append(
            sub("token", "TokenRequest", ["create"], group="authentication.k8s.io", version="v1")
        )
    return found


def api_resource_list(group: str, version: str) -> dict | None:
    resources = _BY_PATH.get((group, version))
    if resources is None:
        return None
    entries = []
    for resource in resources.values():
        entries.append(_entry(resource))
        entries.extend(_subresources(resource))
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": entries,
    }
