"""What one container sees, worked out from the pod and the cluster: its environment, its
files, its hostname, and what answers when it connects to a Service, a pod or ``localhost``.

- **Environment**: the image's variables (PATH, NGINX_VERSION, ...), HOSTNAME, HOME, the
  Service variables the kubelet injects for the Services of the namespace that existed when the
  container started (``WEB_SERVICE_HOST``, ``KUBERNETES_PORT``, ...; unless
  ``enableServiceLinks: false``), then ``envFrom`` and ``env`` (values, ConfigMap and Secret
  keys, the downward API's fields and resources), later ones winning.
- **Files**: ``/etc/hostname``, ``/etc/hosts``, ``/etc/resolv.conf``, the service account's
  ``namespace`` and ``ca.crt`` (no token: the simulated cluster issues none to pods), the
  image's own few files (nginx's welcome page and configuration), and every volume mount:
  ConfigMap and Secret keys as files (``items``, ``subPath``), downward API files, and
  writable emptyDir and PersistentVolumeClaim volumes shared as on a node.
- **Network**: names resolve as cluster DNS resolves them (``web``, ``web.lab``,
  ``web.lab.svc.cluster.local``, a StatefulSet pod's ``web-0.web``), Cluster IPs and pod IPs
  too; a Service sends each connection to its ready endpoints in turn; what answers is the
  image's server on the ports it listens on. There is no NetworkPolicy enforcement and no way
  out of the cluster.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simcluster.containers.filesystem import Filesystem, Mount, image_files
from simcluster.containers.images import Image, PullFailure, find, reference
from simcluster.containers.node import Node
from simcluster.quantity import QuantityError, parse
from simcluster.resources import known

__all__ = ["DNS_IP", "Backend", "Refused", "World", "image_of", "nginx_version"]

PODS = known("", "v1", "pods")
SERVICES = known("", "v1", "services")
ENDPOINTS = known("", "v1", "endpoints")
CONFIGMAPS = known("", "v1", "configmaps")
SECRETS = known("", "v1", "secrets")
CLAIMS = known("", "v1", "persistentvolumeclaims")
DNS_IP = "10.96.0.10"
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The patch release each nginx minor line ends at (or had when this table was written).
_NGINX_PATCHES = {27: 5, 28: 0, 29: 1, 26: 3, 25: 5, 24: 0, 23: 4, 22: 1, 21: 6}


def image_of(container: dict) -> Image | None:
    """The catalogue's image of a container, or None for one that does not pull."""
    try:
        return find(reference(container.get("image", "")))
    except PullFailure:
        return None


def nginx_version(image_text: str) -> str:
    """The nginx release an ``nginx`` tag runs: ``1.27`` is 1.27.5, ``1.28.0`` itself,
    ``latest`` and ``mainline`` the newest mainline, ``stable`` the newest stable."""
    tag = reference(image_text).tag.split("-")[0]
    named = {"latest": "1.29.1", "mainline": "1.29.1", "stable": "1.28.0", "alpine": "1.29.1"}
    if tag in named or not tag:
        return named.get(tag, "1.29.1")
    parts = tag.split(".")
    if len(parts) == 3:
        return tag
    if len(parts) == 2 and parts[1].isdigit():
        return f"{tag}.{_NGINX_PATCHES.get(int(parts[1]), 0)}"
    return "1.29.1"


# -- the world of one container -------------------------------------------------------------


@dataclass(frozen=True)
class Refused(Exception):
    """A connection that fails: ``why`` is "resolve", "refused", "timeout" or "reset"."""

    why: str
    ip: str = ""


@dataclass
class Backend:
    """What answers a connection: a container of a pod."""

    pod: dict
    container: dict
    image: Image


