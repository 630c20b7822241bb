"""The review kinds, answered and never stored: what ``kubectl auth can-i`` (with ``--list``)
and ``kubectl auth whoami`` ask.

- SelfSubjectAccessReview: may I do this? — RBAC's decision and its reason;
- SelfSubjectRulesReview: what may I do in this namespace? — the rules that apply;
- SubjectAccessReview: may this user do this? — the same, for a user named in the spec;
- SelfSubjectReview (authentication.k8s.io): who am I? — the authenticated user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simcluster.auth import UserInfo
from simcluster.errors import ApiError
from simcluster.rbac import Attributes, Authorizer

if TYPE_CHECKING:
    from simcluster.resources import Resource

__all__ = ["answer"]


def _attributes(resource: Resource, user: UserInfo, spec: dict) -> Attributes:
    resource_attributes = spec.get("resourceAttributes")
    non_resource = spec.get("nonResourceAttributes")
    if (resource_attributes is None) == (non_resource is None):
        why = "exactly one of nonResourceAttributes or resourceAttributes must be specified"
        cause = ("spec.resourceAttributes", "FieldValueInvalid", f"Invalid value: null: {why}")
        raise ApiError.invalid(resource, "", [cause])
    if non_resource is not None:
        return Attributes(
            user, non_resource.get("verb", ""), False, path=non_resource.get("path", "")
        )
    found = resource_attributes
    return Attributes(
        user,
        found.get("verb", ""),
        True,
        namespace=found.get("namespace", ""),
        api_group=found.get("group", ""),
        api_version=found.get("version", ""),
        resource=found.get("resource", ""),
        subresource=found.get("subresource", ""),
        name=found.get("name", ""),
    )


def _decision(authorizer: Authorizer, attributes: Attributes) -> dict[str, Any]:
    decision = authorizer.authorize(attributes)
    status: dict[str, Any] = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    return status


def _rules(authorizer: Authorizer, user: UserInfo, namespace: str) -> dict[str, Any]:
    rules, errors = authorizer.rules_for(user, namespace)
    resource_rules, non_resource_rules = [], []
    for rule in rules:
        if rule.get("resources"):
            shown = {"verbs": rule.get("verbs") or []}
            for key in ("apiGroups", "resources", "resourceNames"):
                if rule.get(key):
                    shown[key] = rule[key]
            resource_rules.append(shown)
        if rule.get("nonResourceURLs"):
            non_resource_rules.append(
                {"verbs": rule.get("verbs") or [], "nonResourceURLs": rule["nonResourceURLs"]}
            )
    status: dict[str, Any] = {
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": False,
    }
    if errors:
        status["evaluationError"] = errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]"
    return status


def _named_user(spec: dict) -> UserInfo:
    extra = {key: tuple(values) for key, values in (spec.get("extra") or {}).items()}
    return UserInfo(
        spec.get("user", ""), uid=spec.get("uid", ""), groups=tuple(spec.get("groups") or ()),
        extra=extra,
    )  # fmt: skip


def answer(authorizer: Authorizer, user: UserInfo, resource: Resource, body: dict) -> dict:
    """The review ``body`` (of kind ``resource``) with its status filled in for ``user``."""
    spec = body.get("spec") or {}
    if resource.kind == "SelfSubjectAccessReview":
        status = _decision(authorizer, _attributes(resource, user, spec))
    elif resource.kind == "SubjectAccessReview":
        if not spec.get("user") and not spec.get("groups"):
            cause = ("spec.user", "FieldValueRequired", "Required value: at least one of user "
                     "or group must be specified")  # fmt: skip
            raise ApiError.invalid(resource, "", [cause])
        status = _decision(authorizer, _attributes(resource, _named_user(spec), spec))
    elif resource.kind == "SelfSubjectRulesReview":
        if not spec.get("namespace"):
            raise ApiError.bad_request("no namespace on request")
        status = _rules(authorizer, user, spec["namespace"])
    elif resource.kind == "SelfSubjectReview":
        return {
            "kind": resource.kind,
            "apiVersion": resource.api_version,
            "metadata": {"creationTimestamp": None},
            "status": {"userInfo": user.as_dict()},
        }
    else:
        raise ApiError.method_not_allowed()
    return {
        "kind": resource.kind,
        "apiVersion": resource.api_version,
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": status,
    }
