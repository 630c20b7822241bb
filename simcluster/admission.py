"""Admission: what a write through the API passes before it is stored.

`Gate` is one request's admission, called by the store just before it commits (after the
object was validated and defaulted, as validating admission comes last on a real server):

1. RBAC's escalation prevention for Roles, ClusterRoles and their bindings (`escalation`);
2. every ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1) bound by a
   ValidatingAdmissionPolicyBinding whose policy's ``matchConstraints`` and the binding's
   ``matchResources`` match the request (resource rules with operations, groups, versions,
   resources and scope, exclusions, namespace and object selectors). Its ``variables``,
   ``matchConditions`` and ``validations`` are evaluated in CEL (`simcluster.cel`) over
   ``object``, ``oldObject``, ``request``, ``namespaceObject``, ``params`` and ``variables``.
   A failed validation with the action Deny refuses the request as kube-apiserver does (422
   Invalid, or the validation's ``reason``); Warn adds a ``Warning`` header; Audit is not
   recorded (there is no audit log). An expression that does not compile or fails follows the
   policy's ``failurePolicy`` (Fail unless it says Ignore).

Before the policies come the built-in plugins (`simcluster.plugins`: LimitRanger mutates a new
pod, LimitRanger and PodSecurity validate it), after them ResourceQuota, as on a real server.
What controllers write (a namespace's default ServiceAccount, a pod's status) goes to the
store directly and passes none of this, except the pods and claims that workload controllers
create, which pass the built-in plugins; writes to ``scale`` subresources pass no admission.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simcluster.auth import USER
from simcluster.cel import (
    CelError,
    compile_expression,
    evaluate,
    evaluate_bool,
    to_cel,
    to_cel_map,
)
from simcluster.errors import ApiError
from simcluster.escalation import prevent_escalation
from simcluster.messages import warn
from simcluster.plugins import BuiltIns
from simcluster.rbac_validation import check_rbac_object
from simcluster.resources import Resource, by_kind, known
from simcluster.selectors import label_selector_matches

if TYPE_CHECKING:
    from aiohttp import web

    from simcluster.auth import UserInfo
    from simcluster.cluster import KubeStandIn
    from simcluster.store import Store

__all__ = ["Gate", "Policies", "check_policy_object"]

_GROUP = "admissionregistration.k8s.io"
POLICIES = known(_GROUP, "v1", "validatingadmissionpolicies")
BINDINGS = known(_GROUP, "v1", "validatingadmissionpolicybindings")
NAMESPACES = known("", "v1", "namespaces")
_CODES = {"Forbidden": 403, "Unauthorized": 401, "RequestEntityTooLarge": 413, "Invalid": 422}
_OPTIONS = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}


@dataclass(frozen=True)
class Request:
    """One write as admission sees it."""

    operation: str
    resource: Resource
    subresource: str
    namespace: str
    name: str
    obj: dict | None
    old: dict | None
    user: UserInfo
    dry_run: bool


@dataclass(frozen=True)
class _Decision:
    policy: str
    binding: str
    actions: tuple[str, ...]
    message: str
    reason: str


def _split(rule_resource: str) -> tuple[str, str]:
    resource, _, sub = rule_resource.partition("/")
    return resource, sub


def _rule_matches(rule: dict, request: Request) -> bool:
    resource = request.resource
    operations = rule.get("operations") or []
    if "*" not in operations and request.operation not in operations:
        return False
    groups, versions = rule.get("apiGroups") or [], rule.get("apiVersions") or []
    if "*" not in groups and resource.group not in groups:
        return False
    if "*" not in versions and resource.version not in versions:
        return False
    if not any(
        res in ("*", resource.plural) and sub in ("*", request.subresource)
        for res, sub in map(_split, rule.get("resources") or [])
    ):
        return False
    scope = rule.get("scope") or "*"
    if scope != "*" and (scope == "Namespaced") != resource.namespaced:
        return False
    names = rule.get("resourceNames") or []
    return not names or request.name in names


class Policies:
    """The ValidatingAdmissionPolicies in ``store`` and their bindings, applied to writes."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- matching -------------------------------------------------------------------------

    def _namespace_labels(self, request: Request) -> dict[str, str] | None:
        if request.resource is NAMESPACES:
            obj = request.obj or request.old or {}
            return obj["metadata"].get("labels") or {}
        found = self.store.get(NAMESPACES, None, request.namespace)
        return None if found is None else found["metadata"].get("labels") or {}

    def _matches(self, constraints: dict, request: Request) -> bool:
        # No resource rules (a binding's matchResources may leave them out) match everything.
        rules = constraints.get("resourceRules") or []
        if rules and not any(_rule_matches(rule, request) for rule in rules):
            return False
        excluded = constraints.get("excludeResourceRules") or []
        if any(_rule_matches(rule, request) for rule in excluded):
            return False
        selector = constraints.get("namespaceSelector") or {}
        cluster_scoped = not request.namespace and request.resource is not NAMESPACES
        if selector and not cluster_scoped:
            labels = self._namespace_labels(request)
            if labels is None or not label_selector_matches(selector, labels):
                return False
        selector = constraints.get("objectSelector") or {}
        if selector:
            return any(
                obj is not None and label_selector_matches(selector, obj["metadata"].get("labels"))
                for obj in (request.obj, request.old)
            )
        return True

    # -- evaluation -----------------------------------------------------------------------

    def _activation(self, request: Request, params: dict | None) -> dict[str, Any]:
        resource = request.resource
        namespace = None
        if resource.namespaced and request.namespace:
            namespace = self.store.get(NAMESPACES, None, request.namespace)
        kind = {"group": resource.group, "version": resource.version, "kind": resource.kind}
        gvr = {"group": resource.group, "version": resource.version, "resource": resource.plural}
        review = {
            "kind": kind,
            "resource": gvr,
            "subResource": request.subresource,
            "requestKind": kind,
            "requestResource": gvr,
            "requestSubResource": request.subresource,
            "name": request.name,
            "namespace": request.namespace,
            "operation": request.operation,
            "userInfo": request.user.as_dict(),
            "dryRun": request.dry_run,
            "options": {"kind": _OPTIONS[request.operation], "apiVersion": "meta.k8s.io/v1"},
        }
        return {
            "object": to_cel(request.obj),
            "oldObject": to_cel(request.old),
            "request": to_cel(review),
            "namespaceObject": to_cel(namespace),
            "params": to_cel(params),
        }

    def _params(self, spec: dict, binding: dict, request: Request) -> list[dict | None]:
        """The parameter objects the binding names (one evaluation each), or [None]."""
        kind = spec.get("paramKind")
        if not kind:
            return [None]
        ref = (binding.get("spec") or {}).get("paramRef")
        resource = by_kind(kind.get("apiVersion", ""), kind.get("kind", ""))
        if ref is None:
            raise CelError("failed to configure binding: paramRef is required with paramKind")
        if resource is None or not resource.stored:
            api_version, name = kind.get("apiVersion", ""), kind.get("kind", "")
            raise CelError(f"failed to configure policy: no resource for {api_version}, {name}")
        namespace = None
        if resource.namespaced:
            namespace = ref.get("namespace") or request.namespace
        if ref.get("name"):
            found = self.store.get(resource, namespace, ref["name"])
            params = [found] if found is not None else []
        else:
            selector = ref.get("selector") or {}
            items, _ = self.store.list(resource, namespace)
            params = [
                item
                for item in items
                if label_selector_matches(selector, item["metadata"].get("labels"))
            ]
        if not params:
            if ref.get("parameterNotFoundAction") == "Allow":
                return []
            raise CelError("no params found for policy binding with `Deny` parameterNotFoundAction")
        return params

    def _evaluate(self, spec: dict, activation: dict[str, Any]) -> list[tuple[str, str]]:
        """The (message, reason) of every validation that fails; [] when the policy's match
        conditions leave the request out. Raises `CelError` for a failing expression."""
        variables: dict[str, Any] = {}
        for variable in spec.get("variables") or []:
            try:
                value = evaluate(
                    variable["expression"], {**activation, "variables": to_cel_map(variables)}
                )
            except CelError:
                continue  # as on a real server, the error surfaces where the variable is used
            variables = {**variables, variable["name"]: value}
        activation = {**activation, "variables": to_cel_map(variables)}
        # A false condition leaves the request out even when another one fails.
        errors: list[CelError] = []
        for condition in spec.get("matchConditions") or []:
            try:
                if not evaluate_bool(condition["expression"], activation):
                    return []
            except CelError as error:
                errors.append(error)
        if errors:
            raise errors[0]
        failures = []
        for validation in spec.get("validations") or []:
            expression = validation.get("expression", "")
            if evaluate_bool(expression, activation):
                continue
            message = ""
            if validation.get("messageExpression"):
                try:
                    shown = evaluate(validation["messageExpression"], activation)
                    message = str(shown).strip() if isinstance(shown, str) else ""
                except CelError:
                    message = ""
            message = message or (validation.get("message") or "").strip()
            message = message or f"failed expression: {expression.strip()}"
            failures.append((message, validation.get("reason") or "Invalid"))
        return failures

    def admit(self, request: Request) -> list[str]:
        """Raise the refusal of the first policy that denies ``request``; return the warnings
        of those that only warn."""
        policies, _ = self.store.list(POLICIES)
        bindings, _ = self.store.list(BINDINGS)
        denied: list[_Decision] = []
        warnings: list[str] = []
        for policy in policies:
            spec = policy.get("spec") or {}
            name = policy["metadata"]["name"]
            ours = [b for b in bindings if (b.get("spec") or {}).get("policyName") == name]
            if not ours or not self._matches(spec.get("matchConstraints") or {}, request):
                continue
            for binding in ours:
                binding_spec = binding.get("spec") or {}
                resources = binding_spec.get("matchResources")
                if resources is not None and not self._matches(resources, request):
                    continue
                actions = tuple(binding_spec.get("validationActions") or ["Deny"])
                for message, reason in self._run(spec, binding, request):
                    denied.append(
                        _Decision(name, binding["metadata"]["name"], actions, message, reason)
                    )
        for decision in denied:
            if "Warn" in decision.actions:
                warnings.append(
                    f"Validation failed for ValidatingAdmissionPolicy '{decision.policy}' with "
                    f"binding '{decision.binding}': {decision.message}"
                )
        refusing = [decision for decision in denied if "Deny" in decision.actions]
        if refusing:
            raise _refusal(request, refusing[0])
        return warnings

    def _run(self, spec: dict, binding: dict, request: Request) -> list[tuple[str, str]]:
        try:
            failures = []
            for params in self._params(spec, binding, request):
                failures += self._evaluate(spec, self._activation(request, params))
            return failures
        except CelError as error:
            if spec.get("failurePolicy") == "Ignore":
                return []
            return [(str(error), "Invalid")]


