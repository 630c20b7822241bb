"""Authorisation by RBAC, as kube-apiserver's RBAC authoriser decides it.

Every request is turned into attributes as the API server's RequestInfoFactory does (verb,
API group, resource, subresource, namespace, name — or a non-resource path) and allowed when
a PolicyRule of a Role or ClusterRole bound to the user, one of their groups or their service
account covers it. Members of ``system:masters`` may do everything (the privileged-group
authoriser that comes before RBAC). A refusal is kube-apiserver's 403 Status, word for word:

    pods is forbidden: User "system:serviceaccount:lab-a:trainee" cannot list resource
    "pods" in API group "" in the namespace "lab-b"
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simcluster.auth import MASTERS, SERVICE_ACCOUNT_PREFIX, UserInfo
from simcluster.errors import ApiError
from simcluster.resources import known

if TYPE_CHECKING:
    from aiohttp import web

    from simcluster.store import Store

__all__ = [
    "RBAC_GROUP",
    "Attributes",
    "Authorizer",
    "Decision",
    "forbidden",
    "go_quote",
    "request_attributes",
    "rule_allows",
]

RBAC_GROUP = "rbac.authorization.k8s.io"
ROLES = known(RBAC_GROUP, "v1", "roles")
CLUSTER_ROLES = known(RBAC_GROUP, "v1", "clusterroles")
ROLE_BINDINGS = known(RBAC_GROUP, "v1", "rolebindings")
CLUSTER_ROLE_BINDINGS = known(RBAC_GROUP, "v1", "clusterrolebindings")

_SPECIAL_VERBS = ("proxy", "watch")
_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_METHOD_VERBS = {
    "POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch",
    "DELETE": "delete",
}  # fmt: skip
_TRUE = ("1", "t", "T", "true", "TRUE", "True")  # Go's strconv.ParseBool


@dataclass(frozen=True)
class Attributes:
    """What a request asks to do, as an authoriser sees it."""

    user: UserInfo
    verb: str
    resource_request: bool
    path: str = ""
    namespace: str = ""
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""

    @property
    def combined_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def _name_from_field_selector(selector: str) -> str:
    """The name a list or watch is narrowed to by ``metadata.name=x``, as RequestInfo reads it."""
    for term in selector.split(","):
        key, operator, value = term.partition("==") if "==" in term else term.partition("=")
        if operator and not key.endswith("!") and key.strip() == "metadata.name":
            value = value.strip()
            if value and value not in (".", "..") and "/" not in value and "%" not in value:
                return value
    return ""


def request_attributes(request: web.Request, user: UserInfo) -> Attributes:
    """The attributes of an HTTP request, parsed as RequestInfoFactory parses the URL: without
    knowing which resources exist (so an unknown resource is refused before it is not found)."""
    path, method = request.path, request.method
    parts = [part for part in path.strip("/").split("/") if part] if path.strip("/") else []
    non_resource = Attributes(user, method.lower(), False, path=path)
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return non_resource
    current = parts[1:]
    group = ""
    if parts[0] == "apis":
        if len(current) < 3:
            return non_resource
        group, current = current[0], current[1:]
    version, current = current[0], current[1:]
    if current[0] in _SPECIAL_VERBS:
        if len(current) < 2:
            return Attributes(user, "", True, path=path, api_group=group, api_version=version)
        verb, current = current[0], current[1:]
    else:
        verb = _METHOD_VERBS.get(method, "")
    namespace = ""
    if current[0] == "namespaces" and len(current) > 1:
        namespace = current[1]
        if len(current) > 2 and current[2] not in _NAMESPACE_SUBRESOURCES:
            current = current[2:]
    resource = current[0]
    name = current[1] if len(current) >= 2 else ""
    subresource = current[2] if len(current) >= 3 and verb != "proxy" else ""
    if not name and verb == "get":
        verb = "watch" if request.query.get("watch", "") in _TRUE else "list"
        name = _name_from_field_selector(request.query.get("fieldSelector", ""))
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(
        user, verb, True, path=path, namespace=namespace, api_group=group,
        api_version=version, resource=resource, subresource=subresource, name=name,
    )  # fmt: skip


# -- rules ----------------------------------------------------------------------------------


def _resource_matches(rule: dict, combined: str, subresource: str) -> bool:
    for wanted in rule.get("resources") or []:
        if wanted in ("*", combined):
            return True
        # "*/status" grants a subresource of every resource.
        if subresource and wanted == f"*/{subresource}":
            return True
    return False


def _url_matches(rule: dict, path: str) -> bool:
    for wanted in rule.get("nonResourceURLs") or []:
        if wanted in ("*", path):
            return True
        if wanted.endswith("*") and path.startswith(wanted.rstrip("*")):
            return True
    return False


def rule_allows(attributes: Attributes, rule: dict) -> bool:
    """Whether one PolicyRule covers the request (RBAC's RuleAllows)."""
    verbs = rule.get("verbs") or []
    if "*" not in verbs and attributes.verb not in verbs:
        return False
    if not attributes.resource_request:
        return _url_matches(rule, attributes.path)
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attributes.api_group not in groups:
        return False
    if not _resource_matches(rule, attributes.combined_resource, attributes.subresource):
        return False
    names = rule.get("resourceNames") or []
    return not names or attributes.name in names


def _applies(subject: dict, user: UserInfo, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return user.username == name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return bool(namespace) and user.username == f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"
    return False


def _describe_subject(subject: dict, binding_namespace: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return f"ServiceAccount {go_quote(subject.get('name', '') + '/' + namespace)}"
    return f"{subject.get('kind')} {go_quote(subject.get('name', ''))}"


def go_quote(text: str) -> str:
    """A string as Go's %q prints it (for the plain text of names and paths)."""
    return json.dumps(text, ensure_ascii=False)


@dataclass
class _Visit:
    """The rules that apply to a user, each with where it came from, and what could not be
    resolved (a binding whose role is missing)."""

    rules: list[tuple[str, dict]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Authorizer:
    """RBAC over the Roles, ClusterRoles and bindings in ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _role_rules(self, ref: dict, namespace: str, *, plural: bool = False) -> list[dict]:
        """The rules of a binding's roleRef; raises LookupError naming what is missing.
        The authoriser's informers name the resource in the singular, the registry in the
        plural; both messages are kept."""
        kind, name = ref.get("kind"), ref.get("name", "")
        if kind == "ClusterRole":
            role = self.store.get(CLUSTER_ROLES, None, name)
            noun = "clusterroles" if plural else "clusterrole"
        elif kind == "Role":
            role = self.store.get(ROLES, namespace, name)
            noun = "roles" if plural else "role"
        else:
            raise LookupError(f"unsupported role reference kind: {go_quote(str(kind))}")
        if role is None:
            raise LookupError(f"{noun}.{RBAC_GROUP} {go_quote(name)} not found")
        return list(role.get("rules") or [])

    def role_reference_rules(self, ref: dict, namespace: str) -> list[dict]:
        return self._role_rules(ref, namespace, plural=True)

    def _visit(self, user: UserInfo, namespace: str) -> Iterator[tuple[str, dict] | str]:
        """Every rule bound to ``user`` in ``namespace`` (cluster-wide ones first, as RBAC
        visits them) with its source; a string for a binding that could not be resolved."""
        bindings, _ = self.store.list(CLUSTER_ROLE_BINDINGS)
        for binding in bindings:
            for subject in binding.get("subjects") or []:
                if not _applies(subject, user, ""):
                    continue
                ref = binding.get("roleRef") or {}
                try:
                    rules = self._role_rules(ref, "")
                except LookupError as error:
                    yield str(error)
                    break
                source = (
                    f"ClusterRoleBinding {go_quote(binding['metadata']['name'])} of "
                    f"{ref.get('kind')} {go_quote(ref.get('name', ''))} to "
                    f"{_describe_subject(subject, '')}"
                )
                for rule in rules:
                    yield source, rule
                break
        if not namespace:
            return
        bindings, _ = self.store.list(ROLE_BINDINGS, namespace)
        for binding in bindings:
            for subject in binding.get("subjects") or []:
                if not _applies(subject, user, namespace):
                    continue
                ref = binding.get("roleRef") or {}
                try:
                    rules = self._role_rules(ref, namespace)
                except LookupError as error:
                    yield str(error)
                    break
                name = f"{binding['metadata']['name']}/{namespace}"
                source = (
                    f"RoleBinding {go_quote(name)} of {ref.get('kind')} "
                    f"{go_quote(ref.get('name', ''))} to {_describe_subject(subject, namespace)}"
                )
                for rule in rules:
                    yield source, rule
                break

    def authorize(self, attributes: Attributes) -> Decision:
        if MASTERS in attributes.user.groups:
            return Decision(True)
        errors = []
        for found in self._visit(attributes.user, attributes.namespace):
            if isinstance(found, str):
                errors.append(found)
            elif rule_allows(attributes, found[1]):
                return Decision(True, f"RBAC: allowed by {found[0]}")
        if not errors:
            return Decision(False)
        shown = errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]"
        return Decision(False, f"RBAC: {shown}")

    def allows(self, attributes: Attributes) -> bool:
        return self.authorize(attributes).allowed

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict], list[str]]:
        """The rules that apply to ``user`` in ``namespace`` ("" for cluster-wide ones only),
        and the bindings that could not be resolved."""
        rules: list[dict] = []
        errors: list[str] = []
        if MASTERS in user.groups:
            # What the privileged-group authoriser grants, before what RBAC binds.
            rules += [
                {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                {"verbs": ["*"], "nonResourceURLs": ["*"]},
            ]
        for found in self._visit(user, namespace):
            if isinstance(found, str):
                errors.append(found)
            else:
                rules.append(found[1])
        return rules, errors

    def check(self, attributes: Attributes) -> None:
        """Raise the 403 a real server answers when the request is not allowed."""
        decision = self.authorize(attributes)
        if not decision.allowed:
            raise forbidden(attributes, decision.reason)


def _forbidden_message(attributes: Attributes) -> str:
    user = go_quote(attributes.user.username)
    if not attributes.resource_request:
        return f"User {user} cannot {attributes.verb} path {go_quote(attributes.path)}"
    resource, group = go_quote(attributes.combined_resource), go_quote(attributes.api_group)
    start = f"User {user} cannot {attributes.verb} resource {resource} in API group {group}"
    if attributes.namespace:
        return f"{start} in the namespace {go_quote(attributes.namespace)}"
    return f"{start} at the cluster scope"


def _sanitize(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def forbidden(attributes: Attributes, reason: str = "") -> ApiError:
    """The Status of a refused request, as the API server's authorization filter writes it."""
    message = _sanitize(_forbidden_message(attributes))
    if reason:
        message = f"{message}: {reason}"
    details: dict[str, Any] = {}
    if not attributes.resource_request:
        return ApiError(403, f"forbidden: {message}", details=details)
    qualified = attributes.resource
    if attributes.api_group:
        qualified = f"{attributes.resource}.{attributes.api_group}"
    if attributes.name:
        details["name"] = attributes.name
        message = f"{qualified} {go_quote(attributes.name)} is forbidden: {message}"
    else:
        message = f"{qualified} is forbidden: {message}"
    if attributes.api_group:
        details["group"] = attributes.api_group
    details["kind"] = attributes.resource
    return ApiError(403, message, details=details)
