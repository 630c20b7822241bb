"""The default RBAC policy a new cluster has, and the ClusterRole aggregation controller.

The roles are those of kube-apiserver's bootstrap policy that matter to a cluster like this
one, with their real names, rules (for the API groups served here and the ones the real roles
name) and bindings:

- ``cluster-admin``, bound to the group ``system:masters``;
- ``system:discovery`` and ``system:basic-user`` (discovery, OpenAPI, version; the self
  reviews behind ``kubectl auth can-i`` and ``auth whoami``) for ``system:authenticated``;
- ``system:public-info-viewer`` (version and health) for everyone, anonymous included;
- the user-facing ``admin``, ``edit`` and ``view``, aggregated from
  ``system:aggregate-to-admin|edit|view`` (and any ClusterRole labelled to join them) by the
  aggregation controller below, as the real controller fills them.
"""

from __future__ import annotations

from simcluster.resources import known
from simcluster.selectors import label_selector_matches
from simcluster.store import Event, Store

__all__ = ["Aggregation", "seed_policy"]

CLUSTER_ROLES = known("rbac.authorization.k8s.io", "v1", "clusterroles")
CLUSTER_ROLE_BINDINGS = known("rbac.authorization.k8s.io", "v1", "clusterrolebindings")

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_TO = "rbac.authorization.k8s.io/aggregate-to-"


def _rule(verbs: list[str], groups: list[str], *resources: str) -> dict:
    return {"verbs": verbs, "apiGroups": groups, "resources": list(resources)}


_VIEW = [
    _rule(READ, [""], "configmaps", "endpoints", "persistentvolumeclaims",
          "persistentvolumeclaims/status", "pods", "replicationcontrollers",
          "replicationcontrollers/scale", "serviceaccounts", "services", "services/status"),
    _rule(READ, [""], "bindings", "events", "limitranges", "namespaces/status", "pods/log",
          "pods/status", "replicationcontrollers/status", "resourcequotas",
          "resourcequotas/status"),
    _rule(READ, [""], "namespaces"),
    _rule(READ, ["discovery.k8s.io"], "endpointslices"),
    _rule(READ, ["apps"], "controllerrevisions", "daemonsets", "daemonsets/status",
          "deployments", "deployments/scale", "deployments/status", "replicasets",
          "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale",
          "statefulsets/status"),
    _rule(READ, ["autoscaling"], "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
    _rule(READ, ["batch"], "cronjobs", "cronjobs/status", "jobs", "jobs/status"),
    _rule(READ, ["extensions"], "daemonsets", "daemonsets/status", "deployments",
          "deployments/scale", "deployments/status", "ingresses", "ingresses/status",
          "networkpolicies", "replicasets", "replicasets/scale", "replicasets/status",
          "replicationcontrollers/scale"),
    _rule(READ, ["policy"], "poddisruptionbudgets", "poddisruptionbudgets/status"),
    _rule(READ, ["networking.k8s.io"], "ingresses", "ingresses/status", "networkpolicies"),
]  # fmt: skip

_EDIT = [
    _rule(READ, [""], "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets",
          "services/proxy"),
    _rule(["impersonate"], [""], "serviceaccounts"),
    _rule(WRITE, [""], "pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"),
    _rule(["create"], [""], "pods/eviction"),
    _rule(WRITE, [""], "configmaps", "events", "persistentvolumeclaims",
          "replicationcontrollers", "replicationcontrollers/scale", "secrets", "serviceaccounts",
          "services", "services/proxy"),
    _rule(["create"], [""], "serviceaccounts/token"),
    _rule(WRITE, ["apps"], "daemonsets", "deployments", "deployments/rollback",
          "deployments/scale", "replicasets", "replicasets/scale", "statefulsets",
          "statefulsets/scale"),
    _rule(WRITE, ["autoscaling"], "horizontalpodautoscalers"),
    _rule(WRITE, ["batch"], "cronjobs", "jobs"),
    _rule(WRITE, ["extensions"], "daemonsets", "deployments", "deployments/rollback",
          "deployments/scale", "ingresses", "networkpolicies", "replicasets",
          "replicasets/scale", "replicationcontrollers/scale"),
    _rule(WRITE, ["policy"], "poddisruptionbudgets"),
    _rule(WRITE, ["networking.k8s.io"], "ingresses", "networkpolicies"),
    _rule(READ + WRITE, ["coordination.k8s.io"], "leases"),
]  # fmt: skip

_ADMIN = [
    _rule(["create"], ["authorization.k8s.io"], "localsubjectaccessreviews"),
    _rule(READ + WRITE, ["rbac.authorization.k8s.io"], "rolebindings", "roles"),
]

_DISCOVERY_URLS = [
    "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
    "/readyz", "/version", "/version/",
]  # fmt: skip
_PUBLIC_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]