@dataclass
class World:
    """One container's view of the cluster; ``started`` is when it started."""

    node: Node
    pod: dict
    container: dict
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    tty: bool = False
    # Whether a server writes this container's requests to its access log: not while a model
    # runs through a loop's rounds at once, which would log them all at its start.
    log_requests: bool = True

    def __post_init__(self) -> None:
        self.image = image_of(self.container)
        self.namespace = self.pod["metadata"].get("namespace", "default")
        spec = self.pod.get("spec") or {}
        self.hostname = (spec.get("hostname") or self.pod["metadata"]["name"])[:63]
        self.short = self.image.repository.rsplit("/", 1)[-1] if self.image else ""
        self.flavour = "busybox" if self.short in ("busybox",) or self._alpine() else "gnu"
        self.env = self._environment()
        self.fs = self._filesystem()

    def _alpine(self) -> bool:
        return "alpine" in self.container.get("image", "") or self.short in ("alpine", "curl")

    @property
    def uid(self) -> int:
        """The user the container runs as: its securityContext's, the pod's, or the image's."""
        for context in (self.container.get("securityContext") or {},
                        (self.pod.get("spec") or {}).get("securityContext") or {}):  # fmt: skip
            if context.get("runAsUser") is not None:
                return int(context["runAsUser"])
        user = self.image.user if self.image else "root"
        return 0 if user == "root" else int(user) if user.isdigit() else 100

    @property
    def pod_ip(self) -> str:
        return (self.pod.get("status") or {}).get("podIP") or ""

    # -- environment ------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        env: dict[str, str] = {"PATH": _PATH, "HOSTNAME": self.hostname}
        if self.tty:
            env["TERM"] = "xterm"
        if self.short == "nginx":
            version = nginx_version(self.container.get("image", ""))
            env.update(NGINX_VERSION=version, NJS_VERSION="0.9.1", NJS_RELEASE="1~bookworm",
                       PKG_RELEASE="1~bookworm", DYNPKG_RELEASE="1~bookworm")  # fmt: skip
        elif self.short == "httpd":
            env.update(HTTPD_PREFIX="/usr/local/apache2", HTTPD_VERSION="2.4.65")
        spec = self.pod.get("spec") or {}
        # What the kubelet gives, which $(VAR) in a value may refer to; the runtime's own
        # variables (PATH, HOSTNAME, the image's) it may not.
        given = self._service_links(only_kubernetes=not spec.get("enableServiceLinks", True))
        for source in self.container.get("envFrom") or []:
            given.update(self._env_from(source))
        for variable in self.container.get("env") or []:
            value = self._env_value(variable, given)
            if value is not None:
                given[variable.get("name", "")] = value
        env.update(given)
        env["HOME"] = "/root" if self.uid == 0 else "/"
        return env

    def _service_links(self, only_kubernetes: bool = False) -> dict[str, str]:
        store = self.node.store
        found = []
        if not only_kubernetes:
            items, _ = store.list(SERVICES, self.namespace)
            found = [s for s in items if _created_before(s, self.started)]
        if self.namespace != "default" or only_kubernetes:
            kubernetes = store.get(SERVICES, "default", "kubernetes")
            if kubernetes is not None:
                found.append(kubernetes)
        env: dict[str, str] = {}
        for service in found:
            spec = service.get("spec") or {}
            ip, ports = spec.get("clusterIP"), spec.get("ports") or []
            if not ip or ip == "None" or not ports:
                continue
            prefix = service["metadata"]["name"].upper().replace("-", "_")
            env[f"{prefix}_SERVICE_HOST"] = ip
            env[f"{prefix}_SERVICE_PORT"] = str(ports[0].get("port"))
            for port in ports:
                if port.get("name"):
                    name = port["name"].upper().replace("-", "_")
                    env[f"{prefix}_SERVICE_PORT_{name}"] = str(port.get("port"))
            first = ports[0]
            protocol = (first.get("protocol") or "TCP").lower()
            env[f"{prefix}_PORT"] = f"{protocol}://{ip}:{first.get('port')}"
            for port in ports:
                proto = (port.get("protocol") or "TCP").upper()
                base = f"{prefix}_PORT_{port.get('port')}_{proto}"
                env[base] = f"{proto.lower()}://{ip}:{port.get('port')}"
                env[f"{base}_PROTO"] = proto.lower()
                env[f"{base}_PORT"] = str(port.get("port"))
                env[f"{base}_ADDR"] = ip
        return env

    def _config(self, kind: str, name: str) -> dict[str, str] | None:
        resource = CONFIGMAPS if kind == "configMap" else SECRETS
        found = self.node.store.get(resource, self.namespace, name)
        if found is None:
            return None
        if resource is SECRETS:
            return {
                key: base64.b64decode(value).decode(errors="replace")
                for key, value in (found.get("data") or {}).items()
            } | dict(found.get("stringData") or {})
        return dict(found.get("data") or {})

    def _env_from(self, source: dict) -> dict[str, str]:
        prefix = source.get("prefix", "")
        for kind in ("configMap", "secret"):
            ref = source.get(f"{kind}Ref")
            if ref:
                data = self._config(kind, ref.get("name", "")) or {}
                return {prefix + key: value for key, value in data.items()}
        return {}

    def _env_value(self, variable: dict, env: dict[str, str]) -> str | None:
        if "value" in variable:
            # $(VAR) refers to a variable defined before it, as the kubelet expands it.
            return re.sub(
                r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                lambda m: env.get(m.group(1), m.group(0)),
                str(variable.get("value") or ""),
            )
        source = variable.get("valueFrom") or {}
        for kind in ("configMap", "secret"):
            ref = source.get(f"{kind}KeyRef")
            if ref:
                data = self._config(kind, ref.get("name", "")) or {}
                return data.get(ref.get("key", ""))
        if "fieldRef" in source:
            return self._field(source["fieldRef"].get("fieldPath", ""))
        if "resourceFieldRef" in source:
            return self._resource_field(source["resourceFieldRef"])
        return None

    def _field(self, path: str) -> str:
        meta, spec = self.pod["metadata"], self.pod.get("spec") or {}
        status = self.pod.get("status") or {}
        match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", path)
        if match:
            return (meta.get(match.group(1)) or {}).get(match.group(2), "")
        values = {
            "metadata.name": meta.get("name", ""),
            "metadata.namespace": meta.get("namespace", ""),
            "metadata.uid": meta.get("uid", ""),
            "spec.nodeName": spec.get("nodeName", ""),
            "spec.serviceAccountName": spec.get("serviceAccountName", ""),
            "status.hostIP": status.get("hostIP", ""),
            "status.podIP": status.get("podIP", ""),
            "status.podIPs": status.get("podIP", ""),
            "status.hostIPs": status.get("hostIP", ""),
        }
        return values.get(path, "")

    def _resource_field(self, ref: dict) -> str:
        kind, _, resource = (ref.get("resource") or "").partition(".")
        resources = self.container.get("resources") or {}
        amount = (resources.get(kind) or {}).get(resource)
        if amount is None:
            amount = "4" if resource == "cpu" else "8Gi"  # the node's allocatable
        try:
            value = parse(amount).value / parse(ref.get("divisor") or "1").value
        except (QuantityError, ZeroDivisionError):
            return "0"
        whole = int(value) if value == int(value) else int(value) + 1
        return str(max(whole, 1 if value > 0 else 0))

    # -- files ------------------------------------------------------------------------------

    def _filesystem(self) -> Filesystem:
        files, dirs = image_files(self.image, self.container.get("image", ""))
        meta, spec = self.pod["metadata"], self.pod.get("spec") or {}
        files["/etc/hostname"] = self.hostname + "\n"
        fqdn = ""
        if spec.get("subdomain"):
            fqdn = f"{self.hostname}.{spec['subdomain']}.{self.namespace}.svc.cluster.local\t"
        files["/etc/hosts"] = (
            "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
            "fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
            f"{self.pod_ip}\t{fqdn}{self.hostname}\n"
        )
        files["/etc/resolv.conf"] = (
            f"search {self.namespace}.svc.cluster.local svc.cluster.local cluster.local\n"
            f"nameserver {DNS_IP}\noptions ndots:5\n"
        )
        mounts = []
        volumes = {v.get("name"): v for v in spec.get("volumes") or []}
        if spec.get("automountServiceAccountToken", True):
            ca = self.node.store.get(CONFIGMAPS, self.namespace, "kube-root-ca.crt")
            mounts.append(
                Mount(
                    "/var/run/secrets/kubernetes.io/serviceaccount",
                    {
                        "namespace": self.namespace,
                        "ca.crt": ((ca or {}).get("data") or {}).get("ca.crt", ""),
                        "token": "(the simulated cluster issues no tokens to pods)\n",
                    },
                    False,
                )
            )
        for mount in self.container.get("volumeMounts") or []:
            volume = volumes.get(mount.get("name"))
            if volume is None:
                continue
            contents, writable = self._volume(volume, meta.get("uid", ""))
            if mount.get("readOnly"):
                writable = False
            path = mount.get("mountPath", "/")
            if mount.get("subPath"):
                sub = mount["subPath"]
                if sub in contents:
                    mounts.append(Mount(path, {"": contents[sub]}, writable))
                    continue
                contents = {
                    key[len(sub) + 1 :]: value
                    for key, value in contents.items()
                    if key.startswith(sub + "/")
                }
            mounts.append(Mount(path, contents, writable))
            dirs.add(path)
        context = self.container.get("securityContext") or {}
        return Filesystem(
            files,
            dirs,
            mounts,
            self.node.layer(meta.get("uid", ""), self.container.get("name", "")),
            bool(context.get("readOnlyRootFilesystem")),
        )

    def _volume(self, volume: dict, pod_uid: str) -> tuple[dict[str, str], bool]:
        """A volume's files (a live dict for writable ones) and whether it is writable."""
        for kind in ("configMap", "secret"):
            source = volume.get(kind)
            if source is not None:
                name = source.get("name") or source.get("secretName", "")
                return _items(self._config(kind, name) or {}, source.get("items")), False
        if volume.get("downwardAPI") is not None:
            return self._downward(volume["downwardAPI"].get("items") or []), False
        if volume.get("projected") is not None:
            files: dict[str, str] = {}
            for source in volume["projected"].get("sources") or []:
                for kind in ("configMap", "secret"):
                    if source.get(kind):
                        data = self._config(kind, source[kind].get("name", "")) or {}
                        files.update(_items(data, source[kind].get("items")))
                if source.get("downwardAPI"):
                    files.update(self._downward(source["downwardAPI"].get("items") or []))
            return files, False
        if volume.get("persistentVolumeClaim") is not None:
            name = volume["persistentVolumeClaim"].get("claimName", "")
            claim = self.node.store.get(CLAIMS, self.namespace, name)
            owner = claim["metadata"]["uid"] if claim else f"claim:{self.namespace}/{name}"
            return self.node.volume(owner, "data"), True
        return self.node.volume(pod_uid, volume.get("name", "")), True

    def _downward(self, items: list[dict]) -> dict[str, str]:
        files = {}
        for item in items:
            if item.get("fieldRef"):
                path = item["fieldRef"].get("fieldPath", "")
                if path in ("metadata.labels", "metadata.annotations"):
                    values = self.pod["metadata"].get(path.split(".")[1]) or {}
                    files[item.get("path", "")] = "\n".join(
                        f'{k}="{v}"' for k, v in sorted(values.items())
                    )
                else:
                    files[item.get("path", "")] = self._field(path)
            elif item.get("resourceFieldRef"):
                files[item.get("path", "")] = self._resource_field(item["resourceFieldRef"])
        return files

    # -- network ----------------------------------------------------------------------------

    def resolve(self, host: str) -> tuple[str, dict | None, dict | None]:
        """(IP, Service or None, pod or None) that ``host`` names; raises `Refused("resolve")`."""
        store = self.node.store
        if host in ("localhost", "127.0.0.1", "::1"):
            return "127.0.0.1", None, self.pod
        if host == self.hostname:
            return self.pod_ip, None, self.pod
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", host):
            for service in store.list(SERVICES)[0]:
                if (service.get("spec") or {}).get("clusterIP") == host:
                    return host, service, None
            for pod in store.list(PODS)[0]:
                if (pod.get("status") or {}).get("podIP") == host:
                    return host, None, pod
            return host, None, None
        name = host.rstrip(".")
        for suffix in (".svc.cluster.local", ".cluster.local", ".svc"):
            name = name.removesuffix(suffix)
        parts = name.split(".")
        candidates = []
        if len(parts) == 1:
            candidates.append((parts[0], self.namespace, None))
        elif len(parts) == 2:
            candidates.append((parts[0], parts[1], None))
            candidates.append((parts[1], self.namespace, parts[0]))
        elif len(parts) == 3:
            candidates.append((parts[1], parts[2], parts[0]))
        for service_name, namespace, member in candidates:
            service = store.get(SERVICES, namespace, service_name)
            if service is None:
                continue
            ip = (service.get("spec") or {}).get("clusterIP") or ""
            if member is None and ip and ip != "None":
                return ip, service, None
            pods = _service_pods(store, service)
            if member is not None:
                pods = [p for p in pods if (p.get("spec") or {}).get("hostname") == member]
            if pods:
                return (pods[0].get("status") or {}).get("podIP", ""), None, pods[0]
        raise Refused("resolve")

    def connect(self, host: str, port: int) -> tuple[str, Backend]:
        """The container that answers a connection to ``host:port``, and the address
        connected to; raises `Refused` as the connection would fail."""
        ip, service, pod = self.resolve(host)
        if service is not None:
            spec = service.get("spec") or {}
            wanted = next((p for p in spec.get("ports") or [] if p.get("port") == port), None)
            if wanted is None:
                raise Refused("timeout", ip)
            addresses = _ready_addresses(self.node.store, service, wanted)
            if not addresses:
                raise Refused("refused", ip)
            pod, port = addresses[self.node.turn(service["metadata"]["uid"], len(addresses))]
        if pod is None:
            raise Refused("timeout" if ip else "resolve", ip)
        backend = _listener(pod, port)
        if backend is None:
            raise Refused("refused", ip)
        return ip, backend


