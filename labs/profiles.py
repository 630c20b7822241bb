"""Lab profiles: how much one trainee's namespace may use.

Every container gets requests and limits (from the LimitRange when the trainee gives
none), so the quota can count them; LoadBalancer services are never allowed (each costs a
cloud load balancer), NodePort only where a profile says so. Object counts cap what fills
etcd rather than nodes (Secrets and ConfigMaps hold up to 1 MiB each).

Sizing (the reasoning is in docs/labs.md, "Quota and limits"): a container the trainee
leaves unsized gets ``DEFAULT_REQUEST`` and ``DEFAULT_LIMIT``; ``small`` holds the toolbox
and 18 such containers (15 for a day's exercises, one for a 3-replica Deployment's rolling
update surge, two spare), ``medium`` twice that, ``large`` four times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_REQUEST = {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "64Mi"}
DEFAULT_LIMIT = {"cpu": "250m", "memory": "256Mi", "ephemeral-storage": "256Mi"}
# The toolbox pod's own resources (labs.manifests.toolbox_pod), counted in every quota.
TOOLBOX_REQUEST = {"cpu": "50m", "memory": "64Mi", "ephemeral-storage": "128Mi"}
TOOLBOX_LIMIT = {"cpu": "500m", "memory": "256Mi", "ephemeral-storage": "512Mi"}


@dataclass(frozen=True)
class Profile:
    name: str
    requests_cpu: str
    requests_memory: str
    limits_cpu: str
    limits_memory: str
    requests_ephemeral_storage: str
    limits_ephemeral_storage: str
    pods: int
    services: int
    node_ports: int
    claims: int
    storage: str
    secrets: int
    configmaps: int
    deployments: int
    replicasets: int  # a Deployment keeps up to 10 old ReplicaSets for rollbacks
    jobs: int  # a CronJob keeps up to 4 finished Jobs
    cronjobs: int
    container_max_cpu: str
    container_max_memory: str
    default_request: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_REQUEST))
    default_limit: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_LIMIT))


PROFILES: dict[str, Profile] = {
    "small": Profile(
        name="small", requests_cpu="2", requests_memory="2560Mi", limits_cpu="5",
        limits_memory="5Gi", requests_ephemeral_storage="2Gi", limits_ephemeral_storage="6Gi",
        pods=20, services=5, node_ports=0, claims=2, storage="2Gi",
        secrets=20, configmaps=20, deployments=10, replicasets=120, jobs=20, cronjobs=5,
        container_max_cpu="1", container_max_memory="1Gi",
    ),
    "medium": Profile(
        name="medium", requests_cpu="4", requests_memory="5Gi", limits_cpu="10",
        limits_memory="10Gi", requests_ephemeral_storage="4Gi", limits_ephemeral_storage="12Gi",
        pods=40, services=10, node_ports=0, claims=5, storage="5Gi",
        secrets=40, configmaps=40, deployments=20, replicasets=240, jobs=40, cronjobs=10,
        container_max_cpu="2", container_max_memory="2Gi",
    ),
    "large": Profile(
        name="large", requests_cpu="8", requests_memory="10Gi", limits_cpu="20",
        limits_memory="20Gi", requests_ephemeral_storage="8Gi", limits_ephemeral_storage="24Gi",
        pods=80, services=20, node_ports=2, claims=10, storage="10Gi",
        secrets=80, configmaps=80, deployments=40, replicasets=480, jobs=80, cronjobs=20,
        container_max_cpu="2", container_max_memory="4Gi",
    ),
}  # fmt: skip