def _meta(name: str, labels: dict[str, str] | None = None) -> dict:
    return {
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults", **(labels or {})},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    }


def _aggregated(name: str, into: str | None) -> dict:
    role: dict = {
        "metadata": _meta(name, {f"{_TO}{into}": "true"} if into else None),
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {f"{_TO}{name}": "true"}}]},
        "rules": [],
    }
    return role


def _cluster_roles() -> list[dict]:
    return [
        {
            "metadata": _meta("cluster-admin"),
            "rules": [
                {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                {"verbs": ["*"], "nonResourceURLs": ["*"]},
            ],
        },
        {
            "metadata": _meta("system:discovery"),
            "rules": [{"verbs": ["get"], "nonResourceURLs": _DISCOVERY_URLS}],
        },
        {
            "metadata": _meta("system:basic-user"),
            "rules": [
                _rule(["create"], ["authentication.k8s.io"], "selfsubjectreviews"),
                _rule(
                    ["create"],
                    ["authorization.k8s.io"],
                    "selfsubjectaccessreviews",
                    "selfsubjectrulesreviews",
                ),
            ],
        },
        {
            "metadata": _meta("system:public-info-viewer"),
            "rules": [{"verbs": ["get"], "nonResourceURLs": _PUBLIC_URLS}],
        },
        _aggregated("admin", None),
        _aggregated("edit", "admin"),
        _aggregated("view", "edit"),
        {"metadata": _meta("system:aggregate-to-admin", {f"{_TO}admin": "true"}), "rules": _ADMIN},
        {"metadata": _meta("system:aggregate-to-edit", {f"{_TO}edit": "true"}), "rules": _EDIT},
        {"metadata": _meta("system:aggregate-to-view", {f"{_TO}view": "true"}), "rules": _VIEW},
    ]


def _binding(name: str, *groups: str) -> dict:
    return {
        "metadata": _meta(name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}
            for group in groups
        ],
    }


def seed_policy(store: Store) -> None:
    """Create the default roles and bindings, as kube-apiserver does when it first starts."""
    for role in _cluster_roles():
        store.create(CLUSTER_ROLES, role)
    for binding in (
        _binding("cluster-admin", "system:masters"),
        _binding("system:discovery", "system:authenticated"),
        _binding("system:basic-user", "system:authenticated"),
        _binding("system:public-info-viewer", "system:authenticated", "system:unauthenticated"),
    ):
        store.create(CLUSTER_ROLE_BINDINGS, binding)


class Aggregation:
    """The ClusterRole aggregation controller: a ClusterRole with an ``aggregationRule`` has
    the rules of every ClusterRole its selectors match, kept current as they change."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._running = False
        store.hooks.append(self.on_event)

    def on_event(self, event: Event) -> None:
        # Hooks run under the store's lock, so only this thread can be here; the flag stops
        # the writes below from starting another round inside this one.
        if event.resource is not CLUSTER_ROLES or self._running:
            return
        self._running = True
        try:
            while self._round():
                pass
        finally:
            self._running = False

    def _round(self) -> bool:
        """Bring one aggregated role up to date; False when all of them are."""
        roles, _ = self.store.list(CLUSTER_ROLES)
        for role in roles:
            if role.get("aggregationRule") is None:
                continue
            selectors = (role["aggregationRule"] or {}).get("clusterRoleSelectors") or []
            rules: list[dict] = []
            for other in roles:  # sorted by name, as the controller sorts them
                labels = other["metadata"].get("labels")
                if other is not role and any(
                    label_selector_matches(selector, labels) for selector in selectors
                ):
                    rules.extend(rule for rule in other.get("rules") or [] if rule not in rules)
            if rules != (role.get("rules") or []):
                name = role["metadata"]["name"]
                self.store.mutate(
                    CLUSTER_ROLES, None, name, lambda obj, r=rules: obj.update(rules=r)
                )
                return True
        return False
