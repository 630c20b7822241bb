"""Lab profiles: how much one trainee's namespace may use.

Every container gets requests and limits (from the LimitRange when the trainee gives
none), so the quota can count them; LoadBalancer services are never allowed (each costs a
cloud load balancer), NodePort only where a profile says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Profile:
    name: str
    requests_cpu: str
    requests_memory: str
    limits_cpu: str
    limits_memory: str
    pods: int
    services: int
    node_ports: int
    claims: int
    storage: str
    container_max_cpu: str
    container_max_memory: str
    default_request: dict[str, str] = field(
        default_factory=lambda: {"cpu": "50m", "memory": "64Mi"}
    )
    default_limit: dict[str, str] = field(
        default_factory=lambda: {"cpu": "500m", "memory": "256Mi"}
    )


PROFILES: dict[str, Profile] = {
    "small": Profile(
        name="small", requests_cpu="1", requests_memory="1Gi", limits_cpu="2",
        limits_memory="2Gi", pods=10, services=5, node_ports=0, claims=2, storage="2Gi",
        container_max_cpu="1", container_max_memory="1Gi",
    ),
    "medium": Profile(
        name="medium", requests_cpu="2", requests_memory="2Gi", limits_cpu="4",
        limits_memory="4Gi", pods=20, services=10, node_ports=0, claims=5, storage="5Gi",
        container_max_cpu="2", container_max_memory="2Gi",
    ),
    "large": Profile(
        name="large", requests_cpu="4", requests_memory="4Gi", limits_cpu="8",
        limits_memory="8Gi", pods=40, services=20, node_ports=2, claims=10, storage="10Gi",
        container_max_cpu="2", container_max_memory="4Gi",
    ),
}  # fmt: skip
