"""Pod Security Admission, from the namespace's ``pod-security.kubernetes.io/<mode>`` labels
(``enforce``, ``warn``, ``audit``; level ``privileged``, ``baseline`` or ``restricted``, at
``<mode>-version``, ``latest`` by default), with the checks and words of the real plugin.

Baseline refuses host namespaces, privileged containers, capabilities beyond the default
set, hostPath volumes, host ports, an unmasked /proc, SELinux options and AppArmor profiles
beyond the allowed ones, an Unconfined seccomp profile and unsafe sysctls. Restricted adds:
only configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected and
secret volumes; ``allowPrivilegeEscalation: false``; ``runAsNonRoot: true`` and no
``runAsUser: 0``; a RuntimeDefault or Localhost seccomp profile; capabilities dropping ALL
and adding at most NET_BIND_SERVICE. Like the real plugin it reads only the spec: an image
that runs as root is only refused when nothing says runAsNonRoot (restricted requires it).

A pod that violates the enforced level is refused: ``pods "nginx" is forbidden: violates
PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "nginx" must set
securityContext.allowPrivilegeEscalation=false), ...``. The warn level adds ``Warning: would
violate PodSecurity ...``; the pod templates of workloads get warnings only (their pods are
then refused when the controller creates them). Changing a namespace's enforce label warns
about its existing pods that would be refused. Audit is not recorded (no audit log).
"""

from __future__ import annotations

from collections.abc import Callable

from simcluster.errors import ApiError
from simcluster.resources import Resource, known
from simcluster.store import Store

__all__ = ["LEVELS", "admit", "evaluate", "namespace_warnings"]

NAMESPACES = known("", "v1", "namespaces")
PODS = known("", "v1", "pods")
LEVELS = ("privileged", "baseline", "restricted")
_PREFIX = "pod-security.kubernetes.io/"
_TEMPLATES = {("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"),
              ("apps", "daemonsets"), ("batch", "jobs"), ("", "replicationcontrollers"),
              ("", "podtemplates")}  # fmt: skip
_DEFAULT_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL",
                         "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID",
                         "SYS_CHROOT"}  # fmt: skip
_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
            "projected", "secret"}  # fmt: skip
_SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                 "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                 "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                 "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                 "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}  # fmt: skip


def _plural(one: str, many: str, count: int) -> str:
    return one if count == 1 else many


def _quoted(names: list[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def _containers(spec: dict) -> list[dict]:
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or []),
            *(spec.get("ephemeralContainers") or [])]  # fmt: skip


def _context(container: dict) -> dict:
    return container.get("securityContext") or {}


Check = Callable[[dict], "str | None"]


def _allow_privilege_escalation(spec: dict) -> str | None:
    bad = [c.get("name", "") for c in _containers(spec)
           if _context(c).get("allowPrivilegeEscalation") is not False]  # fmt: skip
    if not bad:
        return None
    return (
        f"allowPrivilegeEscalation != false ({_plural('container', 'containers', len(bad))} "
        f"{_quoted(bad)} must set securityContext.allowPrivilegeEscalation=false)"
    )


def _capabilities_baseline(spec: dict) -> str | None:
    bad, caps = [], set()
    for c in _containers(spec):
        added = (
            set((_context(c).get("capabilities") or {}).get("add") or []) - _DEFAULT_CAPABILITIES
        )
        if added:
            bad.append(c.get("name", ""))
            caps |= added
    if not bad:
        return None
    return (
        f"non-default capabilities ({_plural('container', 'containers', len(bad))} "
        f"{_quoted(bad)} must not include {_quoted(sorted(caps))} in "
        "securityContext.capabilities.add)"
    )


def _capabilities_restricted(spec: dict) -> str | None:
    no_drop, adding, caps = [], [], set()
    for c in _containers(spec):
        capabilities = _context(c).get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            no_drop.append(c.get("name", ""))
        added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            adding.append(c.get("name", ""))
            caps |= added
    details = []
    if no_drop:
        details.append(
            f"{_plural('container', 'containers', len(no_drop))} {_quoted(no_drop)} "
            'must set securityContext.capabilities.drop=["ALL"]'
        )
    if adding:
        details.append(
            f"{_plural('container', 'containers', len(adding))} {_quoted(adding)} "
            f"must not include {_quoted(sorted(caps))} in "
            "securityContext.capabilities.add"
        )
    return f"unrestricted capabilities ({'; '.join(details)})" if details else None


def _host_namespaces(spec: dict) -> str | None:
    found = [f"{key}=true" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key)]
    return f"host namespaces ({', '.join(found)})" if found else None


def _host_path_volumes(spec: dict) -> str | None:
    bad = [v.get("name", "") for v in spec.get("volumes") or [] if v.get("hostPath") is not None]
    if not bad:
        return None
    return f"hostPath volumes ({_plural('volume', 'volumes', len(bad))} {_quoted(bad)})"


