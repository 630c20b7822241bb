"""Test tools for labs: a cluster row pointing at the API stand-in, and clients that do
not sleep between retries (the sleeps they would have taken are recorded instead)."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from courseware.models import Cohort, Enrolment
from labs.kube import Kube, RetryPolicy
from labs.models import Cluster
from simcluster import KubeStandIn
from tests.conftest import make_user


@dataclass
class Sleeps:
    seconds: list[float] = field(default_factory=list)

    def __call__(self, delay: float) -> None:
        self.seconds.append(delay)


def make_cluster(standin: KubeStandIn, name: str = "stand-in") -> Cluster:
    cluster = Cluster(name=name, toolbox_image="bitnami/kubectl:1.34")
    cluster.set_kubeconfig(yaml.safe_dump(standin.kubeconfig()))
    cluster.save()
    return cluster


def kube_for(cluster: Cluster, sleeps: Sleeps | None = None, attempts: int = 5) -> Kube:
    return Kube.for_cluster(cluster, retry=RetryPolicy(attempts=attempts, sleep=sleeps or Sleeps()))


def enrol(cohort: Cohort, *names: str) -> list[Enrolment]:
    return [
        Enrolment.objects.create(
            cohort=cohort, trainee=make_user(name), state=Enrolment.State.ACTIVE
        )
        for name in names
    ]
