"""What the API server finds invalid in RBAC objects: rules without verbs or groups,
namespaced rules for non-resource URLs, bindings to something that is not a role, subjects of
an unknown kind, and a binding whose roleRef changes (it is immutable)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simcluster.errors import ApiError

if TYPE_CHECKING:
    from simcluster.resources import Resource

__all__ = ["check_rbac_object"]

RBAC_GROUP = "rbac.authorization.k8s.io"
Problem = tuple[str, str, str]


def _go_strings(values: list[str]) -> str:
    return "[]string{" + ", ".join(f'"{value}"' for value in values) + "}"


def _rule_problems(rules: list[dict], namespaced: bool) -> list[Problem]:
    problems = []
    for i, rule in enumerate(rules):
        at = f"rules[{i}]"
        if not rule.get("verbs"):
            why = "Required value: verbs must contain at least one value"
            problems.append((f"{at}.verbs", "FieldValueRequired", why))
        urls = rule.get("nonResourceURLs") or []
        if urls:
            shown = _go_strings(urls)
            if namespaced:
                why = f"Invalid value: {shown}: namespaced rules cannot apply to non-resource URLs"
                problems.append((f"{at}.nonResourceURLs", "FieldValueInvalid", why))
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                why = (
                    f"Invalid value: {shown}: rules cannot apply to both regular resources and "
                    "non-resource URLs"
                )
                problems.append((f"{at}.nonResourceURLs", "FieldValueInvalid", why))
            continue
        if not rule.get("apiGroups"):
            why = "Required value: resource rules must supply at least one api group"
            problems.append((f"{at}.apiGroups", "FieldValueRequired", why))
        if not rule.get("resources"):
            why = "Required value: resource rules must supply at least one resource"
            problems.append((f"{at}.resources", "FieldValueRequired", why))
    return problems


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f'"{value}"' for value in values)


def _binding_problems(binding: dict, old: dict | None, namespaced: bool) -> list[Problem]:
    problems = []
    ref = binding.get("roleRef") or {}
    kinds = ("Role", "ClusterRole") if namespaced else ("ClusterRole",)
    if ref.get("apiGroup") != RBAC_GROUP:
        why = f'Unsupported value: "{ref.get("apiGroup", "")}": supported values: "{RBAC_GROUP}"'
        problems.append(("roleRef.apiGroup", "FieldValueNotSupported", why))
    if ref.get("kind") not in kinds:
        why = f'Unsupported value: "{ref.get("kind", "")}": supported values: {_quoted(kinds)}'
        problems.append(("roleRef.kind", "FieldValueNotSupported", why))
    if not ref.get("name"):
        problems.append(("roleRef.name", "FieldValueRequired", "Required value"))
    if old is not None and (old.get("roleRef") or {}) != ref:
        shown = (
            f'rbac.RoleRef{{APIGroup:"{ref.get("apiGroup", "")}", Kind:"{ref.get("kind", "")}", '
            f'Name:"{ref.get("name", "")}"}}'
        )
        problems.append(
            ("roleRef", "FieldValueInvalid", f"Invalid value: {shown}: cannot change roleRef")
        )
    for i, subject in enumerate(binding.get("subjects") or []):
        kind = subject.get("kind")
        if kind not in ("ServiceAccount", "User", "Group"):
            supported = _quoted(("ServiceAccount", "User", "Group"))
            why = f'Unsupported value: "{kind or ""}": supported values: {supported}'
            problems.append((f"subjects[{i}].kind", "FieldValueNotSupported", why))
        if not subject.get("name"):
            problems.append((f"subjects[{i}].name", "FieldValueRequired", "Required value"))
        if kind == "ServiceAccount" and not namespaced and not subject.get("namespace"):
            problems.append((f"subjects[{i}].namespace", "FieldValueRequired", "Required value"))
    return problems


def check_rbac_object(resource: Resource, obj: dict, old: dict | None) -> None:
    """Raise the 422 a real server answers for an invalid Role, ClusterRole or binding."""
    if resource.group != RBAC_GROUP:
        return
    if resource.plural in ("roles", "clusterroles"):
        problems = _rule_problems(obj.get("rules") or [], resource.namespaced)
    else:
        problems = _binding_problems(obj, old, resource.namespaced)
    if problems:
        raise ApiError.invalid(resource, obj["metadata"]["name"], problems)