def _host_ports(spec: dict) -> str | None:
    bad, ports = [], []
    for c in _containers(spec):
        used = [str(p["hostPort"]) for p in c.get("ports") or [] if p.get("hostPort")]
        if used:
            bad.append(c.get("name", ""))
            ports += used
    if not bad:
        return None
    return (
        f"hostPort ({_plural('container', 'containers', len(bad))} {_quoted(bad)} "
        f"{_plural('uses', 'use', len(bad))} {_plural('hostPort', 'hostPorts', len(ports))} "
        f"{', '.join(ports)})"
    )


def _privileged(spec: dict) -> str | None:
    bad = [c.get("name", "") for c in _containers(spec) if _context(c).get("privileged")]
    if not bad:
        return None
    return (
        f"privileged ({_plural('container', 'containers', len(bad))} {_quoted(bad)} must "
        "not set securityContext.privileged=true)"
    )


def _proc_mount(spec: dict) -> str | None:
    bad = [c.get("name", "") for c in _containers(spec)
           if _context(c).get("procMount", "Default") not in ("Default", None)]  # fmt: skip
    if not bad:
        return None
    return (
        f"procMount ({_plural('container', 'containers', len(bad))} {_quoted(bad)} must not "
        'set securityContext.procMount to "Unmasked")'
    )


def _restricted_volumes(spec: dict) -> str | None:
    bad, kinds = [], set()
    for volume in spec.get("volumes") or []:
        types = [key for key in volume if key != "name"]
        wrong = [t for t in types if t not in _VOLUMES]
        if wrong:
            bad.append(volume.get("name", ""))
            kinds |= set(wrong)
    if not bad:
        return None
    return (
        f"restricted volume types ({_plural('volume', 'volumes', len(bad))} {_quoted(bad)} "
        f"{_plural('uses', 'use', len(bad))} "
        f"{_plural('restricted volume type', 'restricted volume types', len(kinds))} "
        f"{_quoted(sorted(kinds))})"
    )


def _run_as_non_root(spec: dict) -> str | None:
    pod = (spec.get("securityContext") or {}).get("runAsNonRoot")
    explicit = [c.get("name", "") for c in _containers(spec)
                if _context(c).get("runAsNonRoot") is False]  # fmt: skip
    implicit = [c.get("name", "") for c in _containers(spec)
                if _context(c).get("runAsNonRoot") is None]  # fmt: skip
    setters = ["pod"] if pod is False else []
    if explicit:
        setters.append(f"{_plural('container', 'containers', len(explicit))} {_quoted(explicit)}")
    if setters:
        return (
            f"runAsNonRoot != true ({' and '.join(setters)} must not set "
            "securityContext.runAsNonRoot=false)"
        )
    if pod is None and implicit:
        return (
            f"runAsNonRoot != true (pod or {_plural('container', 'containers', len(implicit))}"
            f" {_quoted(implicit)} must set securityContext.runAsNonRoot=true)"
        )
    return None


def _run_as_user(spec: dict) -> str | None:
    setters = ["pod"] if (spec.get("securityContext") or {}).get("runAsUser") == 0 else []
    bad = [c.get("name", "") for c in _containers(spec) if _context(c).get("runAsUser") == 0]
    if bad:
        setters.append(f"{_plural('container', 'containers', len(bad))} {_quoted(bad)}")
    if not setters:
        return None
    return f"runAsUser=0 ({' and '.join(setters)} must not set runAsUser=0)"


def _selinux(spec: dict) -> str | None:
    contexts = [spec.get("securityContext") or {}, *(_context(c) for c in _containers(spec))]
    for context in contexts:
        options = context.get("seLinuxOptions") or {}
        if options.get("user") or options.get("role") or options.get("type") not in (
            None, "", "container_t", "container_init_t", "container_kvm_t", "container_engine_t",
        ):  # fmt: skip
            return "seLinuxOptions (the SELinux user, role and type may not be set)"
    return None