def _refusal(request: Request, decision: _Decision) -> ApiError:
    resource = request.resource
    message = (
        f"ValidatingAdmissionPolicy '{decision.policy}' with binding '{decision.binding}' "
        f"denied request: {decision.message}"
    )
    obj = request.obj or request.old or {}
    meta = obj.get("metadata") or {}
    name = request.name or meta.get("name") or meta.get("generateName") or "Unknown"
    details: dict[str, Any] = {"name": name}
    if resource.group:
        details["group"] = resource.group
    details["kind"] = resource.plural
    details["causes"] = [{"message": message}]
    return ApiError(
        _CODES.get(decision.reason, 422),
        f'{resource.qualified} "{name}" is forbidden: {message}',
        reason=decision.reason,
        details=details,
    )


# -- the policy objects themselves -------------------------------------------------------------


def _expressions(spec: dict) -> list[tuple[str, str]]:
    """(field path, expression) of every CEL expression in a policy's spec."""
    found = []
    for key, fields in (
        ("variables", ("expression",)),
        ("matchConditions", ("expression",)),
        ("validations", ("expression", "messageExpression")),
        ("auditAnnotations", ("valueExpression",)),
    ):
        for i, item in enumerate(spec.get(key) or []):
            for field in fields:
                if isinstance(item, dict) and item.get(field):
                    found.append((f"spec.{key}[{i}].{field}", item[field]))
    return found


