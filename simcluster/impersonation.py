"""Impersonation (``kubectl --as``, ``--as-group``): a user acting as another, as the API
server's impersonation filter allows it.

Each thing asked for needs the ``impersonate`` verb: on ``users`` by name, on
``serviceaccounts`` in their namespace for ``system:serviceaccount:<ns>:<name>``, on
``groups``, and on ``uids`` and ``userextras/<key>`` of authentication.k8s.io. The request
then runs as the impersonated user — for its authorisation, its admission and ``auth
whoami`` — in the groups asked for (a ServiceAccount's own groups when none are) and
``system:authenticated``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simcluster.auth import AUTHENTICATED, SERVICE_ACCOUNT_PREFIX, UserInfo
from simcluster.errors import ApiError
from simcluster.rbac import Attributes, Authorizer, forbidden

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["impersonate"]

_USER, _GROUP, _UID = "Impersonate-User", "Impersonate-Group", "Impersonate-Uid"
_EXTRA = "impersonate-extra-"
_ANONYMOUS = "system:anonymous"


def _check(authorizer: Authorizer, attributes: Attributes) -> None:
    decision = authorizer.authorize(attributes)
    if not decision.allowed:
        raise forbidden(attributes, decision.reason)


def impersonate(authorizer: Authorizer, request: web.Request, user: UserInfo) -> UserInfo:
    """The user a request acts as: ``user``, or the one its Impersonate-* headers name when
    ``user`` may impersonate them (a 403 otherwise)."""
    headers = request.headers
    extra_headers = {k for k in headers if k.lower().startswith(_EXTRA)}
    if _USER not in headers:
        if headers.getall(_GROUP, []) or _UID in headers or extra_headers:
            raise ApiError.bad_request(
                "requested impersonation without impersonating a user: Impersonate-User is required"
            )
        return user
    username = headers[_USER]
    groups = list(headers.getall(_GROUP, []))

    def asked(
        resource: str, name: str, *, group: str = "", namespace: str = "", sub: str = ""
    ) -> Attributes:
        return Attributes(
            user, "impersonate", True, api_group=group, resource=resource, subresource=sub,
            name=name, namespace=namespace,
        )  # fmt: skip

    if username.startswith(SERVICE_ACCOUNT_PREFIX) and username.count(":") == 3:
        _, _, namespace, name = username.split(":")
        _check(authorizer, asked("serviceaccounts", name, namespace=namespace))
        if not groups:
            groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
    else:
        _check(authorizer, asked("users", username))
    for group in headers.getall(_GROUP, []):
        _check(authorizer, asked("groups", group))
    uid = headers.get(_UID, "")
    if uid:
        _check(authorizer, asked("uids", uid, group="authentication.k8s.io"))
    extra: dict[str, tuple[str, ...]] = {}
    for header in sorted(extra_headers):
        key = header[len(_EXTRA) :].lower()
        values = tuple(headers.getall(header))
        for value in values:
            _check(authorizer, asked("userextras", value, group="authentication.k8s.io", sub=key))
        extra[key] = values
    if username != _ANONYMOUS and not {AUTHENTICATED, "system:unauthenticated"} & set(groups):
        groups.append(AUTHENTICATED)
    return UserInfo(username, uid=uid, groups=tuple(groups), extra=extra)