def _created_before(obj: dict, moment: datetime) -> bool:
    text = obj["metadata"].get("creationTimestamp", "")
    try:
        created = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return True
    return created <= moment


def _items(data: dict[str, str], items: list[dict] | None) -> dict[str, str]:
    if not items:
        return dict(data)
    return {item.get("path", ""): data[item["key"]] for item in items if item.get("key") in data}


def _service_pods(store: Any, service: dict) -> list[dict]:
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        return []
    namespace = service["metadata"]["namespace"]
    return [
        pod
        for pod in store.list(PODS, namespace)[0]
        if all((pod["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
        and (pod.get("status") or {}).get("podIP")
    ]


def _ready_addresses(store: Any, service: dict, port: dict) -> list[tuple[dict, int]]:
    """(pod, target port) of the Service's ready endpoints for ``port``, from its Endpoints."""
    meta = service["metadata"]
    endpoints = store.get(ENDPOINTS, meta["namespace"], meta["name"])
    found = []
    for subset in (endpoints or {}).get("subsets") or []:
        numbers = [
            p.get("port")
            for p in subset.get("ports") or []
            if p.get("name", "") == port.get("name", "")
        ]
        if not numbers:
            continue
        for address in subset.get("addresses") or []:
            ref = address.get("targetRef") or {}
            pod = store.get(PODS, meta["namespace"], ref.get("name", "")) if ref else None
            if pod is not None:
                found.append((pod, numbers[0]))
    return found


def _listens(container: dict, image: Image) -> set[int]:
    ports = set(image.listens)
    args = [*(container.get("command") or []), *(container.get("args") or [])]
    for arg in args:
        match = re.fullmatch(r"-?-(?:listen|port)[= ]?:?(\d+)", str(arg))
        if match:
            ports = {int(match.group(1))}
    return ports


def _listener(pod: dict, port: int) -> Backend | None:
    """The running container of ``pod`` whose server listens on ``port``."""
    statuses = {s.get("name"): s for s in (pod.get("status") or {}).get("containerStatuses") or []}
    for container in (pod.get("spec") or {}).get("containers") or []:
        image = image_of(container)
        if image is None or port not in _listens(container, image):
            continue
        told = " ".join(container.get("command") or [])
        if told and image.repository.endswith("/nginx") and "nginx" not in told:
            continue  # nginx's image told to run something else serves nothing
        state = (statuses.get(container.get("name")) or {}).get("state") or {}
        if "running" in state:
            return Backend(pod, container, image)
    return None
