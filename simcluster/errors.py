"""Failures as the Kubernetes API server reports them: a ``Status`` body with a reason.

Messages and ``details`` follow kube-apiserver's wording (``pods "web" not found``,
``deployments.apps "web" already exists``) so code that reads them behaves as against a cluster.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simcluster.resources import Resource

__all__ = ["REASONS", "ApiError", "status_body"]

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Gone",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}

_MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def status_body(code: int, message: str, reason: str, details: dict | None = None) -> dict:
    body: dict = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def _details(resource: Resource, name: str, *, kind: str | None = None, **extra: object) -> dict:
    details: dict = {"name": name}
    if resource.group:
        details["group"] = resource.group
    details["kind"] = kind or resource.plural
    details.update(extra)
    return details


class ApiError(Exception):
    """A request the server refuses; `body` is the Status the client receives."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: dict | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code) or HTTPStatus(code).phrase.replace(" ", "")
        self.details = details
        self.retry_after = retry_after

    @property
    def body(self) -> dict:
        return status_body(self.code, self.message, self.reason, self.details)

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}

    # The constructors below are the failures the server itself produces.

    @classmethod
    def not_found(cls, resource: Resource, name: str) -> ApiError:
        return cls(
            404, f'{resource.qualified} "{name}" not found', details=_details(resource, name)
        )

    @classmethod
    def no_route(cls) -> ApiError:
        return cls(404, "the server could not find the requested resource", details={})

    @classmethod
    def already_exists(cls, resource: Resource, name: str) -> ApiError:
        return cls(
            409,
            f'{resource.qualified} "{name}" already exists',
            reason="AlreadyExists",
            details=_details(resource, name),
        )

    @classmethod
    def conflict(cls, resource: Resource, name: str, why: str = _MODIFIED) -> ApiError:
        return cls(
            409,
            f'Operation cannot be fulfilled on {resource.qualified} "{name}": {why}',
            details=_details(resource, name),
        )

    @classmethod
    def invalid(cls, resource: Resource, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
        """``causes`` holds (field, reason, message), e.g. ("metadata.name",
        "FieldValueRequired", "Required value: name or generateName is required")."""
        shown = [f"{field}: {message}" for field, _, message in causes]
        summary = shown[0] if len(shown) == 1 else f"[{', '.join(shown)}]"
        found = [
            {"reason": reason, "message": message, "field": field}
            for field, reason, message in causes
        ]
        # The kind qualified by its group, as apimachinery names it: Deployment.apps "web".
        kind = f"{resource.kind}.{resource.group}" if resource.group else resource.kind
        return cls(
            422,
            f'{kind} "{name}" is invalid: {summary}',
            details=_details(resource, name, kind=resource.kind, causes=found),
        )

    @classmethod
    def forbidden(cls, resource: Resource, name: str, why: str, **extra: object) -> ApiError:
        return cls(
            403,
            f'{resource.qualified} "{name}" is forbidden: {why}',
            details=_details(resource, name, **extra),
        )

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls(400, message)

    @classmethod
    def method_not_allowed(cls) -> ApiError:
        return cls(
            405, "the server does not allow this method on the requested resource", details={}
        )

    @classmethod
    def expired(cls, message: str) -> ApiError:
        return cls(410, message, reason="Expired")
