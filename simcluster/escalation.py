"""RBAC's escalation prevention: nobody grants a permission they do not hold.

As kube-apiserver's RBAC registry does it: creating or updating a Role or ClusterRole needs
every permission in it already (in that namespace, or cluster-wide), unless the user may
``escalate`` roles; creating or updating a RoleBinding or ClusterRoleBinding needs the
permissions of the role it references, unless the user may ``bind`` that role. Members of
``system:masters`` are exempt, and so is an update that only touches ``finalizers`` or
``ownerReferences`` (what garbage collection writes). The refusal is the real 403:

    roles.rbac.authorization.k8s.io "greedy" is forbidden: user "system:serviceaccount:lab:
    trainee" (groups=["system:serviceaccounts" "system:serviceaccounts:lab" "system:
    authenticated"]) is attempting to grant RBAC permissions not currently held:
    {APIGroups:["*"], Resources:["*"], Verbs:["*"]}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simcluster.auth import MASTERS, UserInfo
from simcluster.errors import ApiError
from simcluster.rbac import RBAC_GROUP, Attributes, Authorizer, go_quote

if TYPE_CHECKING:
    from simcluster.resources import Resource

__all__ = ["compact_string", "covers", "prevent_escalation"]

_ROLES = ("roles", "clusterroles")
_BINDINGS = ("rolebindings", "clusterrolebindings")
_FULL_AUTHORITY = [
    {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
    {"verbs": ["*"], "nonResourceURLs": ["*"]},
]


def _breakdown(rule: dict) -> list[dict]:
    """One rule per group, resource, verb and name (or per URL and verb)."""
    simple: list[dict] = []
    names = rule.get("resourceNames") or []
    for group in rule.get("apiGroups") or []:
        for resource in rule.get("resources") or []:
            for verb in rule.get("verbs") or []:
                base = {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
                simple.extend([{**base, "resourceNames": [n]} for n in names] or [base])
    for url in rule.get("nonResourceURLs") or []:
        for verb in rule.get("verbs") or []:
            simple.append({"nonResourceURLs": [url], "verbs": [verb]})
    return simple


def _resources_cover(owned: list[str], wanted: list[str]) -> bool:
    if "*" in owned or set(wanted) <= set(owned):
        return True
    for path in wanted:
        if path in owned:
            continue
        if "/" not in path or f"*/{path.split('/', 1)[1]}" not in owned:
            return False
    return True


def _url_covers(owner: str, path: str) -> bool:
    return owner == path or (owner.endswith("*") and path.startswith(owner.rstrip("*")))


def _rule_covers(owner: dict, sub: dict) -> bool:
    def field(rule: dict, name: str) -> list[str]:
        return rule.get(name) or []

    verbs = "*" in field(owner, "verbs") or set(field(sub, "verbs")) <= set(field(owner, "verbs"))
    groups = "*" in field(owner, "apiGroups") or set(field(sub, "apiGroups")) <= set(
        field(owner, "apiGroups")
    )
    resources = _resources_cover(field(owner, "resources"), field(sub, "resources"))
    urls = all(
        any(_url_covers(o, path) for o in field(owner, "nonResourceURLs"))
        for path in field(sub, "nonResourceURLs")
    )
    owner_names, sub_names = field(owner, "resourceNames"), field(sub, "resourceNames")
    names = not owner_names or (bool(sub_names) and set(sub_names) <= set(owner_names))
    return verbs and groups and resources and urls and names


def covers(owned: list[dict], wanted: list[dict]) -> tuple[bool, list[dict]]:
    """Whether ``owned`` rules cover every permission of ``wanted``, and the ones missing."""
    missing = [
        sub
        for rule in wanted
        for sub in _breakdown(rule)
        if not any(_rule_covers(owner, sub) for owner in owned)
    ]
    return not missing, missing


def _compact(rules: list[dict]) -> list[dict]:
    """Rules for one resource of one group (and at most one name) merged into one, verbs added
    up, as the registry shortens the list of missing permissions."""
    compacted: list[dict] = []
    simple: dict[tuple[str, str, str | None], dict] = {}
    for rule in rules:
        names = rule.get("resourceNames") or []
        groups, resources = rule.get("apiGroups") or [], rule.get("resources") or []
        if len(names) > 1 or rule.get("nonResourceURLs") or len(groups) != 1 or len(resources) != 1:
            compacted.append(rule)
            continue
        key = (groups[0], resources[0], names[0] if names else None)
        if key in simple:
            simple[key]["verbs"] = simple[key]["verbs"] + list(rule.get("verbs") or [])
        else:
            simple[key] = {k: list(v) for k, v in rule.items()}
    return compacted + list(simple.values())


def _go_list(values: list[str]) -> str:
    return "[" + " ".join(go_quote(value) for value in values) + "]"


def compact_string(rule: dict) -> str:
    """A rule as the escalation message prints it: ``{APIGroups:["apps"], Verbs:["get"]}``."""
    parts = []
    for label, key in (
        ("APIGroups", "apiGroups"),
        ("Resources", "resources"),
        ("NonResourceURLs", "nonResourceURLs"),
        ("ResourceNames", "resourceNames"),
        ("Verbs", "verbs"),
    ):
        if rule.get(key):
            parts.append(f"{label}:{_go_list(rule[key])}")
    return "{" + ", ".join(parts) + "}"


def _confirm_no_escalation(
    authorizer: Authorizer, user: UserInfo, namespace: str, rules: list[dict]
) -> str | None:
    """Why granting ``rules`` would be an escalation for ``user``, or None when it is not."""
    owned, errors = authorizer.rules_for(user, namespace)
    held, missing = covers(owned, rules)
    if held:
        return None
    shown = sorted({compact_string(rule) for rule in _compact(missing)})
    message = (
        f"user {go_quote(user.username)} (groups={_go_list(list(user.groups))}) is attempting "
        f"to grant RBAC permissions not currently held:\n" + "\n".join(shown)
    )
    if errors:
        # Go prints the one aggregated error in a slice: [msg], or [[msg1, msg2]].
        inner = errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]"
        message += f"; resolution errors: [{inner}]"
    return message


def _only_gc_fields_changed(new: dict, old: dict) -> bool:
    def without_gc(obj: dict) -> dict:
        meta = {
            key: value
            for key, value in (obj.get("metadata") or {}).items()
            if key not in ("finalizers", "ownerReferences", "resourceVersion", "generation")
        }
        return {**obj, "metadata": meta}

    return without_gc(new) == without_gc(old)


def _refuse(resource: Resource, name: str, why: str) -> ApiError:
    return ApiError.forbidden(resource, name, why)


def prevent_escalation(
    authorizer: Authorizer,
    user: UserInfo,
    resource: Resource,
    namespace: str,
    new: dict,
    old: dict | None,
) -> None:
    """Raise the 403 the RBAC registry answers when writing ``new`` (a role or binding; ``old``
    is the stored one on an update) would grant ``user`` more than they hold."""
    if resource.group != RBAC_GROUP or MASTERS in user.groups:
        return
    if old is not None and _only_gc_fields_changed(new, old):
        return
    name = new["metadata"]["name"]
    if resource.plural in _ROLES:
        escalate = Attributes(
            user, "escalate", True, namespace=namespace, api_group=RBAC_GROUP, api_version="*",
            resource=resource.plural, name=name if old is not None else "",
        )  # fmt: skip
        if authorizer.allows(escalate):
            return
        why = _confirm_no_escalation(authorizer, user, namespace, new.get("rules") or [])
        if why is not None:
            raise _refuse(resource, name, why)
        aggregates = resource.plural == "clusterroles" and bool(new.get("aggregationRule"))
        if aggregates and _confirm_no_escalation(authorizer, user, namespace, _FULL_AUTHORITY):
            why = "must have cluster-admin privileges to use the aggregationRule"
            raise _refuse(resource, name, why)
    elif resource.plural in _BINDINGS:
        ref: dict[str, Any] = new.get("roleRef") or {}
        role_resource = {"ClusterRole": "clusterroles", "Role": "roles"}.get(ref.get("kind", ""))
        if role_resource is not None:
            bind = Attributes(
                user, "bind", True, namespace=namespace, api_group=ref.get("apiGroup", ""),
                resource=role_resource, name=ref.get("name", ""),
            )  # fmt: skip
            if authorizer.allows(bind):
                return
        try:
            rules = authorizer.role_reference_rules(ref, namespace)
        except LookupError as error:
            raise _refuse(resource, name, str(error)) from None
        why = _confirm_no_escalation(authorizer, user, namespace, rules)
        if why is not None:
            raise _refuse(resource, name, why)