def _policy_problems(spec: dict) -> list[tuple[str, str, str]]:
    problems = []
    if not (spec.get("matchConstraints") or {}).get("resourceRules"):
        problems.append(
            ("spec.matchConstraints.resourceRules", "FieldValueRequired", "Required value")
        )
    if not spec.get("validations") and not spec.get("auditAnnotations"):
        why = "Required value: validations or auditAnnotations must contain at least one item"
        problems.append(("spec.validations", "FieldValueRequired", why))
    if spec.get("failurePolicy") not in (None, "Fail", "Ignore"):
        why = f'Unsupported value: "{spec["failurePolicy"]}": supported values: "Fail", "Ignore"'
        problems.append(("spec.failurePolicy", "FieldValueNotSupported", why))
    for path, expression in _expressions(spec):
        try:
            compile_expression(expression)
        except CelError as error:
            problems.append((path, "FieldValueInvalid", f'Invalid value: "{expression}": {error}'))
    return problems


def _binding_problems(spec: dict) -> list[tuple[str, str, str]]:
    problems = []
    if not spec.get("policyName"):
        problems.append(("spec.policyName", "FieldValueRequired", "Required value"))
    actions = spec.get("validationActions") or []
    if not actions:
        why = "Required value: at least one validation action is required"
        problems.append(("spec.validationActions", "FieldValueRequired", why))
    for i, action in enumerate(actions):
        if action not in ("Deny", "Warn", "Audit"):
            why = f'Unsupported value: "{action}": supported values: "Audit", "Deny", "Warn"'
            problems.append((f"spec.validationActions[{i}]", "FieldValueNotSupported", why))
    if "Deny" in actions and "Warn" in actions:
        why = "Invalid value: cannot use both Deny and Warn"
        problems.append(("spec.validationActions", "FieldValueInvalid", why))
    return problems