def _seccomp(spec: dict, restricted: bool) -> str | None:
    pod = ((spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
    allowed = ("RuntimeDefault", "Localhost")
    setters, values = [], set()
    if pod is not None and (pod not in allowed if restricted else pod == "Unconfined"):
        setters.append("pod")
        values.add(pod)
    bad, implicit = [], []
    for c in _containers(spec):
        kind = (_context(c).get("seccompProfile") or {}).get("type")
        if kind is None:
            implicit.append(c.get("name", ""))
        elif kind not in allowed if restricted else kind == "Unconfined":
            bad.append(c.get("name", ""))
            values.add(kind)
    if bad:
        setters.append(f"{_plural('container', 'containers', len(bad))} {_quoted(bad)}")
    if setters:
        return (
            f"seccompProfile ({' and '.join(setters)} must not set "
            f"securityContext.seccompProfile.type to {_quoted(sorted(values))})"
        )
    if restricted and pod is None and implicit:
        return (
            f"seccompProfile (pod or {_plural('container', 'containers', len(implicit))} "
            f"{_quoted(implicit)} must set securityContext.seccompProfile.type to "
            '"RuntimeDefault" or "Localhost")'
        )
    return None


def _sysctls(spec: dict) -> str | None:
    bad = [s.get("name", "") for s in (spec.get("securityContext") or {}).get("sysctls") or []
           if s.get("name") not in _SAFE_SYSCTLS]  # fmt: skip
    return f"forbidden sysctls ({', '.join(bad)})" if bad else None


# The checks by their IDs, in the plugin's order (sorted by ID); True marks restricted ones.
_CHECKS: list[tuple[str, bool, Check]] = [
    ("allowPrivilegeEscalation", True, _allow_privilege_escalation),
    ("capabilities_baseline", False, _capabilities_baseline),
    ("capabilities_restricted", True, _capabilities_restricted),
    ("hostNamespaces", False, _host_namespaces),
    ("hostPathVolumes", False, _host_path_volumes),
    ("hostPorts", False, _host_ports),
    ("privileged", False, _privileged),
    ("procMount", False, _proc_mount),
    ("restrictedVolumes", True, _restricted_volumes),
    ("runAsNonRoot", True, _run_as_non_root),
    ("runAsUser", True, _run_as_user),
    ("seLinuxOptions", False, _selinux),
    ("seccompProfile_baseline", False, lambda spec: _seccomp(spec, False)),
    ("seccompProfile_restricted", True, lambda spec: _seccomp(spec, True)),
    ("sysctls", False, _sysctls),
]


def evaluate(level: str, spec: dict) -> list[str]:
    """The violations of ``spec`` at ``level``: "reason (detail)" each, in the plugin's order."""
    if level not in ("baseline", "restricted"):
        return []
    found = []
    for check_id, restricted, check in _CHECKS:
        if restricted and level != "restricted":
            continue
        if check_id == "seccompProfile_baseline" and level == "restricted":
            continue  # the restricted check replaces it
        problem = check(spec)
        if problem:
            found.append(problem)
    return found


def _policy(labels: dict, mode: str) -> tuple[str, str] | None:
    level = labels.get(_PREFIX + mode)
    if level not in ("baseline", "restricted"):
        return None
    return level, labels.get(f"{_PREFIX}{mode}-version") or "latest"


def _pod_spec(resource: Resource, obj: dict) -> dict | None:
    spec = obj.get("spec") or {}
    if resource is PODS:
        return spec
    if resource.key == ("batch", "cronjobs"):
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        return (spec.get("template") or {}).get("spec") or {}
    if resource.key in _TEMPLATES:
        return (spec.get("template") or {}).get("spec") or {}
    return None


def admit(
    store: Store, resource: Resource, obj: dict, old: dict | None, name: str,
    warn: Callable[[str], None],
) -> None:  # fmt: skip
    """Refuse a pod that violates the namespace's enforced level; warn for the warn level
    and for workload templates."""
    if resource.key not in _TEMPLATES | {("", "pods"), ("batch", "cronjobs")}:
        return
    if old is not None and (
        resource is PODS or _pod_spec(resource, obj) == _pod_spec(resource, old)
    ):
        return  # a pod's spec is checked when it is created; a template when it changes
    namespace = store.get(NAMESPACES, None, obj["metadata"].get("namespace", ""))
    labels = (namespace or {}).get("metadata", {}).get("labels") or {}
    spec = _pod_spec(resource, obj) or {}
    warned = set()
    enforce = _policy(labels, "enforce")
    if enforce is not None:
        problems = evaluate(enforce[0], spec)
        if problems:
            text = f'PodSecurity "{enforce[0]}:{enforce[1]}": {", ".join(problems)}'
            if resource is PODS:
                raise ApiError.forbidden(resource, name, f"violates {text}")
            warned.add(text)
            warn(f"would violate {text}")
    policy = _policy(labels, "warn")
    if policy is not None:
        problems = evaluate(policy[0], spec)
        text = f'PodSecurity "{policy[0]}:{policy[1]}": {", ".join(problems)}'
        if problems and text not in warned:
            warn(f"would violate {text}")


def namespace_warnings(store: Store, obj: dict, old: dict | None) -> list[str]:
    """Warnings for the existing pods of a namespace whose enforce level was just changed."""
    if old is None:
        return []
    new_policy = _policy(obj["metadata"].get("labels") or {}, "enforce")
    if new_policy is None or new_policy == _policy(old["metadata"].get("labels") or {}, "enforce"):
        return []
    level, version = new_policy
    found = []
    for pod in store.list(PODS, obj["metadata"]["name"])[0]:
        problems = evaluate(level, pod.get("spec") or {})
        if problems:
            reasons = [p.split(" (", 1)[0] for p in problems]
            found.append(f"{pod['metadata']['name']}: {', '.join(reasons)}")
    if not found:
        return []
    return [
        f'existing pods in namespace "{obj["metadata"]["name"]}" violate the new PodSecurity '
        f'enforce level "{level}:{version}"',
        *found,
    ]
