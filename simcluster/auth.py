"""Authentication: who a request comes from, decided as kube-apiserver's authenticators do.

Three kinds of bearer token are accepted:

- the admin token of the server's kubeconfig (random per server): user ``kubernetes-admin``
  in group ``system:masters``, as a kubeadm admin kubeconfig's certificate is;
- static tokens that a test registers with `Authenticator.add_token` (kube-apiserver's
  ``--token-auth-file``);
- service account tokens issued by TokenRequest (``serviceaccounts/token``): JWTs signed with
  the server's own key (ES256), valid until their expiry, for the API server's audience only,
  and only while their ServiceAccount — and the Secret or Pod they are bound to — exists with
  the uid the token names, as the service account token authenticator checks.

A request without a token is anonymous (``system:anonymous`` in ``system:unauthenticated``),
which RBAC lets read ``/version`` and the health endpoints and nothing else, as
``--anonymous-auth`` does on a real server. A token that is not valid is a 401 Unauthorized.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from simcluster.errors import ApiError
from simcluster.resources import known

if TYPE_CHECKING:
    from simcluster.store import Store

__all__ = [
    "ADMIN",
    "ANONYMOUS",
    "AUDIENCE",
    "USER",
    "Authenticator",
    "UserInfo",
    "service_account_user",
]

log = logging.getLogger(__name__)

AUDIENCE = "https://kubernetes.default.svc.cluster.local"
AUTHENTICATED = "system:authenticated"
MASTERS = "system:masters"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
# Browsers cannot set headers on a websocket: the token may come as a subprotocol instead.
_WEBSOCKET_TOKEN_PREFIX = "base64url.bearer.authorization.k8s.io."

SERVICE_ACCOUNTS = known("", "v1", "serviceaccounts")
_NODES = known("", "v1", "nodes")
_BOUND_KINDS = {
    "Pod": known("", "v1", "pods"),
    "Secret": known("", "v1", "secrets"),
    "Node": _NODES,
}


@dataclass(frozen=True)
class UserInfo:
    """An authenticated (or anonymous) user, as authentication.k8s.io/v1 UserInfo shows it."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"username": self.username}
        if self.uid:
            shown["uid"] = self.uid
        shown["groups"] = list(self.groups)
        if self.extra:
            shown["extra"] = {key: list(values) for key, values in self.extra.items()}
        return shown


ADMIN = UserInfo("kubernetes-admin", groups=(MASTERS, AUTHENTICATED))
ANONYMOUS = UserInfo("system:anonymous", groups=("system:unauthenticated",))

# Set on every request once it is authenticated; handlers read the user from here.
USER = web.RequestKey("standin.user", UserInfo)


def service_account_user(namespace: str, name: str, uid: str = "", **extra: str) -> UserInfo:
    groups = ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED)
    return UserInfo(
        f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}",
        uid=uid,
        groups=groups,
        extra={key: (value,) for key, value in extra.items()},
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _Signer:
    """The server's service account signing key: ES256 JWTs, checked with the public half."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        public = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = _b64(hashlib.sha256(public).digest())

    def sign(self, claims: dict) -> str:
        header = {"alg": "ES256", "kid": self.key_id}
        signed = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        r, s = utils.decode_dss_signature(
            self._key.sign(signed.encode(), ec.ECDSA(hashes.SHA256()))
        )
        return f"{signed}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def verify(self, token: str) -> dict | None:
        """The claims of a token this key signed, or None for anything else."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            header = json.loads(_unb64(parts[0]))
            signature = _unb64(parts[2])
            if header.get("kid") != self.key_id or len(signature) != 64:
                return None
            der = utils.encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            self._key.public_key().verify(
                der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256())
            )
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, InvalidSignature, AttributeError):
            return None
        return claims if isinstance(claims, dict) else None


class Unauthenticated(Exception):
    """Why a token was refused; logged by the server, never shown to the client."""