def check_policy_object(resource: Resource, obj: dict) -> None:
    """Refuse a ValidatingAdmissionPolicy or binding the API server would call invalid: one
    without what it needs, or with an expression that does not compile."""
    spec = obj.get("spec") or {}
    if resource is POLICIES:
        problems = _policy_problems(spec)
    elif resource is BINDINGS:
        problems = _binding_problems(spec)
    else:
        return
    if problems:
        raise ApiError.invalid(resource, obj["metadata"]["name"], problems)


# -- one request's gate ------------------------------------------------------------------------


class Gate:
    """The admission of one HTTP request; the store calls ``mutate`` before it validates a new
    object and the gate itself just before it commits a write."""

    def __init__(self, cluster: KubeStandIn, request: web.Request, subresource: str | None) -> None:
        self.cluster = cluster
        self.request = request
        self.user = request[USER]
        self.subresource = subresource or ""
        self.dry_run = "All" in request.query.getall("dryRun", [])
        self.builtins = BuiltIns(cluster.store)

    def mutate(self, operation: str, resource: Resource, obj: dict) -> None:
        if not self.subresource:
            self.builtins.mutate(operation, resource, obj)

    def __call__(
        self, operation: str, resource: Resource, obj: dict | None, old: dict | None
    ) -> None:
        current = obj if obj is not None else old
        assert current is not None
        meta = current["metadata"]
        namespace = meta.get("namespace", "") if resource.namespaced else ""
        if obj is not None and not self.subresource:
            check_policy_object(resource, obj)
            # As the RBAC registry: whether the user may grant it, then whether it is valid.
            prevent_escalation(self.cluster.authorizer, self.user, resource, namespace, obj, old)
            check_rbac_object(resource, obj, old)
        if not self.subresource:
            self.builtins.validate_early(
                operation, resource, obj, old, lambda text: warn(self.request, text)
            )
        request = Request(
            operation, resource, self.subresource, namespace, meta.get("name", ""),
            obj, old, self.user, self.dry_run,
        )  # fmt: skip
        for text in self.cluster.policies.admit(request):
            warn(self.request, text)
        if not self.subresource:
            self.builtins.validate_late(operation, resource, obj, old)