class Authenticator:
    """Decides who a request comes from. ``admin_token`` is this server's admin credential."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.admin_token = secrets.token_urlsafe(32)
        self._static: dict[str, UserInfo] = {self.admin_token: ADMIN}
        self._signer = _Signer()

    def add_token(self, token: str, username: str, groups: tuple[str, ...] = ()) -> UserInfo:
        """Accept ``token`` as ``username`` in ``groups`` (and system:authenticated)."""
        if not token:
            raise ValueError("a static token must not be empty")
        user = UserInfo(username, groups=(*groups, AUTHENTICATED))
        self._static[token] = user
        return user

    # -- service account tokens -----------------------------------------------------------

    def issue(
        self,
        account: dict,
        audiences: list[str],
        seconds: int,
        bound: tuple[str, dict] | None = None,
    ) -> tuple[str, int]:
        """A token for ``account`` (a stored ServiceAccount), optionally bound to a Pod or
        Secret (``(kind, object)``); returns it with its expiry (Unix seconds)."""
        meta = account["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        issued = int(time.time())
        private: dict[str, Any] = {
            "namespace": namespace,
            "serviceaccount": {"name": name, "uid": meta["uid"]},
        }
        if bound is not None:
            kind, obj = bound
            ref = {"name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"]}
            private[kind.lower()] = ref
            node_name = (obj.get("spec") or {}).get("nodeName") if kind == "Pod" else None
            node = self.store.get(_NODES, None, node_name) if node_name else None
            if node is not None:
                # A pod's node is named too, as the API server does for pod-bound tokens.
                private["node"] = {"name": node_name, "uid": node["metadata"]["uid"]}
        claims = {
            "aud": audiences,
            "exp": issued + seconds,
            "iat": issued,
            "iss": AUDIENCE,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": private,
            "nbf": issued,
            "sub": f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}",
        }
        return self._signer.sign(claims), claims["exp"]

    def _service_account(self, token: str) -> UserInfo:
        claims = self._signer.verify(token)
        if claims is None or claims.get("iss") != AUDIENCE:
            raise Unauthenticated("not a token this server signed")
        now = time.time()
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
            raise Unauthenticated("the token has expired")
        if claims.get("nbf", 0) > now:
            raise Unauthenticated("the token is not valid yet")
        if AUDIENCE not in (claims.get("aud") or []):
            raise Unauthenticated(f"token audiences {claims.get('aud')} are not {AUDIENCE!r}")
        private = claims.get("kubernetes.io") or {}
        namespace = private.get("namespace", "")
        account = private.get("serviceaccount") or {}
        stored = self.store.get(SERVICE_ACCOUNTS, namespace, account.get("name", ""))
        if stored is None or stored["metadata"]["uid"] != account.get("uid"):
            raise Unauthenticated(f"service account {namespace}/{account.get('name')} is gone")
        extra = {"authentication.kubernetes.io/credential-id": f"JTI={claims.get('jti')}"}
        for kind, resource in _BOUND_KINDS.items():
            ref = private.get(kind.lower())
            if ref is None or (kind == "Node" and "pod" in private):
                continue  # a pod's node is informative; the pod is what the token is bound to
            where = namespace if resource.namespaced else None
            obj = self.store.get(resource, where, ref.get("name", ""))
            if obj is None or obj["metadata"]["uid"] != ref.get("uid"):
                raise Unauthenticated(f"the {kind} {ref.get('name')} the token is bound to is gone")
            if kind == "Pod":
                extra["authentication.kubernetes.io/pod-name"] = ref["name"]
                extra["authentication.kubernetes.io/pod-uid"] = ref["uid"]
        if node := private.get("node"):
            extra["authentication.kubernetes.io/node-name"] = node.get("name", "")
            extra["authentication.kubernetes.io/node-uid"] = node.get("uid", "")
        return service_account_user(
            namespace, account["name"], stored["metadata"]["uid"], **dict(sorted(extra.items()))
        )

    # -- requests -------------------------------------------------------------------------

    def authenticate_token(self, token: str) -> UserInfo:
        """The user of a bearer token; raises `Unauthenticated`."""
        if token in self._static:
            return self._static[token]
        return self._service_account(token)

    def authenticate(self, request: web.Request) -> UserInfo:
        """The user of a request: anonymous without a token; a 401 for a token not valid."""
        token = _bearer_token(request)
        if token is None:
            return ANONYMOUS
        try:
            return self.authenticate_token(token)
        except Unauthenticated as why:
            log.info("unauthorized %s %s: %s", request.method, request.path, why)
            raise ApiError(401, "Unauthorized") from None


def _bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "").strip()
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    for protocol in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
        protocol = protocol.strip()
        if protocol.startswith(_WEBSOCKET_TOKEN_PREFIX):
            try:
                return _unb64(protocol.removeprefix(_WEBSOCKET_TOKEN_PREFIX)).decode()
            except ValueError:
                return ""  # present but unreadable: not valid, not anonymous
    return None
